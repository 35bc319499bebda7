#!/usr/bin/env python3
"""Tables of tools/repro_dqt.sh's results (markdown on stdout, JSON in OUT/results.json).

    python tools/repro_table.py OUT

Reads only what the script wrote: train_dqt.py logs (OUT/runs/*/log.jsonl), /usr/bin/time -v
reports (time*.txt: "Maximum resident set size"), dqt-tune's --log and dqt-run's perplexity
lines (OUT/tune), the conversions' evaluations (OUT/convert).
"""

import glob
import json
import math
import os
import re
import sys

RUNS = [("bitnet", "BitNet b1.58 (STE, latent fp32 weights)"),
        ("dqt158", "DQT ternary, stochastic rounding"),
        ("dqt8", "DQT 8-bit, stochastic rounding"),
        ("dqt158-nearest", "DQT ternary, round-to-nearest (ablation)")]


def jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def max_rss_mib(path):
    """Maximum resident set size of a /usr/bin/time -v report, MiB."""
    if not os.path.exists(path):
        return None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m[1]) / 1024 if m else None


def dqt_run_loss(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"(\d+) tokens scored in (\d+) windows of (\d+): loss ([0-9.]+) nats/token, perplexity ([0-9.]+)",
                  open(path).read())
    return {"tokens": int(m[1]), "loss": float(m[4]), "ppl": float(m[5])} if m else None


def last(recs, event):
    r = [x for x in recs if x.get("event") == event]
    return r[-1] if r else None


def train_loss_tail(recs, steps=10):
    """Mean training loss of the last `steps` steps (train_dqt.py's last record is exactly that)."""
    tr = [x for x in recs if x.get("event") == "train"]
    if not tr:
        return None
    end = tr[-1]["step"]
    per_step = all(b["step"] - a["step"] == 1 for a, b in zip(tr, tr[1:]))
    if per_step:
        tail = [x["loss"] for x in tr if x["step"] > end - steps]
        return sum(tail) / len(tail)
    return tr[-1]["loss"]


def fmt(v, nd=3):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def main():
    out = sys.argv[1]
    res = {"runs": {}, "tune": {}, "convert": {}, "sweep": {}}
    lines = []
    P = lines.append

    P("### Training runs (same init seed, same tokens in the same order, same LR schedule)\n")
    P("| run | steps | tokens | train loss (last 10 steps) | held-out loss | held-out ppl | peak RSS (MiB) | tokens/s | wall (s) |")
    P("|---|---|---|---|---|---|---|---|---|")
    for name, desc in RUNS:
        d = os.path.join(out, "runs", name)
        recs = jsonl(os.path.join(d, "log.jsonl"))
        done, ev = last(recs, "done"), last(recs, "eval")
        if not recs:
            continue
        r = {"desc": desc, "steps": done and done["step"], "tokens": done and done["tokens"],
             "train_loss": train_loss_tail(recs), "eval_loss": ev and ev["eval_loss"], "eval_ppl": ev and ev["eval_ppl"],
             "eval_tokens": ev and ev["eval_tokens"], "peak_rss_mib": max_rss_mib(os.path.join(d, "time.txt")),
             "vmhwm_mib": done and done.get("peak_rss_mib"), "tok_per_s": done and done.get("train_tok_per_s"),
             "wall_s": done and done["elapsed_s"]}
        res["runs"][name] = r
        P(f"| {desc} (`{name}`) | {fmt(r['steps'])} | {fmt(r['tokens'])} | {fmt(r['train_loss'])} | {fmt(r['eval_loss'])} | "
          f"{fmt(r['eval_ppl'], 1)} | {fmt(r['peak_rss_mib'], 0)} | {fmt(r['tok_per_s'], 0)} | {fmt(r['wall_s'], 0)} |")

    # control: the same four runs with embeddings and norms frozen
    crows = []
    for name, desc in RUNS:
        recs = jsonl(os.path.join(out, "runs", "frozen-" + name, "log.jsonl"))
        if not recs:
            continue
        done, ev = last(recs, "done"), last(recs, "eval")
        flips = [x.get("flip_frac") for x in recs if x.get("event") == "train" and x.get("flip_frac") is not None]
        crows.append((name, desc, {"steps": done and done["step"], "train_loss": train_loss_tail(recs),
                                   "eval_loss": ev and ev["eval_loss"], "eval_ppl": ev and ev["eval_ppl"],
                                   "mean_flip_frac": sum(flips) / len(flips) if flips else None}))
    if crows:
        res["control"] = {n: r for n, _, r in crows}
    # printed after the main table (below)

    # dqt-tune
    td = os.path.join(out, "tune")
    trecs = jsonl(os.path.join(td, "log.jsonl"))
    evals = jsonl(os.path.join(td, "eval.jsonl"))
    if trecs:
        dones = [x for x in trecs if x.get("event") == "done"]
        train_s = sum(x["train_s"] for x in dones)
        tr = [x for x in trecs if x.get("event") == "train"]
        tune_rss = [max_rss_mib(p) for p in glob.glob(os.path.join(td, "time-tune-*.txt"))]
        eval_rss = [max_rss_mib(p) for p in glob.glob(os.path.join(td, "time-eval-*.txt"))]
        t = {"steps": tr[-1]["step"], "tokens": tr[-1]["tokens"], "train_loss": train_loss_tail(trecs),
             "eval_loss": evals[-1]["eval_loss"] if evals else None, "eval_ppl": evals[-1]["eval_ppl"] if evals else None,
             "peak_rss_mib": max(x for x in tune_rss if x) if tune_rss else None,
             "dqt_run_eval_peak_rss_mib": max(x for x in eval_rss if x) if eval_rss else None,
             "train_s": train_s, "wall_s": sum(x["elapsed_s"] for x in dones), "segments": len(dones)}
        # tokens/s: the tokens every invocation trained (its train_tok_per_s · train_s) over their training time
        trained = sum(x["train_tok_per_s"] * x["train_s"] for x in dones)
        t["tok_per_s"] = trained / train_s if train_s else None
        same = os.path.join(td, "same_tokens.json")
        if os.path.exists(same):
            t["same_tokens_as_pytorch"] = json.load(open(same)).get("same_tokens_as_dqt_tune")
        res["tune"] = t
        P(f"| DQT ternary with **dqt-tune** (Swift, in place in the .dqt file; `tune`) | {fmt(t['steps'])} | "
          f"{fmt(t['tokens'])} | {fmt(t['train_loss'])} | {fmt(t['eval_loss'])} | {fmt(t['eval_ppl'], 1)} | "
          f"{fmt(t['peak_rss_mib'], 0)} | {fmt(t['tok_per_s'], 0)} | {fmt(t['wall_s'], 0)} |")
    P("")
    P("Held-out loss: mean next-token cross-entropy (nats) over all "
      f"{fmt(next((r['eval_tokens'] for r in res['runs'].values() if r.get('eval_tokens')), None))} predicted tokens of "
      "the held-out plays, non-overlapping windows of 256; PyTorch runs: the trainer's own evaluation (float32 "
      "training path); dqt-tune: `dqt-run --perplexity` on the tuned file. Peak RSS: `/usr/bin/time -v`; for dqt-tune "
      "the largest of its segments. tokens/s: training time only (no evaluation), 1 thread, nice 19, on a shared "
      "2-core machine.\n")

    if crows:
        P("### Control: embeddings and norms frozen (`--float-lr 0`), only the linear weights learn\n")
        P("| run | steps | train loss (last 10 steps) | held-out loss | held-out ppl | mean fraction of linear weights changed per step |")
        P("|---|---|---|---|---|---|")
        for name, desc, r in crows:
            P(f"| {desc} (`frozen-{name}`) | {fmt(r['steps'])} | {fmt(r['train_loss'])} | {fmt(r['eval_loss'])} | "
              f"{fmt(r['eval_ppl'], 1)} | {fmt(r['mean_flip_frac'], 5)} |")
        P("")

    # PyTorch vs dqt-tune at the same steps
    py = jsonl(os.path.join(out, "runs", "dqt158", "log.jsonl"))
    if trecs and py:
        P("### PyTorch vs dqt-tune, DQT ternary from the same step-0 weights\n")
        P("| step | tokens | train loss PyTorch (10-step mean) | train loss dqt-tune (10-step mean) | held-out PyTorch | held-out dqt-tune (dqt-run) |")
        P("|---|---|---|---|---|---|")
        ptrain = {x["step"]: x["loss"] for x in py if x.get("event") == "train"}
        peval = {x["step"]: x["eval_loss"] for x in py if x.get("event") == "eval"}
        tstep = {x["step"]: x["loss"] for x in trecs if x.get("event") == "train"}
        tev = {x["step"]: x["eval_loss"] for x in evals}
        rows = []
        for s in sorted(set(peval) | set(tev)):
            tmean = [tstep[k] for k in range(s - 9, s + 1) if k in tstep]
            tm = sum(tmean) / len(tmean) if len(tmean) == 10 else None
            rows.append({"step": s, "tokens": s * 2048, "train_pytorch": ptrain.get(s), "train_dqt_tune": tm,
                         "eval_pytorch": peval.get(s), "eval_dqt_tune": tev.get(s)})
            P(f"| {s} | {s * 2048} | {fmt(ptrain.get(s))} | {fmt(tm)} | {fmt(peval.get(s))} | {fmt(tev.get(s))} |")
        res["tune"]["curve"] = rows
        # step-by-step agreement of the training loss over the whole run
        pbins = {s: ptrain[s] for s in ptrain}
        diffs = []
        for s in pbins:
            ks = [tstep.get(k) for k in range(s - 9, s + 1)]
            if all(k is not None for k in ks):
                diffs.append(sum(ks) / 10 - pbins[s])
        if diffs:
            mean_d = sum(diffs) / len(diffs)
            sd = math.sqrt(sum((d - mean_d) ** 2 for d in diffs) / max(1, len(diffs) - 1))
            res["tune"]["train_loss_diff"] = {"bins": len(diffs), "mean": mean_d, "sd": sd,
                                              "max_abs": max(abs(d) for d in diffs)}
            P(f"\nTraining loss, dqt-tune minus PyTorch over {len(diffs)} ten-step bins: mean {mean_d:+.4f}, "
              f"sd {sd:.4f}, max |Δ| {max(abs(d) for d in diffs):.4f} nats.")
        if "same_tokens_as_pytorch" in res["tune"]:
            P(f"Same token ids as the PyTorch trainer (dqt-tune's data hash vs tools/stream_text.py): "
              f"{res['tune']['same_tokens_as_pytorch']}.")
        P("")

    # conversions
    cd = os.path.join(out, "convert")
    if os.path.isdir(cd):
        P("### The 8-bit DQT model run with ternary weights (dqt-convert --weights ternary)\n")
        P("| model | weights in the .dqt | dqt-run held-out loss | ppl | PyTorch `eval_dqt.py --exact` loss | ppl | trainer eval (float32 path) |")
        P("|---|---|---|---|---|---|---|")
        for key, label, run, enc in [("dqt8-int8", "DQT 8-bit", "dqt8", "i8 (plain conversion)"),
                                     ("dqt8-ternary", "DQT 8-bit", None, "t2 (`--weights ternary`: absmean ternarization)"),
                                     ("dqt158", "DQT ternary", "dqt158", "t2"),
                                     ("bitnet", "BitNet b1.58", "bitnet", "t2")]:
            dr = dqt_run_loss(os.path.join(cd, f"dqt-run-{key}.txt"))
            ex = None
            if run and os.path.exists(os.path.join(cd, f"torch-exact-{run}.json")):
                ex = json.load(open(os.path.join(cd, f"torch-exact-{run}.json")))
            tr = res["runs"].get(run, {}).get("eval_loss") if run else None
            res["convert"][key] = {"dqt_run": dr, "torch_exact": ex and {"loss": ex["loss"], "ppl": ex["ppl"]},
                                   "trainer_eval": tr}
            P(f"| {label} | {enc} | {fmt(dr and dr['loss'], 4)} | {fmt(dr and dr['ppl'], 2)} | "
              f"{fmt(ex and ex['loss'], 4)} | {fmt(ex and ex['ppl'], 2)} | {fmt(tr, 4)} |")
        P("")

    # sweep
    sw = sorted(glob.glob(os.path.join(out, "runs", "sweep-*", "log.jsonl")))
    if sw:
        P("### Learning-rate sweep (300 steps = 614,400 tokens, warmup 20, cosine to 0.1·lr)\n")
        P("| run | lr | train loss (last 10 steps) | held-out loss |")
        P("|---|---|---|---|")
        for p in sw:
            recs = jsonl(p)
            name = os.path.basename(os.path.dirname(p))
            m = re.fullmatch(r"sweep-(.+?)-([0-9.]+(?:e-?[0-9]+)?)", name)
            mode, lr = (m[1], m[2]) if m else (name, "?")
            ev = last(recs, "eval")
            res["sweep"][name] = {"mode": mode, "lr": float(lr), "train_loss": train_loss_tail(recs),
                                  "eval_loss": ev and ev["eval_loss"]}
            P(f"| {mode} | {lr} | {fmt(train_loss_tail(recs))} | {fmt(ev and ev['eval_loss'])} |")
        P("")
    print("\n".join(lines))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
