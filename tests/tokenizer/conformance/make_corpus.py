#!/usr/bin/env python3
"""Writes corpus.json, the conformance corpus (run once; the output is committed).

Each case is {"name", "text"} or {"name", "hex"} (raw bytes, for invalid UTF-8), optionally
"repeat" (the bytes repeated n times) and "prefixes" (also compare decode of every id prefix).
Characters are kept to Unicode 13 so utf8proc, PCRE2 and node agree on their properties.
"""
import json
import random
import unicodedata

cases = []


def add(name, text, **extra):
    cases.append({"name": name, "text": text, **extra})


def add_hex(name, data, **extra):
    cases.append({"name": name, "hex": data.hex(), **extra})


add("empty", "")
add("hello", "Hello world")
add("english", "The quick brown fox jumps over the lazy dog. It's 5 o'clock; don't panic!")
add("contractions", "I'm sure you'll say we've been there, they'd agree. DON'T SHOUT, It'S FINE y'all'll")
add("cpp", "#include <vector>\nint main(int argc, char** argv) {\n\tstd::vector<int> v{1, 2, 3};\n"
    "\tfor (auto& x : v) x *= 2;  // double\n\treturn v.size() > 2 ? 0 : 1;\n}\n")
add("python", "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
    "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n"
    "print(f\"{fib(30)=}\")\n")
add("rust", "fn main() {\n    let xs: Vec<u64> = (1..=10).map(|x| x * x).collect();\n"
    "    println!(\"{:?}\", xs.iter().sum::<u64>());\n}\r\n")
add("javascript", "const f = async (url) => {\n  const r = await fetch(url);\n  return r.ok ? r.json() : null;\n};\n"
    "export default { f, x: [1,2,3].map(v => v ** 2) };")
add("go", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tch <- 42\n\tfmt.Println(<-ch)\n}\n")
add("sql_shell", "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;\n$ grep -rn 'TODO' src/ | wc -l && echo $?")
add("html_json", "<div class=\"a\">&nbsp;<b>bold</b></div>\n{\"key\": [1, 2.5, null, true], \"nested\": {\"k\": \"v\"}}")
add("latex", "\\frac{\\partial L}{\\partial w_{ij}} = \\sum_k \\delta_k x_i \\quad \\forall i \\in [1, n]")
add("chinese", "今天天气很好，我们去公园散步吧！机器学习是人工智能的一个分支。")
add("japanese", "東京は日本の首都です。ひらがなとカタカナ、そして漢字を使います。ガギグゲゴ")
add("korean", "안녕하세요, 세계! 한국어 텍스트를 토큰화합니다.")
add("mixed_cjk_latin", "GPT-4和Claude都是LLM。日本語とEnglishのmix、한국어도OK。")
add("emoji", "I love it 😀😃😄 🙂 👍 🎉🎉 ❤️ ✨")
add("emoji_zwj", "Family: 👨‍👩‍👧‍👦 couple: 👩‍❤️‍👨 tech: 👩🏽‍💻 flag: 🏳️‍🌈", prefixes=True)
add("emoji_modifiers", "👍🏻👍🏼👍🏽👍🏾👍🏿 🇯🇵🇺🇸🇩🇪 1️⃣ #️⃣")
add("combining", "e\u0301 a\u0308 o\u0302\u0323 n\u0303 A\u030a x\u0323\u0307 q\u0307\u0323")
add("nfc_pair_nfc", unicodedata.normalize("NFC", "café naïve résumé Ångström Việt Nam"))
add("nfc_pair_nfd", unicodedata.normalize("NFD", "café naïve résumé Ångström Việt Nam"))
add("nfc_singletons", "\u212b \u2126 \u212a \u0344 \u0958 \uf900 \u1e9b\u0323")
add("hangul_nfd", unicodedata.normalize("NFD", "한국어 텍스트"))
add("hangul_jamo_mix", "\u1100\u1161\u11a8 \uac00\u11a8 \u1112\u1161\u11ab")
add("kana_voicing", "\u304b\u3099\u30cf\u309a \u304c")
add("devanagari", "नमस्ते दुनिया। हिन्दी भाषा क़ ख़")
add("arabic_hebrew", "مرحبا بالعالم ١٢٣ שָׁלוֹם עוֹלָם")
add("thai_vietnamese", "สวัสดีครับ ภาษาไทย Tiếng Việt có dấu")
add("greek_cyrillic", "Ελληνικά γράμματα ΑΒΓ Привет, мир! Ёлка")
add("whitespace_runs", "a  b   c    d\t\te\t \tf        g")
add("newlines", "line1\nline2\n\nline3\n\n\n  indented\r\nwindows\r\n\r\nend\r")
add("trailing_ws", "   leading and trailing   \n  ")
add("unicode_spaces", "a\u00a0b\u2003c\u3000d\u2009e\u202ff\u205fg\u1680h")
add("odd_whitespace", "a\u000bb\u000cc\u0085d\u2028e\u2029f\ufeffg\u200bh\u180ei")
add("only_spaces", " " * 17)
add("only_newlines", "\n" * 9)
add("tabs_newlines", "\t\n\t\n\n\t\t  \n \r\n\t")
add("numbers", "0 1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890")
add("numbers_long", "3.14159265358979323846264338327950288419716939937510 -42 1e-10 1,000,000 0xDEADBEEF")
add("numbers_unicode", "١٢٣ ۴۵۶ ०१२ １２３ ²³ ½ ⅓ Ⅻ ⑦ 〇")
add("dates", "2024-01-15T12:34:56Z, 15/01/2024, v1.2.3-rc.4+build.567")
add("special_tokens", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n", prefixes=True)
add("special_adjacent", "word<|endoftext|>word <|endoftext|> <|im_start|><|im_end|>x")
add("special_partial", "<|im_sta <|im_end <|im_start|<|im_start|>|> <| |>")
add("think_tags", "<think>\nLet me reason.\n</think>\n\nThe answer is 42.<tool_call>{}</tool_call>")
add("special_ws", "  <|im_start|>  \n\t<|im_end|>\n\n")
add("punctuation", "Hello!!! What??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}")
add("quotes", "\"double\" 'single' «guillemets» „low“ ‘curly’ `back` ’s 's")
add("math_symbols", "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x| ∑∫∂∇ ≠ ≈ ≤ ≥ ∞")
add("url_email", "https://example.com/path?query=1&x=y#frag mailto:user@example.org C:\\Users\\me\\file.txt")
add("control_chars", "a\u0000b\u0001c\u001fd\u007fe")
add("long_letters", "a", repeat=5000)
add("long_ab", "ab", repeat=3000)
add("long_cjk", "漢字", repeat=1500)
add("long_digits", "7", repeat=4000)
add("long_punct", "!?", repeat=2000)
add("long_spaces_word", " " * 3000 + "x")
add("long_newlines", "\n", repeat=2500)
add("long_emoji", "😀", repeat=1000)
add("long_mixed_word", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", repeat=200)
add_hex("invalid_ff", b"A\xffB")
add_hex("invalid_overlong", b"x\xc0\x80y\xe0\x80\xafz", prefixes=True)
add_hex("invalid_surrogate", b"a\xed\xa0\x80b\xed\xbf\xbfc")
add_hex("invalid_too_big", b"\xf4\x90\x80\x80 and \xf8\x88\x80\x80\x80")
add_hex("invalid_truncated_end", b"hello \xe2\x82")
add_hex("invalid_truncated_mid", b"\xe4\xbd hi \xf0\x9f\x98 there \xc3")
add_hex("invalid_lone_continuation", b"\x80\x81abc\xbf")
add_hex("invalid_in_special", b"<|im_start|>\xff<|im_end|>\xfe\xfe")
add_hex("invalid_mixed", "日本".encode() + b"\xe6\x97" + "語 ok".encode() + b"\xa0\xa1")

# Random mixtures from a pool of old, assigned characters (fixed seed: the corpus is stable).
pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + list(" \t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`")
        + list("éèüßñçøåÆŒ") + list("中文字测试日本語かなカナ한글") + list("αβγδЖЯ")
        + ["\u0301", "\u0308", "\u3099", "\u00a0", "\u3000", "😀", "👍", "\u200d", "🏽", "١", "٣"]
        + ["<|im_start|>", "<|im_end|>", " ", "  ", "\n\n", "'s", "'LL"])
rng = random.Random(20260512)
for i in range(60):
    n = rng.randint(1, 120)
    add(f"random_{i:02d}", "".join(rng.choice(pool) for _ in range(n)))

with open("corpus.json", "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(len(cases), "cases")
