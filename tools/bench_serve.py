#!/usr/bin/env python3
"""dqt-serve figures for the README: time to first token, tokens/s per slot, RSS.

    swift build -c release --product dqt-serve
    python3 tools/bench_serve.py MODEL.dqt [--bin .build/release/dqt-serve] [--slots 1 2] [--tokens 64] [--rounds 3]

For each slot count: starts dqt-serve (--threads = online CPUs / slots), warms up, then per round
sends one streamed chat request per slot at the same time (greedy, --tokens tokens, a different
user message per round so the prompt is not served from the slot's KV cache) and reports the
median over rounds of: time to the first streamed token (request sent -> first content chunk),
generation tokens/s of each slot as the slot measured it (its log line; on a loaded machine the
event loop may deliver chunks in bursts, so client-side rates would not be per-token rates),
the client-side rate after the first chunk, idle RSS and RSS after the run.
"""
import argparse
import concurrent.futures
import os
import re
import statistics
import subprocess
import time

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) / 1024 for l in f if l.startswith(("VmRSS", "VmHWM"))}


def stream_once(client, text, tokens):
    t0 = time.perf_counter()
    first = None
    n = 0
    for ch in client.chat.completions.create(model="x", messages=[{"role": "user", "content": text}], max_tokens=tokens,
                                             temperature=0, stream=True, stream_options={"include_usage": True}):
        if ch.choices and ch.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
        if ch.usage:
            n = ch.usage.completion_tokens
    end = time.perf_counter()
    if first is None:
        raise SystemExit(f"bench_serve: the answer had no content ({n} completion tokens): the model ended its "
                         "turn at once (a model without a matching chat template or stop token?); nothing to time")
    return first - t0, (n - 1) / (end - first) if n > 1 and end > first else float("nan"), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "dqt-serve"))
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--extra", default="", help="more dqt-serve arguments")
    a = ap.parse_args()
    cpus = os.cpu_count()
    for slots in a.slots:
        threads = max(1, cpus // slots)
        p = subprocess.Popen([a.bin, a.model, "--port", "0", "--slots", str(slots), "--threads", str(threads), *a.extra.split()],
                             stderr=subprocess.PIPE, text=True)
        log = []
        try:
            port = None
            while port is None:
                line = p.stderr.readline()
                if not line:
                    raise SystemExit("dqt-serve did not start: " + "".join(log))
                log.append(line)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                port = int(m.group(1)) if m else None
            import threading
            threading.Thread(target=lambda: [log.append(l) for l in p.stderr], daemon=True).start()
            c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=600)
            idle = rss(p.pid)
            stream_once(c, "Warm up.", 4)
            ttft, rates, counts = [], [], []
            for r in range(a.rounds):
                with concurrent.futures.ThreadPoolExecutor(slots) as ex:
                    res = list(ex.map(lambda i: stream_once(c, f"Round {r}, client {i}: who art thou, and whence comest thou?", a.tokens), range(slots)))
                ttft += [x[0] for x in res]
                rates += [x[1] for x in res if x[2] > 1]
                counts += [x[2] for x in res]
            after = rss(p.pid)
            time.sleep(0.5)
            server = [float(m.group(1)) for l in log for m in [re.search(r"tokens at ([\d.]+) tok/s", l)] if m][-len(ttft):]
            print(f"slots {slots} (threads/slot {threads}): first token {statistics.median(ttft) * 1000:.0f} ms (median of {len(ttft)}), "
                  f"{statistics.median(server):.1f} tok/s per slot (server-measured median; client-side {statistics.median(rates):.1f}; "
                  f"{min(counts)}-{max(counts)} tokens per answer), idle RSS {idle['VmRSS']:.1f} MiB, "
                  f"RSS after {after['VmRSS']:.1f} MiB (peak {after['VmHWM']:.1f})")
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
