"""Test corpus for the dqt tokenizer (deterministic; imported by make_tokenizer_fixtures.py).

`build_corpus()` returns {document name: text}. The texts are written to
Tests/DQTTokenizerTests/Fixtures/corpus/<name>.txt (committed) and every tokenizer fixture
is checked token for token on each document. Some text is hand-written below (public-domain
verse, original prose, short translations of a common sentence); the rest is generated from a
fixed seed so the corpus is reproducible byte for byte.
"""

import random
import textwrap
import unicodedata

# MARK: - hand-written text

EN_PROSE = """\
The board on the shelf has two cores, a little memory, and no fan. It was never meant to run a
language model, yet here it is, printing one token after another while the kettle boils. Nobody
told it that models are supposed to live in data centres; it simply reads the weights from the
card, multiplies them by minus one, zero or one, and adds up the results.

"Why ternary?" she asked. He shrugged. "Because multiplying by zero is free, and multiplying by
one is almost free." She wasn't convinced. "You're telling me it's accurate enough?" "It's
accurate enough for a shopping list, and it'll learn your handwriting if you let it."

In the morning the fog lifted from the harbour. Fishing boats came in one by one, their decks
piled with nets; gulls wheeled overhead, shrieking at each other. A boy on the quay counted the
boats aloud: one, two, three ... eleven, twelve. At twelve he stopped, because the thirteenth
was his father's, and it hadn't come back yet.

Mr. O'Neill's dog — a scruffy terrier called Biscuit — didn't care for any of it. He'd been
promised a walk at 7:30 a.m. sharp, and it was already 7:45. "We'll go," said Mr. O'Neill,
"we'll go, we'll go." They'd both heard that before.

The committee met on Tuesday, 14 March, at half past two. Items on the agenda: (1) the budget;
(2) the leaking roof in Building C; (3) any other business. The budget was approved; the roof
was discussed at length (again); nobody had any other business, which was a relief to all.

It's not that I can't; it's that I shouldn't. I'd've told you sooner if I'd known. Y'all
wouldn't've believed me anyway. Rock 'n' roll. The '90s. Ma'am. O'Brien's. Don't, won't,
can't, shan't, isn't, aren't, wasn't, weren't, hasn't, haven't, hadn't, doesn't, didn't.
IT'S LOUD. WE'LL SEE. THEY'RE HERE. I'M FINE. YOU'VE WON. HE'D KNOW. SHE'S GONE.
It’s a curly apostrophe: don’t, won’t, we’ll, they’re, I’ve, she’d, I’m — and ‘single quotes’
and “double quotes”. Some people write it´s or it`s by mistake.
"""

EARLY_MODERN = """\
Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.

Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove.
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wand'ring bark,
Whose worth's unknown, although his height be taken.

To be, or not to be, that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles
And by opposing end them. To die—to sleep,
No more; and by a sleep to say we end
The heart-ache and the thousand natural shocks
That flesh is heir to: 'tis a consummation
Devoutly to be wish'd. To die, to sleep;
To sleep, perchance to dream—ay, there's the rub:
For in that sleep of death what dreams may come,
When we have shuffled off this mortal coil,
Must give us pause.

In the beginning God created the heaven and the earth. And the earth was without form, and
void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of
the waters. And God said, Let there be light: and there was light. And God saw the light, that
it was good: and God divided the light from the darkness. And God called the light Day, and the
darkness he called Night. And the evening and the morning were the first day.

The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: he
leadeth me beside the still waters. He restoreth my soul: he leadeth me in the paths of
righteousness for his name's sake. Yea, though I walk through the valley of the shadow of
death, I will fear no evil: for thou art with me; thy rod and thy staff they comfort me.

Whan that Aprille with his shoures soote
The droghte of March hath perced to the roote,
And bathed every veyne in swich licour
Of which vertu engendred is the flour;
Thou ſhalt not ſteale. Hee ſaith, Let vs goe hence. Ye olde ſhoppe ſelleth ſoape & ſuch.
'Tis true, 'twas ever thus; thou'rt welcome, an thou wilt. Prithee, wherefore art thou Romeo?
"""

MULTILINGUAL = """\
English: All human beings are born free and equal in dignity and rights.
Français : Tous les êtres humains naissent libres et égaux en dignité et en droits. Ça va ? Où
est l'hôtel ? C'est l'été, n'est-ce pas ? Garçon, un café crème, s'il vous plaît !
Deutsch: Alle Menschen sind frei und gleich an Würde und Rechten geboren. Größe, Straße, Übermaß,
Äpfel, Öl. Donaudampfschifffahrtsgesellschaftskapitän.
Español: Todos los seres humanos nacen libres e iguales en dignidad y derechos. ¿Dónde está la
biblioteca? ¡Qué día! El niño comió piña.
Português: Todos os seres humanos nascem livres e iguais em dignidade e em direitos. Coração, pão.
Italiano: Tutti gli esseri umani nascono liberi ed eguali in dignità e diritti. Perché? Così.
Polski: Wszyscy ludzie rodzą się wolni i równi pod względem swej godności i swych praw. Źdźbło.
Čeština: Všichni lidé rodí se svobodní a sobě rovní co do důstojnosti a práv. Příliš žluťoučký kůň.
Türkçe: Bütün insanlar hür, haysiyet ve haklar bakımından eşit doğarlar. İstanbul, ışık, ğ.
Tiếng Việt: Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền lợi.
Русский: Все люди рождаются свободными и равными в своём достоинстве и правах. Съешь же ещё этих
мягких французских булок, да выпей чаю. Москва, Ёлка, ЁЖИК.
Українська: Усі люди народжуються вільними і рівними у своїй гідності та правах. Ґанок, їжак.
Ελληνικά: Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα.
Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. ς σ Σ.
עברית: כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.
العربية: يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. وقد وهبوا عقلاً وضميرًا.
فارسی: تمام افراد بشر آزاد به دنیا می‌آیند و از لحاظ حیثیت و حقوق با هم برابرند.
हिन्दी: सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है।
বাংলা: সমস্ত মানুষ স্বাধীনভাবে সমান মর্যাদা এবং অধিকার নিয়ে জন্মগ্রহণ করে।
தமிழ்: மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்.
ไทย: มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ
中文：人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。
繁體：人人生而自由，在尊嚴和權利上一律平等。
日本語：すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。
カタカナとひらがな、そして漢字。ｶﾀｶﾅ（半角）。東京都渋谷区。
한국어: 모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다.
ქართული: ყველა ადამიანი იბადება თავისუფალი და თანასწორი თავისი ღირსებითა და უფლებებით.
Հայերեն: Բոլոր մարդիկ ծնվում են ազատ ու հավասար իրենց արժանապատվությամբ ու իրավունքներով։
አማርኛ: የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው።
"""

EMOJI = """\
Emoji: 😀 😃 😄 😁 😆 😅 🤣 😂 🙂 🙃 😉 😊 😇 🥰 😍 🤩 😘 😗 ☺️ 😚 😙 🥲 😋 😛 😜 🤪 😝 🤑
Hands with skin tones: 👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 👋🏽 ✌🏿 🤙🏼
Families (ZWJ): 👨‍👩‍👧‍👦 👩‍👩‍👦 👨‍👨‍👧‍👧 👪 and professions 👩‍💻 👨‍🚀 🧑‍🔬 👩🏽‍🍳 🧑🏿‍🤝‍🧑🏻
Flags: 🇯🇵 🇺🇸 🇫🇷 🇩🇪 🇧🇷 🇮🇳 🏳️‍🌈 🏴‍☠️ 🏴󠁧󠁢󠁳󠁣󠁴󠁿
Keycaps: 1️⃣ 2️⃣ #️⃣ *️⃣ 🔟 Hearts: ❤️ ❤ 🧡 💛 💚 💙 💜 🖤 🤍 ❤️‍🔥 ❤️‍🩹
Combining marks: é (e + U+0301), ñ (n + U+0303), ǭ, a̐, Z̴̡̤̈́a̶̧͝l̵̛̯g̸̰̎o̷̝͐, q̣̇, ṩ, ᾅ.
Variation selectors: ☃ ☃️ ☂︎ ✔︎ ✔️ 〰️ ©︎ ®️ ™️ 葛󠄀 and zero width: a​b (ZWSP) a‌b (ZWNJ) a‍b (ZWJ) a⁠b.
Math: ∀x∈ℝ: x² ≥ 0; ∑ᵢ aᵢ = ∫₀^∞ f(t) dt ≈ 3.14159… ≠ ∞; ½ + ¼ = ¾; 𝔸𝔹ℂ 𝐀𝐁𝐂 𝒜ℬ𝒞.
Symbols: ← → ↑ ↓ ⇒ ⇔ ★ ☆ ♠ ♣ ♥ ♦ ♪ ♫ ☯ ☮ € £ ¥ ₹ ₽ ₿ § ¶ † ‡ • ‰ ′ ″ © ® ™ ° ± × ÷.
"""

SPECIAL_TOKENS = """\
<|begin_of_text|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

What is 2 + 2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

4<|eot_id|>
The end.<|endoftext|>The beginning.<|endoftext|><|endoftext|>
Half tokens: <|endof text|> <|eot_id| <|eot_id|| <|eot_idx|> <<|eot_id|>> |<|end_of_text|>|
<s>[INST] Hello there [/INST] Hi!</s><s>[INST] And again [/INST]</s>
<unk> <pad> <mask> word<mask>word  <mask>  end <mask>
Added words: dqt is ternary. undqtlike, dqt's, DQT, dqt, (dqt), dqt-run, dqtdqt.
A ternary  ternary weight, tern ary, ternaryternary.
<|reserved_special_token_3|> and <|reserved_special_token_250|><|python_tag|>print(1)<|eom_id|>
"""

CODE_SWIFT = """\
/// Packs ternary weights {-1, 0, +1} four to a byte, low bits first.
public func packTernary(_ codes: UnsafeBufferPointer<Int8>, into out: UnsafeMutableBufferPointer<UInt8>) {
    precondition(out.count * 4 >= codes.count, "output too small")
    for i in stride(from: 0, to: codes.count, by: 4) {
        var byte: UInt8 = 0
        for j in 0..<min(4, codes.count - i) {
            let c = UInt8(truncatingIfNeeded: Int(codes[i + j]) + 1)   // -1,0,1 -> 0,1,2
            byte |= c << (2 * UInt8(j))
        }
        out[i / 4] = byte
    }
}

struct Sampler {
    var temperature: Float = 0.8
    var topP: Float = 0.95
    mutating func sample(_ logits: inout [Float], rng: inout some RandomNumberGenerator) -> Int {
        guard temperature > 0 else { return logits.indices.max { logits[$0] < logits[$1] }! }
        let m = logits.max() ?? 0
        var sum: Float = 0
        for i in logits.indices { logits[i] = expf((logits[i] - m) / temperature); sum += logits[i] }
        var r = Float.random(in: 0..<sum, using: &rng)
        for (i, p) in logits.enumerated() { r -= p; if r <= 0 { return i } }
        return logits.count - 1
    }
}

enum LoadError: Error, CustomStringConvertible {
    case truncated(field: String, offset: Int)
    var description: String {
        switch self { case let .truncated(f, o): return "truncated at \\(f) (offset \\(o))" }
    }
}
"""

CODE_C = """\
#include <stdint.h>
#include <stddef.h>
#include <string.h>

/* y[o] = sum_i w[o][i] * x[i], with w packed 2 bits per weight (code+1), row-major. */
static void matvec_t2(const uint8_t *w, const int8_t *x, int32_t *y, size_t rows, size_t cols) {
    const size_t row_bytes = (cols + 3) / 4;
    for (size_t o = 0; o < rows; ++o) {
        int32_t acc = 0;
        const uint8_t *r = w + o * row_bytes;
        for (size_t i = 0; i < cols; ++i) {
            int code = (r[i >> 2] >> ((i & 3) * 2)) & 3;
            acc += (code - 1) * x[i];
        }
        y[o] = acc;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FILE\\n", argv[0]); return 2; }
    char buf[4096];
    memset(buf, 0, sizeof buf);
    printf("%d args, first=\\"%s\\"\\t0x%08x\\r\\n", argc, argv[1], 0xDEADBEEFu);
    return 0;
}
"""

CODE_JS_JSON_HTML = """\
// JavaScript
const fib = (n) => n < 2 ? n : fib(n - 1) + fib(n - 2);
export async function fetchAll(urls) {
  const results = await Promise.all(urls.map(async (u) => (await fetch(u)).json()));
  return results.filter((r) => r?.ok ?? false).map(({ id, name }) => `${id}:${name}`);
}
let x = 0x1F, y = 1e-9, z = 123_456_789n; x ||= 1; y ??= 2; z **= 2n;

{"name": "dqt", "version": "1.0.0", "tokens": [1, 2, 3, 50256], "nested": {"a": null, "b": true,
 "c": [-1.5e+10, 0.0, "\\u00e9\\n\\t"], "empty": {}, "list": []}}

<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dqt &amp; friends</title></head>
<body><p class="note">Ternary&nbsp;weights &lt;3&gt; &#x2764;</p><br/><a href="https://example.com/?q=a+b&amp;r=1">link</a></body></html>

#!/usr/bin/env bash
set -euo pipefail
for f in *.dqt; do echo "== $f"; dqt-run --model "$f" --prompt 'Hello' -n 32 || exit $?; done
SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC LIMIT 10;
fn main() { let v: Vec<i32> = (1..=10).filter(|x| x % 2 == 0).collect(); println!("{:?}", v); }
"""


# MARK: - generated text

def _gen_prose(rng, n_sentences):
    subjects = ["the model", "a small board", "the converter", "my neighbour", "the old lighthouse keeper",
                "every student", "the committee", "a quiet engineer", "the ternary kernel", "our cat",
                "the train from Edinburgh", "a careful reader", "the tokenizer", "the river", "nobody"]
    verbs = ["reads", "writes", "remembers", "forgets", "compresses", "measures", "ignores", "questions",
             "repairs", "paints", "counts", "rounds", "quantizes", "shuffles", "explains"]
    objects = ["the weights", "a letter to the editor", "seventeen apples", "the morning paper",
               "every byte of the file", "the last train home", "a long list of numbers", "the stars",
               "its own mistakes", "the kettle", "a map of the coast", "the recipe", "the gradient"]
    tails = ["before dawn", "with great care", "again and again", "for no good reason", "in silence",
             "as if nothing had happened", "while it rained", "on Tuesdays", "under the bridge",
             "at 3:15 p.m.", "in 2024", "without a sound", "twice", "", "", ""]
    out = []
    for i in range(n_sentences):
        s = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}"
        t = rng.choice(tails)
        if t:
            s += " " + t
        r = rng.random()
        if r < 0.1:
            s = "Why " + s.replace(" reads ", " read ", 1) + "?"
        elif r < 0.2:
            s += "!"
        elif r < 0.3:
            s += ", doesn't it?"
        elif r < 0.35:
            s = '"' + s + '," she said.'
        else:
            s += "."
        out.append(s[0].upper() + s[1:])
        if rng.random() < 0.12:
            out.append("\n\n" if rng.random() < 0.7 else "\n")
    text = " ".join(out)
    return text.replace(" \n", "\n").replace("\n ", "\n")


def _gen_numbers(rng):
    lines = []
    for i in range(400):
        k = rng.randrange(12)
        if k == 0:
            lines.append(str(rng.randrange(10 ** rng.randrange(1, 40))))
        elif k == 1:
            lines.append(f"{rng.uniform(-1e6, 1e6):.{rng.randrange(0, 9)}f}")
        elif k == 2:
            lines.append(f"{rng.random():.3e} {rng.randrange(1 << 32):#x} {rng.randrange(1 << 16):#o} {rng.randrange(256):#010b}")
        elif k == 3:
            lines.append(f"+1 ({rng.randrange(100, 999)}) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}")
        elif k == 4:
            lines.append(f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
                         f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z")
        elif k == 5:
            lines.append(f"{rng.randrange(10**9):,} items at ${rng.randrange(10**5) / 100:.2f} = €{rng.randrange(10**7):_}")
        elif k == 6:
            digits = "٠١٢٣٤٥٦٧٨٩" if rng.random() < 0.5 else "０１２３４５６７８９"
            lines.append("".join(rng.choice(digits) for _ in range(rng.randrange(1, 12))))
        elif k == 7:
            lines.append(" ".join(rng.choice(["Ⅻ", "ⅷ", "²", "³", "¹⁰", "½", "⅓", "①", "⑳", "𝟙𝟚", "१२३", "১২", "๓๔"])
                                  for _ in range(rng.randrange(1, 6))))
        elif k == 8:
            lines.append("v" + ".".join(str(rng.randrange(100)) for _ in range(rng.randrange(2, 5))))
        elif k == 9:
            lines.append(f"{rng.randrange(10**6)}x{rng.randrange(10**6)}={rng.randrange(10**12)}")
        elif k == 10:
            lines.append(f"192.168.{rng.randrange(256)}.{rng.randrange(256)}:{rng.randrange(65536)}")
        else:
            lines.append(f"Chapter {rng.randrange(1, 200)}, verse {rng.randrange(1, 50)}; page {rng.randrange(1, 900)}f.")
    return "\n".join(lines) + "\n"


def _gen_whitespace(rng):
    pieces = ["word", "Word", "x", "42", "!", "é", "日本", "—", "'s", "\u00a0", "\u3000", "\u2028", "\u2003",
              "\u200b", "\u0085", "\x0b", "\x0c"]
    spaces = [" ", "  ", "   ", "    ", "\t", "\t\t", " \t ", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n",
              " \n", "  \n  ", "\t\n", "\r", " \r\n ", "        ", "\n    ", "\n\t\t"]
    out = []
    for i in range(3000):
        out.append(rng.choice(pieces) if rng.random() < 0.55 else rng.choice(spaces))
    return "".join(out) + "   \n\n  "


def _gen_contractions(rng):
    words = ["it", "I", "you", "we", "they", "he", "she", "that", "there", "who", "John", "IT", "THEY"]
    suffixes = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'ſ",
                "’s", "’t", "’re", "’ll", "'", "''", "'x", "'sure", "'dlike", " 's", " 'll"]
    out = []
    for i in range(1500):
        out.append(rng.choice(words) + rng.choice(suffixes))
    return " ".join(out) + "\n"


def _gen_scripts(rng):
    # Blocks whose characters were all assigned long ago (Unicode <= 6), so every Unicode
    # table in play (Python, Oniguruma, Swift) agrees on their general category.
    blocks = [(0x0400, 0x04FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x4E00, 0x9FA5), (0x3040, 0x309F),
              (0x30A0, 0x30FF), (0xAC00, 0xD7A3), (0x0370, 0x03FF), (0x0590, 0x05FF), (0x0E00, 0x0E7F),
              (0x0300, 0x036F), (0x2000, 0x206F), (0x2190, 0x21FF), (0x0020, 0x007E), (0x00A0, 0x00FF),
              (0x1F300, 0x1F5FF), (0x1D400, 0x1D4FF), (0x10A0, 0x10FF)]
    out = []
    for line in range(250):
        lo, hi = rng.choice(blocks)
        n = rng.randrange(1, 60)
        chars = []
        for _ in range(n):
            for _attempt in range(20):
                c = chr(rng.randrange(lo, hi + 1))
                cat = unicodedata.category(c)
                if cat not in ("Cn", "Cs", "Co"):
                    break
            else:
                c = " "
            chars.append(c)
            if rng.random() < 0.15:
                chars.append(rng.choice([" ", " ", "\n", "  ", ",", "."]))
        out.append("".join(chars))
    return "\n".join(out) + "\n"


def _gen_words_multiscript(rng):
    cyr = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    arab = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    deva = ["क", "ख", "ग", "घ", "च", "ज", "ट", "ड", "त", "द", "न", "प", "ब", "म", "य", "र", "ल", "व", "स", "ह"]
    matras = ["", "ा", "ि", "ी", "ु", "ू", "े", "ै", "ो", "ौ", "ं", "्"]
    cjk = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
    out = []
    for i in range(900):
        k = rng.randrange(4)
        if k == 0:
            w = "".join(rng.choice(cyr) for _ in range(rng.randrange(1, 12)))
            if rng.random() < 0.2:
                w = w.capitalize()
        elif k == 1:
            w = "".join(rng.choice(arab) for _ in range(rng.randrange(2, 9)))
        elif k == 2:
            w = "".join(rng.choice(deva) + rng.choice(matras) for _ in range(rng.randrange(1, 6)))
        else:
            w = "".join(rng.choice(cjk) for _ in range(rng.randrange(1, 8)))
        out.append(w)
        out.append(rng.choice([" ", " ", " ", ", ", "。", "، ", "। ", "\n", "  "]))
    return "".join(out) + "\n"


def _gen_emoji(rng):
    base = ["😀", "🚀", "🐍", "🍕", "🎉", "👍", "👩", "👨", "🧑", "❤", "☕", "🌍", "🔥", "✨", "🤖", "🦀"]
    mods = ["", "", "🏻", "🏽", "🏿", "\ufe0f", "\u200d💻", "\u200d🚀", "\u200d❤️\u200d💋\u200d👨"]
    out = []
    for i in range(1200):
        out.append(rng.choice(base) + rng.choice(mods))
        if rng.random() < 0.3:
            out.append(rng.choice([" ", "  ", "\n", "!", "ok", " yes", "、"]))
    return "".join(out) + "\n"


# Normalization cases (NFKC, case folding, SentencePiece's nmt_nfkc): one line per kind.
NORMALIZATION = """\
Fullwidth: ＡＢＣ ａｂｃ ０１２３ ！？（）［］ Ｈｅｌｌｏ　Ｗｏｒｌｄ ｶﾀｶﾅ ﾊﾟﾋﾟ ｶﾞｷﾞ
Ligatures: ﬁnance ﬂower ﬀ ﬃ ﬄ ﬅ Ǆ ǅ ǆ Ĳ ĳ ŉ ㎞ ㎏ ℡ ™ № ℃ ℉ Å Ω ⅓ ½ ¼ Ⅻ ⅻ
Super/subscripts: x² y³ z¹ aⁿ H₂O CO₂ ⁽¹²⁾ ₍₃₎ ᵃᵇᶜ ⁱ ⁺ ₋ ꝰ
Accents precomposed: é è ê ë á à â ä å ã ñ ç ø œ æ ß ÿ Ü Ö Ä É Ç Ñ ǖ ǘ ǚ ǜ ṩ ẛ ệ
Accents combining: e\u0301 e\u0300 e\u0302 e\u0308 a\u030a n\u0303 c\u0327 u\u0308\u0301 s\u0323\u0307 s\u0307\u0323 q\u0307\u0323 A\u0301\u0301
Mixed case: HeLLo WoRLD ǅungla İstanbul ıi ΣΑΣ σας ΌΣΟΣ ſtraße STRASSE Ⅸ ⓐⓑⓒ ⒶⒷ Ꭰ ꭰ
CJK: 日本語のテキスト、漢字とかな。中文文本，简体与繁體。한국어 텍스트 ㈜ ㍿ ㋀ 〜 ～ ・ 「引用」
Arabic/Hebrew: مرحبا بالعالم ﻻ ﷺ ﷲ ٱلْعَرَبِيَّة ١٢٣ שָׁלוֹם עולם ﬠ ﬡ ﭏ
Indic: नमस्ते दुनिया क़ ख़ ज़ ড় ঢ় য় নমস্কার বাংলা வணக்கம் தமிழ் ொ ௌ
Emoji: 👍🏽 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ ☺︎ 🇯🇵🇫🇷 #️⃣ 1️⃣ ©️ ™️
Zero-width: a\u200bb c\u200cd e\u200df soft\u00adhyphen word\u2060joiner \ufeffbom x\u180ey
Spaces: NBSP\u00a0here thin\u2009space en\u2002em\u2003 ideographic\u3000space narrow\u202fnbsp  two  spaces\tand\ttabs \t mixed\t \t
Controls: bell\u0007 escape\u001b del\u007f nul-free C1\u0085next \u200e\u200f marks
Lines: first line\r\nsecond line\rthird\n\nfifth\u2028sixth\u2029seventh
Dashes and quotes: – — ― ‐ ‑ ‒ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ … ‥ · • ‧ ﹏ ﹐ ﹑
"""


def build_corpus():
    rng = random.Random(20261129)
    docs = {}
    docs["en_prose"] = EN_PROSE + "\n" + _gen_prose(rng, 900) + "\n"
    docs["early_modern_english"] = EARLY_MODERN
    docs["multilingual"] = MULTILINGUAL
    docs["multiscript_words"] = _gen_words_multiscript(rng)
    docs["random_scripts"] = _gen_scripts(rng)
    docs["emoji_and_marks"] = EMOJI + _gen_emoji(rng)
    docs["numbers"] = _gen_numbers(rng)
    docs["whitespace"] = _gen_whitespace(rng)
    docs["contractions"] = _gen_contractions(rng)
    docs["special_tokens"] = SPECIAL_TOKENS
    docs["code_swift"] = CODE_SWIFT
    docs["code_c"] = CODE_C
    docs["code_js_json_html_sh"] = CODE_JS_JSON_HTML
    docs["code_python_textwrap"] = open(textwrap.__file__, encoding="utf-8").read()
    docs["crlf_lines"] = "\r\n".join(EN_PROSE.splitlines()[:30]) + "\r\n\r\n" + "\r\n".join(MULTILINGUAL.splitlines()[:12]) + "\r\n"
    docs["single_char"] = "a"   # edge cases stay small documents on their own
    docs["only_spaces"] = "     "
    docs["leading_space"] = " Hello world"
    docs["newline_only"] = "\n"
    docs["empty"] = ""          # last: the goldens tool learns the template from a non-empty document
    return docs
