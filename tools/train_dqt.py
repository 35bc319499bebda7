#!/usr/bin/env python3
"""Train a dqt-family model (DQT integer codes, or the BitNet b1.58 latent-weight baseline).

Single process:
    python tools/train_dqt.py --train-file train.txt --heldout-file heldout.txt --out runs/x \
        --mode dqt --bits 1.58 --rounding stochastic --hidden 256 --layers 6 ...
Data parallel (gloo on CPU, nccl on GPU), unchanged:
    torchrun --nproc_per_node=2 tools/train_dqt.py ...same flags...

Outputs in --out:
    tokenizer.json   byte-level BPE (trained on the training text unless --tokenizer is given)
    log.jsonl        one JSON object per log/eval event (step, tokens, lr, loss, eval_loss, eval_ppl, ...)
    state.pt         resumable training state (model codes/scales/float params, optimizer, step,
                     tokens, elapsed time); a rerun with the same --out resumes from it
    hf/              Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json)
                     written at every checkpoint and at the end

Distributed details: every rank samples its own batch windows (seed, step, rank); gradients are
all-reduced (averaged) in one flat buffer BEFORE the update; the DQT stochastic-rounding stream is
seeded identically on every rank, so replicas stay bit-identical (checked with --check-replicas,
which compares a hash of all weights across ranks at every evaluation). torch's DDP wrapper is
not used because it only reduces registered Parameters, while a DQT linear's gradient lives on
the effective weight rebuilt from the int8 codes in each forward.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe_tokenizer import EOT, eot_id, train_bpe  # noqa: E402
from dqt_optim import BitNetOptimizer, DQTOptimizer  # noqa: E402
from dqt_torch import DQTConfig, DQTForCausalLM, save_hf  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = ap.add_argument_group("data")
    d.add_argument("--train-file", help="training text (documents separated by <|endoftext|> lines)")
    d.add_argument("--heldout-file", help="held-out text; without it the last --heldout-frac of --train-file")
    d.add_argument("--heldout-frac", type=float, default=0.05)
    d.add_argument("--tokenizer", help="existing tokenizer.json (else trained on the training text)")
    d.add_argument("--vocab-size", type=int, default=4096)
    d.add_argument("--data-order", choices=["random", "sequential"], default="random",
                   help="random: every window at a random offset (seeded by seed, step, rank); sequential: "
                        "dqt-tune's order (formats/dqt-tune.md §5): the windows of a step start at the data "
                        "position, which advances by --seq per window; a window that would run past the end "
                        "starts over at token 0")
    m = ap.add_argument_group("model")
    m.add_argument("--mode", choices=["dqt", "bitnet"], default="dqt")
    m.add_argument("--bits", default="1.58", help="1.58 (ternary) or integer bits 2..8 (dqt mode)")
    m.add_argument("--hidden", type=int, default=256)
    m.add_argument("--layers", type=int, default=6)
    m.add_argument("--heads", type=int, default=8)
    m.add_argument("--kv-heads", type=int, default=None, help="default = --heads")
    m.add_argument("--ffn", type=int, default=None, help="default = round(8/3*hidden) to a multiple of 16")
    m.add_argument("--act", choices=["silu", "relu2"], default="silu")
    m.add_argument("--tie", action=argparse.BooleanOptionalAction, default=True, help="tie head to embedding")
    m.add_argument("--no-sub-norms", action="store_true")
    m.add_argument("--rope-theta", type=float, default=10000.0)
    m.add_argument("--max-pos", type=int, default=None, help="max_position_embeddings (default: --seq)")
    m.add_argument("--init-std", type=float, default=0.02)
    o = ap.add_argument_group("optimization")
    o.add_argument("--optimizer", choices=["adamw", "sgd", "momentum"], default="adamw")
    o.add_argument("--rounding", choices=["stochastic", "nearest"], default="stochastic")
    o.add_argument("--lr", type=float, default=3e-3)
    o.add_argument("--float-lr", type=float, default=None, help="LR of the float params (default --lr)")
    o.add_argument("--min-lr-ratio", type=float, default=0.1)
    o.add_argument("--warmup", type=int, default=100)
    o.add_argument("--steps", type=int, default=1000, help="total steps of the cosine schedule")
    o.add_argument("--stop-at", type=int, default=None, help="stop (checkpoint) at this step (schedule unchanged)")
    o.add_argument("--batch", type=int, default=8, help="sequences per rank per step")
    o.add_argument("--seq", type=int, default=256)
    o.add_argument("--weight-decay", type=float, default=0.0)
    o.add_argument("--momentum", type=float, default=0.9)
    o.add_argument("--grad-clip", type=float, default=1.0, help="global grad-norm clip (0 = off)")
    r = ap.add_argument_group("run")
    r.add_argument("--out", required=True)
    r.add_argument("--export-dir", help="HF checkpoint directory (default OUT/hf)")
    r.add_argument("--export-init", metavar="DIR",
                   help="also write the initial model (step 0, before any update) as an HF checkpoint to DIR")
    r.add_argument("--seed", type=int, default=1234)
    r.add_argument("--threads", type=int, default=None, help="torch.set_num_threads per rank")
    r.add_argument("--log-every", type=int, default=10)
    r.add_argument("--eval-every", type=int, default=200)
    r.add_argument("--eval-tokens", type=int, default=0, help="max held-out tokens per eval (0 = all)")
    r.add_argument("--ckpt-every", type=int, default=200)
    r.add_argument("--max-minutes", type=float, default=0,
                   help="stop (checkpoint) after this much training time in this invocation")
    r.add_argument("--time-budget-minutes", type=float, default=0,
                   help="total training-time budget across resumes: the cosine schedule runs on "
                        "max(step/steps, elapsed/budget) and training ends when either reaches 1")
    r.add_argument("--check-replicas", action="store_true", help="verify bit-identical replicas at every eval")
    r.add_argument("--no-resume", action="store_true")
    r.add_argument("--debug-desync-sr", action="store_true",
                   help="negative control: seed the SR stream with the rank (replicas must then diverge)")
    return ap.parse_args(argv)


# MARK: - distributed helpers


class Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device("cpu")
        if self.world > 1:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            dist.init_process_group(backend=backend)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda")

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def allreduce_mean(self, tensors: list[torch.Tensor]):
        """Average gradients over ranks in one flat buffer (same order on every rank)."""
        if self.world == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        off = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[off:off + n].view_as(t))
            off += n

    def allreduce_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def gather_str(self, s: str) -> list[str]:
        if self.world == 1:
            return [s]
        out = [None] * self.world
        dist.all_gather_object(out, s)
        return out


def proc_status_mib(key: str = "VmHWM") -> float:
    """A memory field of /proc/self/status (VmHWM: peak resident set size, VmRSS: current), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return proc_status_mib("VmHWM")


def reset_peak_rss() -> bool:
    """Restarts the VmHWM count at the current RSS (Linux ≥ 4.0: write 5 to /proc/self/clear_refs), so
    the peak reported at the end is the training loop's alone, not the tokenizer's (which encodes the
    whole corpus at start-up). Returns False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def model_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# MARK: - data


def load_texts(args):
    with open(args.train_file, encoding="utf-8") as f:
        train = f.read()
    if args.heldout_file:
        with open(args.heldout_file, encoding="utf-8") as f:
            held = f.read()
    else:
        cut = int(len(train) * (1 - args.heldout_frac))
        train, held = train[:cut], train[cut:]
    return train, held


def split_docs(text: str) -> list[str]:
    return [d.strip("\n") for d in text.split(EOT) if d.strip()]


def encode_stream(tok, text: str, eot: int) -> torch.Tensor:
    """Documents -> one int32 stream: EOT doc EOT doc ... (EOT acts as bos and eos)."""
    ids = [eot]
    for enc in tok.encode_batch(split_docs(text)):
        ids.extend(enc.ids)
        ids.append(eot)
    return torch.tensor(ids, dtype=torch.int32)


def get_batch(stream: torch.Tensor, batch: int, seq: int, seed: int, step: int, rank: int):
    g = torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + rank * 104_729) % (2 ** 63))
    starts = torch.randint(0, len(stream) - seq - 1, (batch,), generator=g)
    x = torch.stack([stream[s:s + seq] for s in starts.tolist()]).long()
    y = torch.stack([stream[s + 1:s + seq + 1] for s in starts.tolist()]).long()
    return x, y


def get_batch_sequential(stream: torch.Tensor, position: int, batch: int, seq: int, rank: int, world: int):
    """dqt-tune's windows (formats/dqt-tune.md §5): the step's batch*world windows start at
    `position`, each advancing it by seq; a window that would run past the end starts over at
    token 0. Rank r takes windows r*batch ..< (r+1)*batch. Returns x, y and the next position."""
    starts, pos = [], position
    for _ in range(batch * world):
        if pos + seq + 1 > len(stream):
            pos = 0
        starts.append(pos)
        pos += seq
    mine = starts[rank * batch:(rank + 1) * batch]
    x = torch.stack([stream[s:s + seq] for s in mine]).long()
    y = torch.stack([stream[s + 1:s + seq + 1] for s in mine]).long()
    return x, y, pos


@torch.no_grad()
def evaluate(model, stream: torch.Tensor, seq: int, batch: int, dd: Dist, max_tokens: int = 0):
    """Mean next-token loss over non-overlapping held-out windows (split across ranks)."""
    model.eval()
    n_win = (len(stream) - 1) // seq
    if max_tokens:
        n_win = min(n_win, max(1, max_tokens // seq))
    wins = list(range(dd.rank, n_win, dd.world))
    tot, cnt = 0.0, 0
    for i in range(0, len(wins), batch):
        idx = wins[i:i + batch]
        x = torch.stack([stream[w * seq:w * seq + seq] for w in idx]).long().to(dd.device)
        y = torch.stack([stream[w * seq + 1:w * seq + seq + 1] for w in idx]).long().to(dd.device)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
        tot += float(loss)
        cnt += y.numel()
    tot, cnt = dd.allreduce_sum([tot, float(cnt)])
    model.train()
    return tot / cnt, cnt


def lr_at(step: int, args, elapsed: float = 0.0) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    if args.time_budget_minutes:
        p = max(p, min(1.0, elapsed / (60 * args.time_budget_minutes)))
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


# MARK: - main


def build_config(args, vocab: int, eot: int) -> DQTConfig:
    ffn = args.ffn or int(round(8 / 3 * args.hidden / 16) * 16)
    return DQTConfig(
        vocab_size=vocab, hidden_size=args.hidden, intermediate_size=ffn, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, num_key_value_heads=args.kv_heads or args.heads,
        max_position_embeddings=args.max_pos or args.seq, rope_theta=args.rope_theta, hidden_act=args.act,
        tie_word_embeddings=args.tie, sub_norms=not args.no_sub_norms, bos_token_id=eot, eos_token_id=eot,
        weight_mode=args.mode, bits=args.bits if args.mode == "dqt" else "1.58",
    )


def main(argv=None):
    args = parse_args(argv)
    dd = Dist()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    export_dir = args.export_dir or os.path.join(args.out, "hf")
    log_path = os.path.join(args.out, "log.jsonl")
    state_path = os.path.join(args.out, "state.pt")

    def log(rec):
        if dd.main:
            rec = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in rec.items()}
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)

    # tokenizer: given, or reuse OUT/tokenizer.json (resume), or train on rank 0
    from tokenizers import Tokenizer
    tok_path = os.path.join(args.out, "tokenizer.json")
    train_text, held_text = load_texts(args)
    if args.tokenizer:
        tok_path = args.tokenizer
    elif not os.path.exists(tok_path):
        if dd.main:
            t0 = time.time()
            tk = train_bpe(split_docs(train_text), args.vocab_size)
            tk.save(tok_path)
            print(f"trained tokenizer vocab={tk.get_vocab_size()} in {time.time() - t0:.1f}s", flush=True)
        dd.barrier()
    tok = Tokenizer.from_file(tok_path)
    eot = eot_id(tok)
    train_ids = encode_stream(tok, train_text, eot)
    held_ids = encode_stream(tok, held_text, eot)

    cfg = build_config(args, tok.get_vocab_size(), eot)
    model = DQTForCausalLM(cfg).init_weights(seed=args.seed, std=args.init_std).to(dd.device)
    n_params = sum(p.numel() for p in model.parameters()) + sum(
        m.codes.numel() for _, m in model.qlinears() if m.mode == "dqt")
    opt_kw = dict(kind=args.optimizer, weight_decay=args.weight_decay, momentum=args.momentum)
    if args.mode == "dqt":
        sr_seed = args.seed + 17 + (dd.rank if args.debug_desync_sr else 0)
        opt = DQTOptimizer(model, rounding=args.rounding, seed=sr_seed, device=dd.device, **opt_kw)
    else:
        opt = BitNetOptimizer(model, **opt_kw)

    step, tokens_seen, elapsed_prev, data_pos, train_s = 0, 0, 0.0, 0, 0.0
    if os.path.exists(state_path) and not args.no_resume:
        st = torch.load(state_path, map_location=dd.device, weights_only=False)
        if st["config"] != cfg.to_dict():
            raise SystemExit(f"{state_path}: model config differs from the flags; use another --out or --no-resume")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, tokens_seen, elapsed_prev = st["step"], st["tokens_seen"], st["elapsed"]
        data_pos, train_s = st.get("data_position", 0), st.get("train_seconds", 0.0)
        log({"event": "resume", "step": step, "tokens": tokens_seen, "elapsed_s": elapsed_prev})
    else:
        log({"event": "start", "config": cfg.to_dict(), "params": n_params, "world": dd.world,
             "train_tokens": len(train_ids), "heldout_tokens": len(held_ids),
             "args": {k: v for k, v in vars(args).items()}})
        if args.export_init and dd.main:
            save_hf(model, args.export_init, tok_path, {"step": 0, "tokens_seen": 0})
            log({"event": "export_init", "dir": args.export_init})

    def checkpoint():
        if dd.main:
            tmp = state_path + ".tmp"
            torch.save({"step": step, "tokens_seen": tokens_seen, "elapsed": elapsed_prev + time.time() - t_start,
                        "data_position": data_pos, "train_seconds": train_s,
                        "config": cfg.to_dict(), "model": model.state_dict(), "opt": opt.state_dict(),
                        "args": vars(args)}, tmp)
            os.replace(tmp, state_path)
            save_hf(model, export_dir, tok_path, {"step": step, "tokens_seen": tokens_seen})
        dd.barrier()

    def do_eval():
        loss, n = evaluate(model, held_ids, args.seq, args.batch, dd, args.eval_tokens)
        rec = {"event": "eval", "step": step, "tokens": tokens_seen, "eval_loss": loss,
               "eval_ppl": math.exp(min(loss, 50)), "eval_tokens": int(n),
               "elapsed_s": elapsed_prev + time.time() - t_start}
        if args.check_replicas:
            hashes = dd.gather_str(model_hash(model))
            rec["replica_hashes"] = hashes
            rec["replicas_identical"] = len(set(hashes)) == 1
            if not rec["replicas_identical"]:
                log(rec)
                raise SystemExit("replicas diverged")
        log(rec)

    # Memory: the setup's peak (tokenizer, corpus encoding), then count the training loop's alone.
    setup_peak_mib, setup_rss_mib = peak_rss_mib(), proc_status_mib("VmRSS")
    peak_was_reset = reset_peak_rss()
    log({"event": "memory_setup", "setup_peak_rss_mib": setup_peak_mib, "rss_before_training_mib": setup_rss_mib,
         "peak_reset": peak_was_reset})
    model.train()
    t_start = time.time()
    t_log, tok_log = time.time(), 0
    stop_at = min(args.stop_at or args.steps, args.steps)
    loss_acc, n_acc = 0.0, 0
    def elapsed_total():
        e = elapsed_prev + time.time() - t_start
        return dd.allreduce_sum([e])[0] / dd.world if args.time_budget_minutes else e  # same on all ranks

    while step < stop_at:
        el = elapsed_total()
        if args.time_budget_minutes and el >= 60 * args.time_budget_minutes:
            log({"event": "time_budget_reached", "step": step, "elapsed_s": el})
            checkpoint()
            break
        lr = lr_at(step, args, el)
        t_step = time.time()
        if args.data_order == "sequential":
            x, y, data_pos = get_batch_sequential(train_ids, data_pos, args.batch, args.seq, dd.rank, dd.world)
        else:
            x, y = get_batch(train_ids, args.batch, args.seq, args.seed, step, dd.rank)
        x, y = x.to(dd.device), y.to(dd.device)
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        grads = opt.grads()
        dd.allreduce_mean(grads)  # every replica now holds the same mean gradient
        if args.grad_clip > 0:
            torch.nn.utils.clip_grads_with_norm_(grads, args.grad_clip,
                                                 torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
        opt.step(lr, None if args.float_lr is None else lr * args.float_lr / args.lr)
        train_s += time.time() - t_step
        step += 1
        tokens_seen += args.batch * args.seq * dd.world
        tok_log += args.batch * args.seq * dd.world
        loss_acc += loss.item()
        n_acc += 1
        if step % args.log_every == 0 or step == stop_at:
            now = time.time()
            mean_loss = dd.allreduce_sum([loss_acc / n_acc])[0] / dd.world
            log({"event": "train", "step": step, "tokens": tokens_seen, "lr": lr, "loss": mean_loss,
                 "flip_frac": opt.last_flip_fraction, "tok_per_s": tok_log / (now - t_log),
                 "elapsed_s": elapsed_prev + now - t_start})
            t_log, tok_log, loss_acc, n_acc = now, 0, 0.0, 0
        if step % args.eval_every == 0 or step == stop_at:
            do_eval()
        if step % args.ckpt_every == 0 or step == stop_at:
            checkpoint()
        if args.max_minutes and (time.time() - t_start) / 60 >= args.max_minutes:
            checkpoint()
            log({"event": "time_limit", "step": step})
            break
    if step >= args.steps or (args.time_budget_minutes and elapsed_total() >= 60 * args.time_budget_minutes):
        log({"event": "done", "step": step, "tokens": tokens_seen, "elapsed_s": elapsed_prev + time.time() - t_start,
             "train_s": train_s, "train_tok_per_s": tokens_seen / max(train_s, 1e-9),
             "peak_rss_mib": peak_rss_mib(), "peak_rss_is_training_only": peak_was_reset})
    if dd.world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
