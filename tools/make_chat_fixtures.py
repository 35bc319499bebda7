#!/usr/bin/env python3
"""Makes the chat-template fixtures and goldens for DQTChatTests.

Run from the repository root, with transformers (tokenizers, jinja2) installed:
    python3 tools/make_chat_fixtures.py

Each template below is the `chat_template` string of the model's public tokenizer_config.json
(the model is named next to it). The tokenizers are this repository's small fixture tokenizers
(Tests/DQTTokenizerTests/Fixtures) with each model family's special tokens added, so the
goldens test what the template and the special-token handling do, not a 128k vocabulary.

Writes Tests/DQTChatTests/Fixtures/:
  <tok>/tokenizer.json                 the fixture tokenizer with the family's added tokens
  <template>/tokenizer_config.json     chat_template, bos/eos, add_bos_token, added_tokens_decoder
  <template>/generation_config.json    eos_token_id (a list where the model has one)
  goldens/<template>.json              per conversation: transformers' apply_chat_template text and
                                       ids (add_generation_prompt as given), or the exception text
"""
import json
import os
import shutil
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKFIX = os.path.join(ROOT, "Tests", "DQTTokenizerTests", "Fixtures")
OUT = os.path.join(ROOT, "Tests", "DQTChatTests", "Fixtures")

# meta-llama/Meta-Llama-3-8B-Instruct
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# microsoft/bitnet-b1.58-2B-4T
BITNET = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}")

# Qwen/Qwen2.5-0.5B-Instruct (ChatML with tools)
QWEN25 = (
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n    {%- elif message.role == \"tool\" %}\n        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n")

# meta-llama/Llama-2-7b-chat-hf
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

# mistralai/Mistral-7B-Instruct-v0.2
MISTRAL = ("{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n")

# google/gemma-2-2b-it (and gemma-2b-it): no system role
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}")

# microsoft/Phi-3-mini-4k-instruct
PHI3 = ("{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}")


def special(content, rstrip=False):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": rstrip, "single_word": False, "special": True}


# tokenizer fixtures: base tokenizer.json + added special tokens (content, rstrip)
TOKENIZERS = {
    "tok-llama3": ("llama3-style", []),
    "tok-qwen": ("llama3-style", [("<|endoftext|>", False), ("<|im_start|>", False), ("<|im_end|>", False)]),
    "tok-spm": ("spm-small-hf-legacy", []),
    "tok-gemma": ("spm-small-hf-legacy", [("<bos>", False), ("<eos>", False), ("<start_of_turn>", False), ("<end_of_turn>", False)]),
    # Phi-3's chat tokens strip the whitespace to their right (rstrip: true in its tokenizer.json).
    "tok-phi3": ("spm-small-hf-legacy", [("<|endoftext|>", False), ("<|assistant|>", True), ("<|system|>", True),
                                        ("<|end|>", True), ("<|user|>", True)]),
}

# template fixtures: (template, tokenizer, bos, eos, add_bos_token, generation_config eos_token_id as names)
TEMPLATES = {
    "llama3": (LLAMA3, "tok-llama3", "<|begin_of_text|>", "<|eot_id|>", None, ["<|end_of_text|>", "<|eot_id|>"]),
    "bitnet-b1.58-2b4t": (BITNET, "tok-llama3", "<|begin_of_text|>", "<|eot_id|>", None, ["<|end_of_text|>", "<|eot_id|>"]),
    "qwen2.5": (QWEN25, "tok-qwen", None, "<|im_end|>", False, ["<|im_end|>", "<|endoftext|>"]),
    "llama2": (LLAMA2, "tok-spm", "<s>", "</s>", True, ["</s>"]),
    "mistral": (MISTRAL, "tok-spm", "<s>", "</s>", True, ["</s>"]),
    "gemma": (GEMMA, "tok-gemma", "<bos>", "<eos>", True, ["<eos>", "<end_of_turn>"]),
    "phi3": (PHI3, "tok-phi3", "<s>", "<|endoftext|>", False, ["<|endoftext|>", "<|assistant|>", "<|end|>"]),
}

SYS = {"role": "system", "content": "You are a concise assistant. Answer in one sentence."}
U1 = {"role": "user", "content": "What is a ternary weight?"}
A1 = {"role": "assistant", "content": "A weight that is -1, 0 or +1."}
U2 = {"role": "user", "content": "  And why does it save memory?\n"}
A2 = {"role": "assistant", "content": " It needs under 2 bits.  "}
U3 = {"role": "user", "content": "Café ☕ in 東京 — où?"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. \"Zürich\""}},
                         "required": ["city"]}}}]
TOOL_CALL = {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}]}
TOOL_RESULT = {"role": "tool", "content": "{\"temp\": 21.5}"}

CASES = [
    ("system_multiturn", [SYS, U1, A1, U2], True, None),
    ("system_multiturn_no_generation_prompt", [SYS, U1, A1, U2, A2], False, None),
    ("multiturn", [U1, A1, U2, A2, U3], True, None),
    ("single_user", [U3], True, None),
    ("assistant_first", [A1, U1], True, None),
]
EXTRA_CASES = {
    "qwen2.5": [("tools", [SYS, {"role": "user", "content": "Weather in Zürich?"}, TOOL_CALL, TOOL_RESULT], True, TOOLS)],
}


# Interpreter cases: (template, variables). Rendered by jinja2 configured as transformers configures
# it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
# tojson with ensure_ascii=False).
JINJA_CASES = [
    ("Hello {{ name }}!", {"name": "World"}),
    ("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ true }}|{{ [1, 'x', none, true, 1.5] }}|{{ {'k': 'v', 'n': 1} }}", {}),
    ("{{ x }}|{{ x is defined }}|{{ y is none }}|{{ y is not none }}", {"y": None}),
    ("{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}", {"messages": [1, 2, 3]}),
    ("{% for m in xs if m > 1 %}{{ m }}{{ loop.length }}{% else %}empty{% endfor %}", {"xs": [1, 2, 3]}),
    ("{% for m in xs %}{{ m }}{% else %}empty{% endfor %}", {"xs": []}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for m in xs %}{% if m == 2 %}{% continue %}{% endif %}{% if m == 4 %}{% break %}{% endif %}{{ m }}{% endfor %}", {"xs": [1, 2, 3, 4, 5]}),
    ("{% set ns = namespace(found=false, n=0) %}{% for m in xs %}{% if m > 2 %}{% set ns.found = true %}{% set ns.n = ns.n + m %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }}", {"xs": [1, 2, 3, 4]}),
    ("{% set x = 1 %}{% for m in xs %}{% set x = m %}{% endfor %}{{ x }}", {"xs": [5, 6]}),
    ("{% if a %}A{% elif b %}B{% else %}C{% endif %}{% if not a and b or c %}!{% endif %}", {"a": False, "b": True, "c": False}),
    ("{{ 'yes' if x else 'no' }} {{ 'only' if x }}.", {"x": 0}),
    ("{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ s[1:3] }} {{ xs[9] is defined }}", {"xs": [1, 2, 3], "s": "hello"}),
    ("{{ '  pad  ' | trim }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|{{ 'hello wORLD' | capitalize }}|{{ 'hello world' | title }}", {}),
    ("{{ xs | length }} {{ 'héllo' | length }} {{ xs | first }} {{ xs | last }} {{ xs | join(', ') }} {{ xs | reverse | list }}", {"xs": ["a", "b", "c"]}),
    ("{{ x | default('d') }} {{ '' | default('e', true) }} {{ none | default('f') }}", {}),
    ("{{ d | tojson }}|{{ xs | tojson }}|{{ 'é\"\n' | tojson }}|{{ 1.5 | tojson }}|{{ none | tojson }}", {"d": {"b": [1, 2.5, None, True], "a": "ü"}, "xs": []}),
    ("{{ d | tojson(indent=2) }}", {"d": {"a": [1, {"b": 2}], "c": {}}}),
    ("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'x'.join(['1','2']) }} {{ '  s '.strip() }}|{{ 'xxsxx'.strip('x') }}|{{ 'ab'.startswith('a') }}{{ 'ab'.endswith('a') }}", {}),
    ("{{ 'Hello'.replace('l', 'L') }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'a b'.title() }} {{ d.get('x', 3) }} {{ d.get('k') }} {{ d.keys() | list }}", {"d": {"k": "v"}}),
    ("{{ 'ab' in 'cabd' }} {{ 1 in [1,2] }} {{ 'k' in d }} {{ 'z' not in d }}", {"d": {"k": 1}}),
    ("{{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ 2 >= 3 }} {{ [1] == [1] }} {{ none == none }}", {}),
    ("{{ xs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('|') }} {{ xs | rejectattr('role', 'equalto', 'user') | list | length }}", {"xs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ [3,1,2] | sort }} {{ [1,2,2,3] | unique | list }} {{ [1,2,3] | sum }} {{ [4,2,8] | max }}", {}),
    ("{{ x is string }}{{ n is number }}{{ n is integer }}{{ d is mapping }}{{ xs is iterable }}{{ n is even }}{{ n is odd }}{{ n is divisibleby 3 }}", {"x": "s", "n": 6, "d": {}, "xs": []}),
    ("{{ 'line1\nline2' | indent(2) }}|{{ 'a\nb' | indent(4, true) }}", {}),
    ("{{ '%s' | safe }} {{ 42 | string }} {{ '7' | int + 1 }} {{ 3 | float }} {{ -3 | abs }} {{ 'a<b' | e }}", {}),
    ("{# a comment #}A\n  {# another #}\nB", {}),
    ("<{%- if true %} x {% endif -%}>", {}),
    ("a\n  {% if true %}\n  b\n  {% endif %}\nc\n", {}),
    ("a  {%+ if true %}b{% endif %}  \n{{- ' c' }} {{ 'd' -}}   e", {}),
    ("{% for i in range(2) %}\n    {{ i }}\n{% endfor %}\n", {}),
    ("{%- set greeting = 'hi' -%}\n  {{ greeting }}\n", {}),
    ("{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set block %}in {{ a }}{% endset %}[{{ block }}]", {}),
    ("{{ \"it's\" }} {{ 'say \"x\"' }} {{ 'tab\\there' }} {{ '\\u00e9' }}", {}),
    ("{{ messages[0]['content'][0]['text'] }} {{ messages[0].content[0].type }}", {"messages": [{"content": [{"type": "text", "text": "hi"}]}]}),
    ("{% if x.y is defined %}yes{% else %}no{% endif %}", {"x": {}}),
    ("{{ raise_exception('boom ' + 'x') }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ undefined_thing.attr }}", {}),
    ("{{ strftime_now('%d %b %Y') }}", {}),
]


def render_jinja_cases():
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.ext import loopcontrols

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: "26 Jul 2024"
    out = []
    for template, variables in JINJA_CASES:
        case = {"template": template, "variables": variables}
        try:
            case["output"] = env.from_string(template).render(**variables)
        except Exception as e:
            case["error"] = type(e).__name__ + ": " + str(e)
        out.append(case)
    return out


def main():
    from transformers import AutoTokenizer
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "goldens"))
    with open(os.path.join(OUT, "goldens", "jinja_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "jinja2 as transformers configures it", "cases": render_jinja_cases()}, f, ensure_ascii=False, indent=1)
    ids_of = {}
    for name, (base, extra) in TOKENIZERS.items():
        tj = json.load(open(os.path.join(TOKFIX, base, "tokenizer.json"), encoding="utf-8"))
        next_id = max([t["id"] for t in tj["added_tokens"]] + [max(tj["model"]["vocab"].values())]) + 1
        for content, rstrip in extra:
            t = dict(special(content, rstrip), id=next_id)
            tj["added_tokens"].append(t)
            next_id += 1
        os.makedirs(os.path.join(OUT, name))
        with open(os.path.join(OUT, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
        ids_of[name] = {t["content"]: t["id"] for t in tj["added_tokens"]}
        ids_of[name].update({k: v for k, v in tj["model"]["vocab"].items() if k in ("<s>", "</s>", "<unk>")})

    for tname, (template, tok, bos, eos, add_bos, gen_eos) in TEMPLATES.items():
        d = os.path.join(OUT, tname)
        os.makedirs(d)
        ids = ids_of[tok]
        cfg = {"added_tokens_decoder": {str(v): special(k) for k, v in sorted(ids.items(), key=lambda kv: kv[1])
                                        if k not in ("<unk>",)},
               "bos_token": bos, "eos_token": eos, "chat_template": template,
               "clean_up_tokenization_spaces": False, "tokenizer_class": "PreTrainedTokenizerFast"}
        for k, v in cfg["added_tokens_decoder"].items():
            if tok == "tok-phi3" and v["content"] in ("<|assistant|>", "<|system|>", "<|end|>", "<|user|>"):
                v["rstrip"] = True
        if add_bos is not None:
            cfg["add_bos_token"] = add_bos
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False, indent=2)
        gen = [ids[n] for n in gen_eos]
        with open(os.path.join(d, "generation_config.json"), "w", encoding="utf-8") as f:
            json.dump({"eos_token_id": gen if len(gen) > 1 else gen[0]}, f, indent=2)

        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(os.path.join(OUT, tok, "tokenizer.json"), tmp)
            shutil.copy(os.path.join(d, "tokenizer_config.json"), tmp)
            hf = AutoTokenizer.from_pretrained(tmp)
            assert hf.chat_template == template
            cases = []
            for cname, messages, gen_prompt, tools in CASES + EXTRA_CASES.get(tname, []):
                case = {"name": cname, "messages": messages, "add_generation_prompt": gen_prompt}
                if tools:
                    case["tools"] = tools
                try:
                    text = hf.apply_chat_template(messages, tools=tools, add_generation_prompt=gen_prompt, tokenize=False)
                    out = hf.apply_chat_template(messages, tools=tools, add_generation_prompt=gen_prompt, tokenize=True)
                    if hasattr(out, "keys"):
                        out = out["input_ids"]
                    case["text"] = text
                    case["ids"] = list(out)
                    # tokenize=True is encode(text, add_special_tokens=False): checked so the golden says what it is.
                    assert case["ids"] == hf.encode(text, add_special_tokens=False)
                except Exception as e:  # the template's raise_exception
                    case["error"] = str(e)
                cases.append(case)
        golden = {"template": tname, "tokenizer": tok, "reference": "transformers apply_chat_template", "cases": cases}
        with open(os.path.join(OUT, "goldens", tname + ".json"), "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False, indent=1)
        print(tname, [(c["name"], len(c.get("ids", [])) or c.get("error")) for c in cases])


if __name__ == "__main__":
    main()
