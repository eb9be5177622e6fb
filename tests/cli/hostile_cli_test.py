#!/usr/bin/env python3
"""Hostile command lines and models for mimo-cli (issue 21): numbers out of their option's type
are usage errors (never clamped or wrapped), hostile token-id files are refused naming the file
and the place, and NaN / infinite logits fail `score` and
`score --perplexity` with the token position instead of printing garbage with exit 0.

usage: hostile_cli_test.py MIMO_CLI DATA_DIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

CLI, DATA = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(DATA, "models", "tiny-bf16")
from cli_harness import check, finish, run  # noqa: E402 (the harness reads sys.argv[1])


def poison_embedding(model_dir, token, bf16_bits):
    """Sets the embedding row of `token` in model_dir/model.safetensors to one BF16 value."""
    path = os.path.join(model_dir, "model.safetensors")
    blob = bytearray(open(path, "rb").read())
    header_len = struct.unpack("<Q", blob[:8])[0]
    info = json.loads(blob[8:8 + header_len])["model.embed_tokens.weight"]
    hidden = info["shape"][1]
    begin = 8 + header_len + info["data_offsets"][0] + token * hidden * 2
    blob[begin:begin + hidden * 2] = struct.pack("<H", bf16_bits) * hidden
    open(path, "wb").write(blob)


with tempfile.TemporaryDirectory() as tmp:
    ids = os.path.join(tmp, "ids.txt")
    with open(ids, "w") as f:
        f.write("5 17 42 99")
    gen = ["generate", "-m", TINY, "--tokens", ids, "-n", "3", "--ignore-eos", "--device", "cpu"]

    # Out of range for the option's type: a usage error naming the option, never a clamp.
    for option, value in [("--seed", "18446744073709551616"), ("--seed", "-1"),
                          ("--seed", "99999999999999999999999"), ("--threads", "4294967296"),
                          ("--context", "9223372036854775808"), ("--max-tokens", "2147483648"),
                          ("--top-k", "-99999999999"), ("--temp", "1e999"), ("--temp", "1e39"),
                          ("--top-p", "nan"), ("--seed", "12abc"), ("--seed", "0x10"),
                          ("--threads", "-1"), ("--threads", "100000")]:
        r = run(*gen, option, value)
        check(r.returncode != 0 and option in r.stderr and value in r.stderr,
              f"{option} {value} is refused ({r.stderr.strip().splitlines()[:1]})")
    r = run(*gen, "--seed", "18446744073709551615", "--temp", "1")
    check(r.returncode == 0, "--seed 2^64 - 1 (the largest) is accepted")
    a = run(*gen, "--seed", "010", "--temp", "1")
    b = run(*gen, "--seed", "10", "--temp", "1")
    check(a.returncode == 0 and a.stdout == b.stdout, "--seed 010 is decimal 10, not octal 8")

    # Hostile token-id files: one error line naming the file and where, exit 1 (the parser's
    # every case: tests/cli/token_file_test.cpp, fuzz/fuzz_token_ids.cpp).
    for content, expected in [("5 17\n42 -1", "line 2, column 4"), ("", "no token ids"),
                              ("5 2147483648", "beyond the largest id"),
                              ("5 300 7", "token 1 (id 300) is outside the vocabulary")]:
        bad = os.path.join(tmp, "bad_ids.txt")
        with open(bad, "w") as f:
            f.write(content)
        for command in (["score", "-m", TINY, "--tokens", bad, "--device", "cpu"],
                        ["generate", "-m", TINY, "--tokens", bad, "-n", "1", "--device", "cpu"]):
            r = run(*command)
            check(r.returncode == 1 and r.stderr.startswith(f"error: {bad}: ")
                  and expected in r.stderr and "terminate" not in r.stderr,
                  f"{command[0]} --tokens {content!r} is refused ({r.stderr.strip()})")
    r = run("score", "-m", TINY, "--tokens", tmp, "--device", "cpu")
    check(r.returncode == 1 and "is a directory" in r.stderr, "score --tokens DIR is refused")
    r = run("score", "-m", TINY, "--tokens", ids, "--device", "cpu")
    check(r.returncode == 0 and "scored 4 tokens" in r.stdout, "a good token file still scores")

    # NaN / inf weights: exit 1 naming the position; no logits file written. (An infinite
    # embedding turns into NaN at the first norm, so both report NaN.)
    for name, bits in [("nan", 0x7FC0), ("inf", 0x7F80)]:
        model = os.path.join(tmp, name)
        os.makedirs(model)
        for f in ("config.json", "model.safetensors"):
            with open(os.path.join(TINY, f), "rb") as src, open(os.path.join(model, f), "wb") as dst:
                dst.write(src.read())
        poison_embedding(model, 42, bits)
        out = os.path.join(tmp, name + ".npy")
        r = run("score", "-m", model, "--tokens", ids, "--logits-out", out, "--device", "cpu")
        check(r.returncode == 1 and "context position 2" in r.stderr and "NaN" in r.stderr
              and not os.path.exists(out), f"score on {name} logits fails at position 2")
        r = run("score", "-m", model, "--tokens", ids, "--check-activations")
        check(r.returncode == 1 and f"the embed produced {'NaN' if name == 'nan' else '+inf'} at "
              "context position 2" in r.stderr,
              f"score --check-activations names the op that made the {name} ({r.stderr.strip()})")

    # Perplexity on the chat model (tokenizer included) with the row of a token of the text
    # poisoned: an error naming the position, not "perplexity -nan".
    chat = os.path.join(tmp, "chat")
    subprocess.run([sys.executable, os.path.join(HERE, "make_chat_model.py"), DATA, chat],
                   check=True)
    r = run("detokenize", "-m", chat, "-p", "[1, x]")
    check(r.returncode == 1 and "detokenize input: line 1, column 5: expected a token id" in r.stderr,
          f"detokenize refuses a malformed id list ({r.stderr.strip()})")
    text = os.path.join(tmp, "text.txt")
    with open(text, "w") as f:
        f.write("def add(a, b):\n    return a + b\n")
    text_ids = run("tokenize", "-m", chat, "--ids", "-p", open(text).read()).stdout.split()
    first = text_ids.index(text_ids[3])  # the poisoned token's first position
    poison_embedding(chat, int(text_ids[3]), 0x7FC0)
    r = run("score", "-m", chat, "--perplexity", text, "--device", "cpu")
    check(r.returncode == 1 and "NaN" in r.stderr and f"context position {first}" in r.stderr
          and "nan" not in r.stdout, f"perplexity with NaN logits fails ({r.stderr.strip()})")

    # A chat template that renders the conversation as nothing: an error saying so, not
    # "empty prompt and empty context".
    config_path = os.path.join(chat, "tokenizer_config.json")
    config = json.load(open(config_path))
    config["chat_template"] = "{{ '' }}"
    json.dump(config, open(config_path, "w"))
    r = subprocess.run([CLI, "chat", "-m", chat, "-n", "2", "--device", "cpu"], input="hi\n",
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 1 and "the chat template rendered the conversation as no tokens"
          in r.stderr, f"chat with an empty-rendering template is refused ({r.stderr.strip()})")

finish()
