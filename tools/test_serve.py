#!/usr/bin/env python3
"""dqt-serve against the official `openai` Python client, on loopback (run by tools/test.sh).

    python3 tools/test_serve.py [--bin .build/debug/dqt-serve] [--model formats/samples/shakespeare-chat.dqt]

Starts its own servers on free ports, checks: chat and completions, streamed text == the non-streamed
greedy answer, stop strings, usage counts, malformed JSON / wrong types / negative max_tokens /
n=2 / a 10 MB body -> 4xx in OpenAI's error shape, the API key, 16 concurrent clients, 503 when the
queue is full, a client disconnecting mid-stream (generation stops), and RSS flat over a few
hundred requests. Every server it starts is killed at exit, also on failure. Prints
'N passed, 0 failed' at the end; exits non-zero on the first failure.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import http.client

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVERS = []
PASSED = 0


class Server:
    def __init__(self, binary, model, *extra):
        self.log_lines = []
        self.proc = subprocess.Popen([binary, model, "--port", "0", *extra], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        SERVERS.append(self)
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log_lines.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise SystemExit("dqt-serve did not start:\n" + "".join(self.log_lines))
        threading.Thread(target=self._drain, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def _drain(self):
        for line in self.proc.stderr:
            self.log_lines.append(line)

    def client(self, key="none"):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0, timeout=120)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check(name, cond, detail=""):
    global PASSED
    if not cond:
        raise SystemExit(f"FAIL {name}: {detail}")
    PASSED += 1
    print(f"ok   {name}")


def expect_status(name, fn, status):
    try:
        fn()
    except openai.APIStatusError as e:
        body = e.response.json()
        ok = e.status_code == status and isinstance(body.get("error", {}).get("message"), str)
        check(name, ok, f"status {e.status_code}, body {body}")
        return
    check(name, False, "no error raised")


class Raw:
    """A plain HTTP/1.1 exchange (http.client): status, JSON body."""
    def __init__(self, server, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request(method, path, body=body, headers={"content-type": "application/json"} if body is not None else {})
        r = conn.getresponse()
        self.status_code = r.status
        self.text = r.read().decode("utf-8", "replace")
        conn.close()

    def json(self):
        return json.loads(self.text)


def raw_post(server, path, content):
    return Raw(server, "POST", path, content)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "debug", "dqt-serve"))
    ap.add_argument("--model", default=os.path.join(ROOT, "formats", "samples", "shakespeare-chat.dqt"))
    ap.add_argument("--requests", type=int, default=300, help="requests of the RSS check")
    ap.add_argument("--tune-bin", default=os.path.join(ROOT, ".build", "debug", "dqt-tune"))
    args = ap.parse_args()
    try:
        run(args)
    finally:
        for s in SERVERS:
            s.stop()
    print(f"{PASSED} passed, 0 failed")


def run(args):
    s = Server(args.bin, args.model, "--slots", "2", "--threads", "1", "--queue", "16")
    c = s.client()
    messages = [{"role": "system", "content": "You answer as a player in a play."},
                {"role": "user", "content": "Good morrow. Who art thou?"}]

    # Chat, non-streamed and streamed (greedy: the same text).
    r = c.chat.completions.create(model="x", messages=messages, max_tokens=32, temperature=0)
    text = r.choices[0].message.content
    check("chat: an answer", isinstance(text, str) and r.choices[0].finish_reason in ("stop", "length"), repr(r))
    u = r.usage
    check("chat: usage counts", u.prompt_tokens > 0 and 0 < u.completion_tokens <= 32 and u.total_tokens == u.prompt_tokens + u.completion_tokens, repr(u))
    parts, finish, roles = [], None, 0
    for ch in c.chat.completions.create(model="x", messages=messages, max_tokens=32, temperature=0, stream=True,
                                        stream_options={"include_usage": True}):
        if ch.choices:
            d = ch.choices[0].delta
            roles += 1 if d.role == "assistant" else 0
            parts.append(d.content or "")
            finish = ch.choices[0].finish_reason or finish
        else:
            stream_usage = ch.usage
    check("chat: streamed text == non-streamed greedy text", "".join(parts) == text, f"{''.join(parts)!r} vs {text!r}")
    check("chat: stream finish_reason and role", finish == r.choices[0].finish_reason and roles == 1, f"{finish} {roles}")
    check("chat: stream usage", stream_usage.completion_tokens == u.completion_tokens and stream_usage.prompt_tokens == u.prompt_tokens, repr(stream_usage))

    # Seeded sampling is reproducible.
    a = c.chat.completions.create(model="x", messages=messages, max_tokens=16, temperature=0.9, top_p=0.9, seed=7)
    b = c.chat.completions.create(model="x", messages=messages, max_tokens=16, temperature=0.9, top_p=0.9, seed=7)
    check("chat: same seed, same text", a.choices[0].message.content == b.choices[0].message.content)

    # Completions, streamed and not.
    r = c.completions.create(model="x", prompt="ROMEO.", max_tokens=24, temperature=0)
    ctext = r.choices[0].text
    check("completions: text and usage", len(ctext) > 0 and r.usage.completion_tokens > 0, repr(r))
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(model="x", prompt="ROMEO.", max_tokens=24, temperature=0, stream=True))
    check("completions: streamed == non-streamed", streamed == ctext, f"{streamed!r} vs {ctext!r}")

    # Stop strings: the text ends right before the first occurrence; same when streamed.
    visible = ctext.strip()
    stop = visible[len(visible) // 2: len(visible) // 2 + 2]
    cut = ctext[:ctext.index(stop)]
    r = c.completions.create(model="x", prompt="ROMEO.", max_tokens=24, temperature=0, stop=[stop, "\u2603never"])
    check("stop: text cut before the stop string", r.choices[0].text == cut and r.choices[0].finish_reason == "stop",
          f"stop {stop!r}: {r.choices[0].text!r} vs {cut!r}")
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(model="x", prompt="ROMEO.", max_tokens=24, temperature=0, stop=stop, stream=True))
    check("stop: streamed the same", streamed == cut, f"{streamed!r} vs {cut!r}")

    # Bad requests -> 4xx in OpenAI's shape.
    expect_status("error: negative max_tokens", lambda: c.chat.completions.create(model="x", messages=messages, max_tokens=-1), 400)
    expect_status("error: wrong type (temperature)", lambda: c.chat.completions.create(model="x", messages=messages, temperature="hot"), 400)
    expect_status("error: wrong type (messages)", lambda: c.chat.completions.create(model="x", messages="hello"), 400)
    expect_status("error: n=2", lambda: c.chat.completions.create(model="x", messages=messages, n=2), 400)
    expect_status("error: wrong type (prompt)", lambda: c.completions.create(model="x", prompt=5), 400)
    for name, body in [("malformed JSON", b'{"messages": [}'), ("not an object", b"[1,2]"), ("empty body", b""),
                       ("truncated JSON", b'{"prompt": "abc'), ("invalid UTF-8", b'{"prompt": "\xff"}')]:
        resp = raw_post(s, "/v1/completions", body)
        check(f"error: {name} -> 400", resp.status_code == 400 and "message" in resp.json()["error"], f"{resp.status_code} {resp.text}")
    resp = raw_post(s, "/v1/chat/completions", b'{"prompt": "' + b"a" * (10 << 20) + b'"}')
    check("error: 10 MB body -> 413", resp.status_code == 413 and "message" in resp.json()["error"], f"{resp.status_code}")
    resp = Raw(s, "GET", "/v1/nothing")
    check("error: unknown route -> 404", resp.status_code == 404, f"{resp.status_code}")
    resp = Raw(s, "GET", "/v1/chat/completions")
    check("error: wrong method -> 405", resp.status_code == 405, f"{resp.status_code}")
    check("server still answers after the errors", Raw(s, "GET", "/health").json()["status"] == "ok")

    # Models and health.
    models = c.models.list()
    check("models: one model", len(models.data) == 1 and models.data[0].object == "model", repr(models))

    # 16 concurrent clients (2 slots, the rest queued): every one is answered, greedy answers agree.
    def one(i):
        return s.client().chat.completions.create(model="x", messages=messages, max_tokens=8, temperature=0).choices[0].message.content
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        answers = list(ex.map(one, range(16)))
    check("16 concurrent clients: all answered alike", len(set(answers)) == 1 and len(answers) == 16, repr(set(answers)))

    # Client disconnects mid-stream: the slot stops generating (the log says so) and serves the next request.
    before = len(s.log_lines)
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps({"prompt": "ROMEO.", "max_tokens": 200, "temperature": 0.8, "stream": True}),
                 headers={"content-type": "application/json"})
    resp = conn.getresponse()
    got = [resp.fp.readline().decode() for _ in range(3)]
    conn.sock.close()   # the client goes away mid-stream
    conn.close()
    check("disconnect: stream started", any(l.startswith("data: ") for l in got), repr(got))
    deadline = time.time() + 30
    cancelled = None
    while time.time() < deadline and cancelled is None:
        for line in s.log_lines[before:]:
            m = re.search(r"cancelled by the client after (\d+) tokens", line)
            if m:
                cancelled = int(m.group(1))
        time.sleep(0.1)
    check("disconnect: generation cancelled early", cancelled is not None and cancelled < 200, f"{cancelled}")
    check("disconnect: next request served", len(one(0)) >= 0)

    # Queue full -> 503 (1 slot, no queue).
    q = Server(args.bin, args.model, "--slots", "1", "--queue", "0", "--threads", "1")
    statuses = []
    def slow(i):
        try:
            q.client().completions.create(model="x", prompt="ROMEO.", max_tokens=64, temperature=0.8)
            return 200
        except openai.APIStatusError as e:
            return e.status_code
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        statuses = list(ex.map(slow, range(4)))
    check("queue full -> 503, others served", 503 in statuses and 200 in statuses, repr(statuses))
    q.stop()

    # API key.
    k = Server(args.bin, args.model, "--api-key", "sekret", "--threads", "1")
    expect_status("api key: missing -> 401", lambda: k.client("wrong").chat.completions.create(model="x", messages=messages, max_tokens=2), 401)
    r = k.client("sekret").chat.completions.create(model="x", messages=messages, max_tokens=2, temperature=0)
    check("api key: accepted", r.choices[0].message.content is not None)
    check("api key: /health open", Raw(k, "GET", "/health").status_code == 200)
    k.stop()

    # RSS stays flat over a few hundred requests (after a warm-up).
    for i in range(30):
        one(i)
    rss0 = s.rss_kib()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        def mixed(i):
            cl = s.client()
            if i % 3 == 0:
                return "".join(ch.choices[0].text for ch in cl.completions.create(model="x", prompt=f"KING {i}.", max_tokens=6, stream=True, seed=i))
            if i % 3 == 1:
                return cl.completions.create(model="x", prompt=f"QUEEN {i}.", max_tokens=6, seed=i).choices[0].text
            return cl.chat.completions.create(model="x", messages=[{"role": "user", "content": f"Line {i}?"}], max_tokens=6, seed=i).choices[0].message.content
        list(ex.map(mixed, range(args.requests)))
    rss1 = s.rss_kib()
    print(f"     RSS after warm-up {rss0 / 1024:.1f} MiB, after {args.requests} more requests {rss1 / 1024:.1f} MiB")
    check(f"RSS flat over {args.requests} requests (growth < 4 MiB)", rss1 - rss0 < 4096, f"{rss0} -> {rss1} KiB")
    s.stop()

    # Tuning while serving: dqt-tune commits to the served file between requests; the next request
    # sees the new commit (the slot resets its KV cache) and the server keeps answering.
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "m.dqt")
        shutil.copy(args.model, model)
        data = os.path.join(tmp, "data.txt")
        with open(data, "w") as f:
            f.write("USER: Good morrow.\nASSISTANT: Good morrow to thee, friend.\n" * 40)
        t = Server(args.bin, model, "--threads", "1")
        before = t.client().completions.create(model="x", prompt="ROMEO.", max_tokens=8, temperature=0).choices[0].text
        tune = subprocess.run([args.tune_bin, model, "--data", data, "--steps", "2", "--seq-len", "32", "--batch", "1",
                               "--lr", "0.05", "--threads", "1"], capture_output=True, text=True, timeout=600)
        check("tune while serving: dqt-tune committed", tune.returncode == 0, tune.stderr[-2000:])
        after = t.client().completions.create(model="x", prompt="ROMEO.", max_tokens=8, temperature=0).choices[0].text
        check("tune while serving: the server picked up the commit",
              any("is at tuning commit" in l for l in t.log_lines), "".join(t.log_lines[-5:]))
        print(f"     before: {before!r}  after: {after!r}")
        t.stop()


if __name__ == "__main__":
    main()
