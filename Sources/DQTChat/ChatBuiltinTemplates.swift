// Chat templates known by name, for `--chat-template NAME`: each is the `chat_template` of the
// model's public tokenizer_config.json (chatml: the plain ChatML form many fine-tunes use), with
// the token that ends an assistant turn. The same texts are the test fixtures'
// (tools/make_chat_fixtures.py); DQTChatTests checks they agree.

public struct ChatBuiltinTemplate: Sendable {
    public var name: String
    public var summary: String
    public var source: String
    /// Token strings that end an assistant turn besides the model's EOS.
    public var endOfTurn: [String]

    public static func named(_ name: String) -> ChatBuiltinTemplate? { all.first { $0.name == name } }

    public static let all: [ChatBuiltinTemplate] = [
        ChatBuiltinTemplate(name: "chatml", summary: "ChatML (Qwen, many fine-tunes); system message optional",
                            source: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
                            endOfTurn: ["<|im_end|>"]),
        ChatBuiltinTemplate(name: "llama3", summary: "Llama 3 instruct (meta-llama/Meta-Llama-3-8B-Instruct)",
                            source: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
                            endOfTurn: ["<|eot_id|>"]),
        ChatBuiltinTemplate(name: "bitnet", summary: "BitNet b1.58 2B4T (microsoft/bitnet-b1.58-2B-4T)",
                            source: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}",
                            endOfTurn: ["<|eot_id|>"]),
        ChatBuiltinTemplate(name: "llama2", summary: "Llama 2 chat [INST] <<SYS>> (meta-llama/Llama-2-7b-chat-hf)",
                            source: "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
                            endOfTurn: []),
        ChatBuiltinTemplate(name: "mistral", summary: "Mistral instruct [INST] (mistralai/Mistral-7B-Instruct-v0.2)",
                            source: "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
                            endOfTurn: []),
        ChatBuiltinTemplate(name: "gemma", summary: "Gemma instruct <start_of_turn> (google/gemma-2-2b-it); no system role",
                            source: "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
                            endOfTurn: ["<end_of_turn>"]),
        ChatBuiltinTemplate(name: "phi3", summary: "Phi-3 <|user|> <|assistant|> (microsoft/Phi-3-mini-4k-instruct)",
                            source: "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}",
                            endOfTurn: ["<|end|>"]),
    ]
}
