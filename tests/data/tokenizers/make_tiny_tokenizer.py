#!/usr/bin/env python3
"""Writes tiny/tokenizer.json and tiny/tokenizer_config.json: a Qwen-style byte-level BPE
tokenizer small enough for unit tests (256 byte tokens + merges learned here on a short text),
with added tokens exercising the special / lstrip / rstrip / single_word / normalized flags.
Run once; the output is committed."""
import collections
import json
import os
import re

QWEN_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TEXT = """The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.
int main() { return 0; } for (int i = 0; i < n; ++i) { sum += i; }
def main(): print("hello world") return None
Hello world, hello there. 你好世界，你好！ Ünïcödé café naïve. 😀 emoji 😀
the the the then there these those this that thing think thought through
"""


def bytes_to_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    # Crude word split for training only (ASCII-ish); the merges just need to be plausible.
    words = collections.Counter(re.findall(r" ?\w+| ?[^\w\s]+|\s+", TEXT))
    seqs = {w: [b2u[b] for b in w.encode()] for w in words}
    merges = []
    for _ in range(300):
        pairs = collections.Counter()
        for w, count in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        (a, b), count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if count < 1:
            break
        merges.append(f"{a} {b}")
        vocab.setdefault(a + b, len(vocab))
        for w in seqs:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out

    def added(content, special, **flags):
        entry = {"id": len(vocab) + len(added_tokens), "content": content, "single_word": False,
                 "lstrip": False, "rstrip": False, "normalized": False, "special": special}
        entry.update(flags)
        added_tokens.append(entry)

    added_tokens = []
    added("<|endoftext|>", True)
    added("<|im_start|>", True)
    added("<|im_end|>", True)
    added("<think>", False)
    added("</think>", False)
    added("<mask>", True, lstrip=True, rstrip=True)
    added("[cat]", False, single_word=True)
    added("naïve", False, normalized=True)
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges},
    }
    chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
              " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
              "{{ '<|im_start|>assistant\\n' }}{% endif %}")
    config = {"add_bos_token": False, "bos_token": None, "eos_token": "<|im_end|>",
              "pad_token": "<|endoftext|>", "clean_up_tokenization_spaces": False,
              "model_max_length": 4096, "tokenizer_class": "Qwen2Tokenizer", "chat_template": chatml}
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny")
    os.makedirs(here, exist_ok=True)
    with open(os.path.join(here, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
    with open(os.path.join(here, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
    print(len(vocab), "vocab,", len(merges), "merges,", len(added_tokens), "added tokens")


main()
