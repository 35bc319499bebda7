#!/usr/bin/env python3
"""dqt-serve figures for the README: time to first token, tokens/s per slot, RSS.

    swift build -c release --product dqt-serve
    python3 tools/bench_serve.py MODEL.dqt [--bin .build/release/dqt-serve] [--slots 1 2] [--tokens 64] [--rounds 3]

For each slot count: starts dqt-serve (--threads = online CPUs / slots), warms up, then per round
sends one streamed chat request per slot at the same time (greedy, --tokens tokens, a different
user message per round so the prompt is not served from the slot's KV cache) and reports the
median over rounds of: time to the first streamed token (request sent -> first content chunk),
generation tokens/s of each stream (after its first token), idle RSS and RSS after the run.
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
        p = subprocess.Popen([a.bin, a.model, "--port", "0", "--slots", str(slots), "--threads", str(threads), "--quiet", *a.extra.split()],
                             stderr=subprocess.PIPE, text=True)
        try:
            port = None
            # --quiet silences the log; find the port from /proc instead.
            deadline = time.time() + 60
            while port is None and time.time() < deadline:
                time.sleep(0.2)
                out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    if f"pid={p.pid}," in line:
                        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
            c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=600)
            idle = rss(p.pid)
            stream_once(c, "Warm up.", 4)
            ttft, rates = [], []
            for r in range(a.rounds):
                with concurrent.futures.ThreadPoolExecutor(slots) as ex:
                    res = list(ex.map(lambda i: stream_once(c, f"Round {r}, client {i}: who art thou, and whence comest thou?", a.tokens), range(slots)))
                ttft += [x[0] for x in res]
                rates += [x[1] for x in res if x[2] > 1]
            after = rss(p.pid)
            print(f"slots {slots} (threads/slot {threads}): first token {statistics.median(ttft) * 1000:.0f} ms (median of {len(ttft)}), "
                  f"{statistics.median(rates):.1f} tok/s per slot (median), idle RSS {idle['VmRSS']:.1f} MiB, "
                  f"RSS after {after['VmRSS']:.1f} MiB (peak {after['VmHWM']:.1f})")
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
