#!/usr/bin/env python3
"""Golden token ids for the C++ tokenizer, made with HF `tokenizers` (the reference).

Writes tests/golden/tokenizer/qwen3_omni.jsonl (the full Qwen3-Omni tokenizer: the Qwen3 files in
data/qwen3-tokenizer plus the 7 Qwen3-Omni added tokens 151669..151675) and
tests/golden/tokenizer/tiny.jsonl (the `tiny` preset's 4,000-token BPE, specials at 4000..4032).
One JSON object per line: {"text": ..., "ids": [...]} and, where HF's decode(ids) differs from the
text (text not in NFC, or NFC across an added token's edge), "decoded": that decode.

The strings are built deterministically (fixed seed, fixed fragments): code in several languages,
prose in many scripts, emoji, NFD text, whitespace runs, numbers, contractions, punctuation, URLs,
JSON, added tokens inside text, and the code points where the Unicode versions of the libraries
differ (see src/tokenizer/unicode_compat.h).

The tokenizer files are built here the same way `omnisage synth` writes them
(src/model/synth_tokenizer.cc); --omnisage BIN uses the files that `BIN synth` writes instead.
--bench also measures HF's encode throughput on the golden strings (for docs/tokenizer.md).

  pip install -r tools/reference/requirements.txt
  python tools/reference/make_tokenizer_fixtures.py [--omnisage build/tools/omnisage/omnisage]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unicodedata

from tokenizers import Tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 20240611

OMNI_TOKENS = ["<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>",
               "<tts_text_eod>", "<tts_text_bos_single>", "<|audio_pad|>"]
FIRST_OMNI_ID = 151669
FIRST_SPECIAL_ID = 151643
TINY_BPE_TOKENS = 4000


# --------------------------------------------------------------------------------------------
# Tokenizer files, as src/model/synth_tokenizer.cc writes them.

def full_tokenizer_json(src_dir):
    with open(os.path.join(src_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    have = {t["id"] for t in tok["added_tokens"]}
    for i, content in enumerate(OMNI_TOKENS):
        if FIRST_OMNI_ID + i in have:
            continue
        tok["added_tokens"].append({"id": FIRST_OMNI_ID + i, "content": content,
                                    "single_word": False, "lstrip": False, "rstrip": False,
                                    "normalized": False, "special": True})
    return tok


def tiny_tokenizer_json(src_dir):
    tok = full_tokenizer_json(src_dir)
    model = tok["model"]
    model["vocab"] = {k: v for k, v in model["vocab"].items() if v < TINY_BPE_TOKENS}
    model["merges"] = model["merges"][:TINY_BPE_TOKENS - 256]
    for t in tok["added_tokens"]:
        if t["id"] >= FIRST_SPECIAL_ID:
            t["id"] = TINY_BPE_TOKENS + (t["id"] - FIRST_SPECIAL_ID)
    return tok


def load_tokenizers(args):
    if args.omnisage:
        loaded = []
        with tempfile.TemporaryDirectory(prefix="omnisage_tok_") as tmp:
            for preset in ("full", "tiny"):
                out = os.path.join(tmp, preset)
                subprocess.run([args.omnisage, "synth", "--preset", preset, "--sparse", "--out",
                                out], check=True, stdout=subprocess.DEVNULL)
                loaded.append(Tokenizer.from_file(os.path.join(out, "tokenizer.json")))
        return loaded[0], loaded[1]
    src = args.tokenizer_dir
    full = Tokenizer.from_str(json.dumps(full_tokenizer_json(src)))
    tiny = Tokenizer.from_str(json.dumps(tiny_tokenizer_json(src)))
    return full, tiny


# --------------------------------------------------------------------------------------------
# The strings.

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!",
    "I'm sure they'll come, but we've waited and she'd said it's fine; you're late, aren't you?",
    "I'M SURE THEY'LL COME. WE'VE WAITED. SHE'D SAID IT'S FINE. YOU'RE LATE.",
    "Don't stop believin' -- hold on to that feelin'.",
    "It was the best of times, it was the worst of times, it was the age of wisdom...",
    "Mixture-of-experts models route each token to a few experts out of many.",
    "Qwen3-Omni-30B-A3B has 48 layers, 128 experts per layer and 8 active experts per token.",
    "Please summarise the following paragraph in two sentences.",
    "What's the capital of Australia? (Hint: it isn't Sydney.)",
    "e.g. i.e. etc. vs. Mr. Mrs. Dr. St. a.m. p.m. U.S.A.",
    "rock'n'roll o'clock ma'am y'all ne'er-do-well 'tis '90s",
    "He said \"hello\" and she replied 'goodbye'.",
    "Tabs\tand\tnewlines\nare\r\nwhitespace too.",
    "ALL CAPS SENTENCE WITH NUMBERS 123 AND SYMBOLS #@!",
    "camelCaseIdentifier snake_case_identifier kebab-case-identifier SCREAMING_SNAKE",
    "The year 2024 had 366 days; pi is 3.14159265358979323846.",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism "
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "  leading spaces and trailing spaces  ",
    "A sentence.  Two spaces after the period.   Three here.",
]

CODE = [
    'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n'
    '    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
    "import numpy as np\n\nx = np.arange(10, dtype=np.float32)\nprint(x @ x.T, x.mean())\n",
    "class Foo(Base):\n\tdef __init__(self, *args, **kwargs):\n"
    "\t\tsuper().__init__(*args, **kwargs)\n",
    "#include <vector>\n\nint main(int argc, char** argv) {\n  std::vector<int> v{1, 2, 3};\n"
    "  for (auto& x : v) x *= 2;\n  return v.size() > 2 ? 0 : 1;\n}\n",
    "template <typename T>\nconstexpr T Clamp(T v, T lo, T hi) noexcept { return v < lo ? lo : "
    "(hi < v ? hi : v); }",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n"
    "    println!(\"{:?}\", v);\n}\n",
    "impl<'a> Iterator for Tokens<'a> {\n    type Item = &'a str;\n"
    "    fn next(&mut self) -> Option<Self::Item> { None }\n}",
    "const add = (a, b) => a + b;\nconsole.log(`sum = ${add(1, 2)}`);\n"
    "document.querySelector('#id').addEventListener('click', () => {});",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello, 世界\")\n}\n",
    "SELECT u.id, COUNT(*) AS n FROM users u LEFT JOIN orders o ON o.user_id = u.id "
    "WHERE u.created_at >= '2024-01-01' GROUP BY u.id HAVING n > 3 ORDER BY n DESC;",
    "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n"
    "  wc -l \"$f\" | awk '{print $1}'\n"
    "done 2>/dev/null || echo \"none\" >&2\n",
    "<!DOCTYPE html>\n<html lang=\"en\">\n"
    "  <head><meta charset=\"utf-8\"><title>Hi</title></head>\n"
    "  <body><p class=\"x\">Hello &amp; welcome</p></body>\n</html>\n",
    "server:\n  port: 8080\n  hosts:\n    - a.example.com\n    - b.example.com\n"
    "  tls: {enabled: true, cert: /etc/ssl/cert.pem}\n",
    "\\begin{equation}\n  E = mc^2 \\quad \\text{and} \\quad \\int_0^\\infty e^{-x^2}\\,dx = "
    "\\frac{\\sqrt{\\pi}}{2}\n\\end{equation}",
    "# Title\n\n## Subtitle\n\n- item one\n- item **two**\n\n```python\nprint('x')\n```\n\n"
    "> quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    "public static void main(String[] args) throws IOException {\n"
    "    Map<String, List<Integer>> m = new HashMap<>();\n}\n",
    "if err != nil {\n\treturn fmt.Errorf(\"open %s: %w\", path, err)\n}",
    "x = [i**2 for i in range(100) if i % 3 == 0]  # squares of multiples of 3",
    "while (*p && *p != '\\n') ++p;  /* skip to end of line */",
    "diff --git a/x.cc b/x.cc\n@@ -1,3 +1,4 @@\n-int a = 0;\n+int a = 1;\n+int b = 2;\n",
    "    indented with four spaces\n        and eight\n\t\tand two tabs\n",
    "λx.λy.x  -- lambda calculus; ∀x∈ℝ: x² ≥ 0; a ≠ b ⇒ f(a) ≠ f(b)",
    "$ ls -la ~/projects | grep -E '^d' | sort -k5 -n\n",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@(?:[a-z0-9-]+\\.)+[a-z]{2,}$",
]

PROSE = {
    "fr": "Le cœur a ses raisons que la raison ne connaît point. "
          "Où est l'hôtel ? Ça coûte 12,50 €.",
    "de": "Größenwahn ist kein Überfluss; die Straße führt über die Brücke. Fräulein Müller aß.",
    "es": "¿Dónde está la biblioteca? ¡Qué día más bonito! El niño comió piña en España.",
    "pt": "Não sei se ação é a solução, mas a informação está à disposição. Coração.",
    "it": "Perché è così difficile? Più di là, città, università, caffè.",
    "pl": "Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.",
    "cs": "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "tr": "Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul'da ılık bir gün.",
    "vi": "Tiếng Việt có nhiều dấu: ầ ẩ ẫ ấ ậ, ở Hà Nội người ta nói nhanh lắm.",
    "ro": "Înțelepciunea și știința sunt în țară.",
    "is": "Þú ert ágætur; ðað er ævintýri að fara til Íslands.",
    "ru": "Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка, йод.",
    "uk": "Гей, хлопці, не вспію — на ґанку ваш шифр є. Їжак, ґудзик, європейці.",
    "el": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Καλημέρα κόσμε! Ήταν ωραία ΐ ΰ.",
    "ar": "مرحبا بالعالم! كيف حالك اليوم؟ الذكاء الاصطناعي يغير العالم، ١٢٣٤٥٦٧٨٩٠.",
    "fa": "سلام دنیا! زبان فارسی زیباست. ۱۲۳۴۵۶۷۸۹۰",
    "he": "שלום עולם! עברית נכתבת מימין לשמאל. בְּרֵאשִׁית בָּרָא אֱלֹהִים",
    "hi": "नमस्ते दुनिया! हिन्दी भाषा देवनागरी लिपि में लिखी जाती है। क्षत्रिय ज्ञान १२३",
    "bn": "আমি বাংলায় গান গাই। কেমন আছেন?",
    "ta": "யாமறிந்த மொழிகளிலே தமிழ்மொழி போல் இனிதாவது எங்கும் காணோம்.",
    "th": "ภาษาไทยไม่มีช่องว่างระหว่างคำ สวัสดีครับ ผมชื่อสมชาย ๑๒๓",
    "zh": "我们的模型可以理解中文。混合专家模型每个词元只激活少数专家。今天天气很好！",
    "zh_tw": "繁體中文：臺灣的語言與文化。龍、鬱、齉。",
    "ja": "日本語の文章です。ひらがな、カタカナ、漢字が混ざっています。東京は晴れ。ｶﾀｶﾅ",
    "ko": "안녕하세요, 세계! 한국어는 한글로 씁니다. 다람쥐 헌 쳇바퀴에 타고파.",
    "ka": "ქართული ენა ძალიან ლამაზია.",
    "hy": "Բարեւ աշխարհ, հայերենը հին լեզու է։",
    "am": "ሰላም ለዓለም! አማርኛ በግዕዝ ፊደል ይጻፋል።",
    "my": "မင်္ဂလာပါ ကမ္ဘာ",
    "km": "សួស្តី​ពិភពលោក",
    "si": "ආයුබෝවන් ලෝකය",
    "bo": "བཀྲ་ཤིས་བདེ་ལེགས།",
    "mn": "Сайн байна уу? ᠮᠣᠩᠭᠣᠯ",
    "yi": "װאָס מאַכסטו?",
    "ml": "മലയാളം ഒരു ദ്രാവിഡ ഭാഷയാണ്.",
    "te": "తెలుగు భాష చాలా అందమైనది.",
    "gu": "ગુજરાતી ભાષા",
    "pa": "ਪੰਜਾਬੀ ਭਾਸ਼ਾ",
    "sw": "Habari ya dunia! Kiswahili ni lugha nzuri.",
    "yo": "Ẹ kú àárọ̀! Báwo ni?",
    "haw": "ʻŌlelo Hawaiʻi",
    "eo": "Ĉu vi parolas Esperanton? Eĥoŝanĝo ĉiuĵaŭde.",
}

EMOJI = [
    "😀😃😄😁😆😅😂🤣", "👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿", "👨‍👩‍👧‍👦 family", "👩🏽‍💻 at work",
    "🏳️‍🌈 🏴‍☠️ 🇯🇵 🇺🇸 🇩🇪 🇧🇷", "1️⃣ 2️⃣ #️⃣ *️⃣", "❤️ ♥ ❤ 🧡 💛",
    "🧑🏿‍🤝‍🧑🏻 🫶🏼 🫠", "I ❤️ NY 🗽!!!", "🤷‍♀️🤷‍♂️🤦🏻‍♀️", "☕️ vs ☕︎ vs ☕",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland", "👁️‍🗨️", "🐈‍⬛🐕‍🦺", "emoji at end 🎉", "🎉emoji at start",
    "x😀y😀z", "🇦🇧🇨", "👨🏻‍❤️‍💋‍👨🏼",
]

PUNCT = [
    "!!!???...", "—–-‐‒", "«quoted» „German“ “curly” ‘single’", "「日本」『引用』【括弧】",
    "...\n\n", "?!\n", "***bold*** ___under___ ~~strike~~", "(((nested)))[[[]]]{{{}}}",
    "<<>>//\\\\||&&", "!@#$%^&*()_+-=[]{};':\",./<>?`~", "…‥、。，．：；！？",
    "→ ← ↑ ↓ ⇒ ⇔ ∞ ≈ ≠ ≤ ≥ ± × ÷", "§¶†‡•‰′″‴", "----------", "==========",
    "#####", "/* */ // -- ##", "'''\"\"\"```", "!!!\r\n", ".\n.\n.\n",
]

URLS = [
    "https://www.example.com/path/to/page?query=1&lang=en#section-2",
    "http://localhost:8080/api/v1/users/42",
    "ftp://ftp.example.org/pub/file.tar.gz",
    "mailto:someone@example.com",
    "see https://huggingface.co/Qwen/Qwen3-Omni-30B-A3B-Instruct/blob/main/config.json for details",
    "user.name+tag@sub.domain.co.uk",
    "C:\\Users\\Admin\\Documents\\file.txt",
    "/usr/local/lib/python3.11/site-packages/tokenizers/__init__.py",
    "https://ja.wikipedia.org/wiki/東京都",
    "https://example.com/%E2%9C%93?x=%20y",
]

JSONS = [
    '{"name": "OmniSage", "version": "0.1.0", "experts": 128, "active": 8, "ok": true}',
    '[1, 2.5, -3e10, null, "x", {"a": [true, false]}]',
    '{"nested": {"deeper": {"deepest": ["a", "b", "c"]}}, "empty": {}, "list": []}',
    '{\n  "model_type": "qwen3_omni_moe",\n  "thinker_config": {\n    "num_experts": 128\n  }\n}',
    '{"unicode": "caf\\u00e9 \\ud83d\\ude00", "escaped": "line\\nbreak\\ttab"}',
]

NUMBERS = [
    "0", "7", "42", "1234567890", "3.14159", "-273.15", "1,234,567.89", "1.234.567,89",
    "6.022e23", "0xDEADBEEF", "0b1010", "+1 (555) 123-4567", "2024-06-11T12:34:56Z",
    "12:30", "100%", "$1,000,000", "€5", "¥100", "₹2,000", "①②③", "¹²³⁴", "½ ¼ ¾", "Ⅻ ⅻ Ⅳ",
    "１２３４５", "٣٤٥", "۷۸۹", "१२३", "๑๒๓", "〇一二三", "99999999999999999999999999999999",
    "3.141592653589793238462643383279502884197169399375105820974944592307816406286",
]

CONTRACTIONS = [
    "I'm", "I've", "I'll", "I'd", "you're", "they'll", "we've", "she'd", "he's", "it's",
    "don't", "can't", "won't", "isn't", "aren't", "wouldn't", "y'all'd've", "O'Neill",
    "rock'n'roll",
    "I'M", "THEY'LL", "WE'VE", "SHE'D", "IT'S", "DON'T", "I’m", "they’ll", "'s", "'t", "'re",
    "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'ſ", "'ſt", " 's",
    "''s", "'123", "'é", "'x", "l'homme", "dell'anno", "'twas",
]

SPECIAL_TEXTS = [
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>"
    "\n<|im_start|>assistant\n",
    "<think>\n\n</think>\n\nThe answer is 42.",
    "<think>Let me reason step by step.</think>Done.",
    "<|audio_start|><|audio_pad|><|audio_end|>",
    "<|audio_start|>" + "<|audio_pad|>" * 20 + "<|audio_end|>",
    "<|vision_start|><|image_pad|><|vision_end|>Describe this image.",
    "<|vision_start|><|video_pad|><|vision_end|>",
    "<tts_pad><tts_text_bos>hello<tts_text_eod><tts_text_bos_single>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<tool_response>\n{\"temp\": 21}\n</tool_response>",
    "<|fim_prefix|>def f(x):\n    <|fim_suffix|>\n    return y<|fim_middle|>",
    "<|repo_name|>omnisage<|file_sep|>src/main.cc",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    " <|im_end|> ",
    "  <|im_start|>  ",
    "<|im_start|><|im_end|><|im_start|><|im_end|>",
    "<<|im_end|>>",
    "<|im_start",
    "|im_end|>",
    "<|im_end|",
    "<|IM_START|>",
    "< |im_start| >",
    "<|im_start|>>",
    "<think>",
    "</think>",
    "<think><think></think></think>",
    "<tts_text_bos_single><tts_text_bos>",
    "<tts_text_bos_singl",
    "<|audio_pad|>x<|audio_pad|>",
    "a<|box_start|>(10,20),(30,40)<|box_end|>b",
    "<|object_ref_start|>the cat<|object_ref_end|>",
    "<|quad_start|><|quad_end|><|vision_pad|>",
    "émoji<|im_end|>é",
    "\n<|im_end|>\n",
    "<|im_end|>\u0301",
    "<|im_end|>\u0338",
    "e<|im_end|>\u0301",
    "<tool_call></tool_call><tool_response></tool_response>",
    "用户<|im_end|>助手",
]

WHITESPACE = [
    " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r", " \n",
    "\n ", " \n ", "\t\n", "\n\t", "  \n\n  ", "a  b", "a\tb", "a\nb", "a\r\nb", "a \n b",
    "a\n\n\nb", "a   \n   b", "    def", "\u00a0", "a\u00a0b", "a\u3000b", "\u2028", "a\u2029b",
    "a\u0085b", "a \u0085 b", "\u180e", "a\u180eb", "\u200b", "a\u200bb", "\u2003\u2003x",
    "\x0b\x0c", "a\x0bb", " " * 40, "\t" * 12, "\n" * 15, " \t \t \t", "\r\n" * 6,
    "end with spaces   ", "   start with spaces", "x\n\n\n\n\ny", "  \r\n  \r\n",
]

# Code points where PCRE2 / utf8proc and HF's Oniguruma / NFC tables use different Unicode
# versions (src/tokenizer/unicode_compat.h).
UNICODE_EDGE = [
    "\u1c89\u1c8a", "\ua7cb\ua7cc\ua7cd", "\U000105c0\U000105c1 x", "\U00010d4a\U00010d65",
    "\U00013460\U00013461", "\U00016100", "\U0001e5d0\U0001e5ed", "\U0002ebf0", "\U00031350",
    "x\U00010d40\U00010d49y", "\U000116d0\U000116e3", "\U0001ccf0\U0001ccf9", "\U0001d2c0",
    "a\u07fd\u0301", "a\u0301\u07fd", "a\u0898\u0334", "a\u0334\u0898", "e\u08ca\u0345",
    "\u0c15\u0c3c\u0c4d", "\u1abf\u1ac0", "o\u1df6\u0301", "\U00011935\U00011930",
    "\U00011938", "a\U0001e4ec\u0327", "\U0001e130\U0001e136", "a\u0345\u1dfa",
    "\U00011f41\U00011f42", "\U00016ff0\U00016ff1",
]

MISC = [
    "", "a", "A", "Z", "0", " ", ".", "\x00", "a\x00b", "\x01\x02\x03\x7f", "\ufeffBOM",
    "\ufffd", "\ue000\uf8ff", "\U000f0000", "\U0010fffd", "\ufffe\uffff", "\U0001fffe",
    "x\u200dy", "x\u200cy", "\u00ad", "\u2060", "\u202e reversed \u202c",
    "ǅ ǈ ǋ", "ß ẞ ŉ ﬁ ﬂ ﬀ", "İ ı ſ K Å", "ﬃ", "Ⓐⓑⓒ", "𝐀𝐁𝐂 𝒳 𝔸", "ℌℑℜ", "™ ® ©",
    "\u0041\u030a vs \u00c5 vs \u212b", "\u1e9b\u0323", "\u0958", "\uf900\uf9d8", "\u2126 \u212a",
    "\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af",
    "\u0915\u093c", "\u0dd9\u0dcf", "\u0b47\u0b3e", "\u0cbf\u0cd5", "\u0d46\u0d3e",
]


def nfd_variants(texts):
    """NFD and NFKD forms of text with precomposed characters: NFC must recompose them."""
    out = []
    for t in texts:
        d = unicodedata.normalize("NFD", t)
        if d != t:
            out.append(d)
    return out


def zalgo(rng, base, n_marks):
    marks = [chr(c) for c in range(0x300, 0x370)]
    return "".join(ch + "".join(rng.choice(marks) for _ in range(rng.randint(0, n_marks)))
                   for ch in base)


def random_codepoint_soup(rng, length):
    """Characters from many blocks, including rare ones."""
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
              (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF),
              (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2190, 0x21FF), (0x2200, 0x22FF),
              (0x2500, 0x257F), (0x3000, 0x303F), (0x3040, 0x30FF), (0x4E00, 0x9FFF),
              (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F),
              (0x1F900, 0x1F9FF), (0x10000, 0x1007F), (0x1D400, 0x1D7FF), (0x20000, 0x2A6DF),
              (0x9, 0xD)]
    out = []
    for _ in range(length):
        lo, hi = rng.choice(blocks)
        cp = rng.randint(lo, hi)
        out.append(chr(cp))
    return "".join(out)


def word_soup(rng, fragments, n):
    seps = [" ", "  ", "\n", "\t", ", ", ". ", "\n\n", "", " - ", "\r\n", "; ", "/"]
    return "".join(rng.choice(fragments) + rng.choice(seps) for _ in range(n))


def build_strings(tokenizer_specials):
    rng = random.Random(SEED)
    strings = []

    def add(s):
        strings.append(s)

    prose = list(PROSE.values())
    base = ENGLISH + CODE + prose + EMOJI + PUNCT + URLS + JSONS + NUMBERS + CONTRACTIONS + \
        SPECIAL_TEXTS + WHITESPACE + UNICODE_EDGE + MISC
    for s in base:
        add(s)
    # Text that is not in NFC: NFD forms of everything with precomposed characters.
    for s in nfd_variants(prose + ENGLISH + EMOJI + NUMBERS + MISC):
        add(s)
    for s in prose:
        add(unicodedata.normalize("NFKD", s))
    # Each sentence of each language on its own, and with surrounding noise.
    for s in prose:
        for sentence in s.replace("。", "。\n").replace("! ", "!\n").replace(". ", ".\n").split("\n"):
            if sentence:
                add(sentence)
                add(" " + sentence)
                add(sentence.upper())
                add(sentence + "\n")
    # Single words of every script with each kind of neighbour.
    words = []
    for s in prose + ENGLISH:
        words.extend(w for w in s.split() if w)
    for _ in range(300):
        w = rng.choice(words)
        ctx = rng.choice(["{}", " {}", "{} ", "'{}'", "({})", "{}!", "\n{}", "{}\n\n", "{}123",
                          "123{}", "{}'s", "{}'LL", "\t{}", "#{}", "@{}", "{}:{}"])
        add(ctx.format(w, rng.choice(words)))
    # Zalgo / stacked combining marks (exercise reordering and composition).
    for _ in range(40):
        add(zalgo(rng, rng.choice(["hello", "éclair", "Ωμέγα", "naïve", "x", "AEIOU", "Ђ"]), 4))
    # Hangul jamo (conjoining, composes into syllables under NFC).
    for _ in range(20):
        s = "".join(chr(rng.randint(0x1100, 0x1112)) + chr(rng.randint(0x1161, 0x1175)) +
                    (chr(rng.randint(0x11A8, 0x11C2)) if rng.random() < 0.5 else "")
                    for _ in range(rng.randint(1, 6)))
        add(s)
    # Whitespace runs of every kind between words, and trailing/leading.
    ws_atoms = [" ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2009", "\x0b", "\x0c"]
    for _ in range(150):
        run = "".join(rng.choice(ws_atoms) for _ in range(rng.randint(1, 8)))
        a, b = rng.choice(words), rng.choice(words)
        add(rng.choice(["{a}{r}{b}", "{r}{a}", "{a}{r}", "{r}", "{a}{r}{r}{b}{r}"]).format(
            a=a, b=b, r=run))
    # Numbers of every length (digits are split one by one).
    for n in range(1, 41):
        add("".join(str(rng.randint(0, 9)) for _ in range(n)))
    for _ in range(60):
        add(rng.choice(["{}.{}", "{},{}", "v{}.{}", "{}x{}", "{}-{}", "#{}{}", "{} {}",
                        "{}\n{}"]).format(rng.randint(0, 10**rng.randint(1, 12)),
                                          rng.randint(0, 10**rng.randint(1, 6))))
    # Contractions inside sentences, mixed case.
    subjects = ["I", "you", "they", "we", "she", "he", "it", "THEY", "We", "Y'all"]
    for _ in range(120):
        add("{}{}{} {}".format(rng.choice(subjects), rng.choice(["'", "’", "''", "'"]),
                               rng.choice(["m", "ll", "ve", "d", "s", "t", "re", "M", "LL", "Ve",
                                           "D", "S", "T", "RE", "ſ", "x"]),
                               rng.choice(words)))
    # Punctuation runs with newlines after them.
    pchars = list("!?.,;:-_=+*/\\|&^%$#@~`'\"()[]{}<>") + ["…", "—", "«", "»", "。", "！", "？"]
    for _ in range(120):
        run = "".join(rng.choice(pchars) for _ in range(rng.randint(1, 10)))
        add(rng.choice(["{p}", " {p}", "{p}\n", "{p}\r\n\n", "word{p}", "{p}word", "{p} {p}"])
            .format(p=run))
    # Added tokens embedded in random text.
    for _ in range(250):
        parts = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.4:
                parts.append(rng.choice(tokenizer_specials))
            else:
                parts.append(rng.choice(words + ["\n", " ", "", "user\n", "assistant\n"]))
        add(rng.choice(["", " ", "\n"]).join(parts))
    # Emoji in context.
    for _ in range(100):
        add(word_soup(rng, EMOJI + words, rng.randint(1, 5)))
    # Code with random identifiers.
    idents = ["x", "i", "foo_bar", "FooBar", "__init__", "self", "std::vector", "arr[i]", "0x1F",
              "nullptr", "None", "λ", "変数", "переменная"]
    for _ in range(120):
        line = "{}{} = {}({}, {}){}".format(rng.choice(["", "    ", "\t", "  "]),
                                            rng.choice(idents), rng.choice(idents),
                                            rng.choice(idents), rng.randint(0, 999),
                                            rng.choice([";", "", "  # note", " // c", "\n"]))
        add(line)
    # Random mixtures of everything.
    for _ in range(400):
        add(word_soup(rng, base + words, rng.randint(2, 12)))
    # Code point soup from many blocks.
    for _ in range(250):
        add(random_codepoint_soup(rng, rng.randint(1, 40)))
    # A few long documents (throughput measurement).
    for i in range(12):
        add(word_soup(rng, base + words, 600 + 40 * i))
    return strings


# --------------------------------------------------------------------------------------------

def write_jsonl(path, tok, strings):
    n_decoded = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for s in strings:
            ids = tok.encode(s).ids
            rec = {"text": s, "ids": ids}
            decoded = tok.decode(ids, skip_special_tokens=False)
            if decoded != s:
                rec["decoded"] = decoded
                n_decoded += 1
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return n_decoded


def bench(tok, strings, repeats):
    total = sum(len(s.encode("utf-8")) for s in strings)
    best_loop = best_batch = float("inf")
    tokens = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in strings:
            tokens += len(tok.encode(s).ids)
        best_loop = min(best_loop, time.perf_counter() - t0)
        t0 = time.perf_counter()
        tok.encode_batch(strings)
        best_batch = min(best_batch, time.perf_counter() - t0)
    tokens //= repeats
    print(f"HF tokenizers encode on {len(strings)} strings, {total / 1e6:.3f} MB, {tokens} tokens:")
    print(f"  one string at a time: {total / best_loop / 1e6:.2f} MB/s "
          f"({tokens / best_loop / 1e6:.2f} M tokens/s)")
    print(f"  encode_batch ({os.cpu_count()} CPUs): {total / best_batch / 1e6:.2f} MB/s "
          f"({tokens / best_batch / 1e6:.2f} M tokens/s)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokenizer-dir", default=os.path.join(REPO, "data", "qwen3-tokenizer"),
                   help="the Qwen3 tokenizer.json to extend (default: data/qwen3-tokenizer)")
    p.add_argument("--omnisage", help="use the tokenizer.json files that `OMNISAGE synth` writes")
    p.add_argument("--out-dir", default=os.path.join(REPO, "tests", "golden", "tokenizer"))
    p.add_argument("--tiny-count", type=int, default=200)
    p.add_argument("--bench", action="store_true", help="also time HF's encode")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    full, tiny = load_tokenizers(args)
    specials = [t.content for t in full.get_added_tokens_decoder().values()]
    strings = build_strings(sorted(specials))
    # Keep the first occurrence of each string, in order.
    seen = set()
    strings = [s for s in strings if not (s in seen or seen.add(s))]

    os.makedirs(args.out_dir, exist_ok=True)
    full_path = os.path.join(args.out_dir, "qwen3_omni.jsonl")
    n_decoded = write_jsonl(full_path, full, strings)
    step = max(1, len(strings) // args.tiny_count)
    tiny_strings = strings[::step][:args.tiny_count]
    tiny_path = os.path.join(args.out_dir, "tiny.jsonl")
    write_jsonl(tiny_path, tiny, tiny_strings)
    print(f"{full_path}: {len(strings)} strings ({n_decoded} decode to other text), "
          f"{os.path.getsize(full_path) / 1e6:.2f} MB")
    print(f"{tiny_path}: {len(tiny_strings)} strings, {os.path.getsize(tiny_path) / 1e6:.2f} MB")
    if args.bench:
        bench(full, strings, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
