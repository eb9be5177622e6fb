#!/usr/bin/env python3
"""End-to-end checks of mimo-cli as a user runs it: info / score / generate on the HF-written
fixtures, and clean one-line failures on malformed checkpoints.

usage: cli_test.py MIMO_CLI DATA_DIR
"""
import array
import ast
import json
import math
import re
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

CLI, DATA = sys.argv[1], sys.argv[2]
MODELS = os.path.join(DATA, "models")
from cli_harness import check, finish, run  # noqa: E402 (the harness reads sys.argv[1])


def load_npy_f32(path):
    """(shape, values) of a little-endian float32 C-order .npy file (format 1.0)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    header_len = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + header_len].decode("latin1"))
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    values = array.array("f")
    values.frombytes(data[10 + header_len:])
    return tuple(header["shape"]), values


def rel_l2(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    return math.sqrt(num) / math.sqrt(sum(y * y for y in b))


def read_ids(path):
    with open(path) as f:
        return [int(t) for t in f.read().split()]


# info on every fixture, both schemas and every precision.
for name, precision in [("tiny-bf16", "BF16"), ("tiny-fp8", "FP8 block"),
                        ("tiny-mxfp4", "MXFP4"), ("tiny-hub-fused", "BF16")]:
    r = run("info", "-m", os.path.join(MODELS, name))
    check(r.returncode == 0 and precision in r.stdout and "layer pattern" in r.stdout,
          f"info {name} lists {precision} parameters")

# score reproduces transformers' logits, written as .npy.
with tempfile.TemporaryDirectory() as tmp:
    for name in ["tiny-bf16", "tiny-fp8", "tiny-mxfp4", "tiny-hub-fused"]:
        ref_dir = os.path.join(MODELS, "tiny-bf16" if name == "tiny-hub-fused" else name,
                               "reference")
        out = os.path.join(tmp, name + ".npy")
        r = run("score", "-m", os.path.join(MODELS, name), "--tokens",
                os.path.join(ref_dir, "tokens_1.txt"), "--logits-out", out)
        ok = r.returncode == 0 and os.path.exists(out)
        if ok:
            got_shape, got = load_npy_f32(out)
            want_shape, want = load_npy_f32(os.path.join(ref_dir, "logits_1.npy"))
            ok = got_shape == want_shape and len(got) == len(want) and rel_l2(got, want) < 1e-5
        check(ok, f"score {name} matches the transformers logits (rel L2 < 1e-5)")

# generate --temp 0 prints transformers' greedy continuation.
for name in ["tiny-bf16", "tiny-fp8", "tiny-mxfp4"]:
    ref_dir = os.path.join(MODELS, name, "reference")
    expected = read_ids(os.path.join(ref_dir, "greedy_output.txt"))
    r = run("generate", "-m", os.path.join(MODELS, name), "--tokens",
            os.path.join(ref_dir, "greedy_prompt.txt"), "-n", str(len(expected)), "--temp", "0")
    check(r.returncode == 0 and [int(t) for t in r.stdout.split()] == expected
          and "decode" in r.stderr, f"generate {name} reproduces the greedy continuation")


# Malformed checkpoints: non-zero exit, one clear error line naming the problem.
def broken_copy(tmp, mutate):
    d = os.path.join(tmp, "broken")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(MODELS, "tiny-bf16"), d, ignore=shutil.ignore_patterns("reference"))
    mutate(d)
    return d


def truncate_weights(d):
    p = os.path.join(d, "model.safetensors")
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.truncate(size - 100)


def lying_header(d):
    p = os.path.join(d, "model.safetensors")
    with open(p, "r+b") as f:
        f.write(struct.pack("<Q", 1 << 40))


def bad_config(key, value):
    def mutate(d):
        p = os.path.join(d, "config.json")
        cfg = json.load(open(p))
        cfg[key] = value
        json.dump(cfg, open(p, "w"))
    return mutate


def drop_config(d):
    os.remove(os.path.join(d, "config.json"))


cases = [
    ("truncated safetensors", truncate_weights, "model.safetensors"),
    ("header length beyond the file", lying_header, "header"),
    ("unknown model_type", bad_config("model_type", "llama"), "model_type"),
    ("heads not divisible by kv heads", bad_config("num_attention_heads", 3), "head"),
    ("layer pattern of the wrong length", bad_config("num_hidden_layers", 7), "layer"),
    ("hidden size disagreeing with the weights", bad_config("hidden_size", 96), "shape"),
    ("missing config.json", drop_config, "config.json"),
]
with tempfile.TemporaryDirectory() as tmp:
    for what, mutate, fragment in cases:
        d = broken_copy(tmp, mutate)
        r = run("info", "-m", d)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        check(r.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:")
              and fragment in lines[0], f"info rejects {what}: {lines[:1]}")
r = run("info", "-m", os.path.join(DATA, "does-not-exist"))
check(r.returncode != 0 and r.stderr.startswith("error:"), "info on a missing path fails cleanly")
r = run("frobnicate")
check(r.returncode != 0, "unknown subcommand fails")

# The shipped demo model is the default; DFlash with its drafter is lossless end to end.
r = run("info")
check(r.returncode == 0 and "share/mimo/demo/mixed" in r.stdout and "MXFP4" in r.stdout,
      "info defaults to the shipped demo model")
plain = run("generate", "-p", "def parse(path):", "-n", "24", "--temp", "0", "--ignore-eos")
spec = run("generate", "-p", "def parse(path):", "-n", "24", "--temp", "0", "--ignore-eos",
           "--speculative", "dflash")
check(plain.returncode == 0 and spec.returncode == 0 and plain.stdout == spec.stdout
      and "mean acceptance" in spec.stderr, "demo model: DFlash greedy output == plain greedy")
def comparison(stderr):
    """{"plain": (tok/s, tokens), "spec": (tok/s, tokens, acceptance), "ratio": x, "same": s} from
    generate --compare-plain's lines, or None when they are missing."""
    plain = re.search(r"^  plain decode +([\d.]+) tok/s \((\d+) tokens\)$", stderr, re.M)
    spec = re.search(r"^  ([\w+]+) +decode +([\d.]+) tok/s \((\d+) tokens\), mean acceptance "
                     r"([\d.]+) tok/step$", stderr, re.M)
    ratio = re.search(r"^  speed-up +([\d.]+)x \([\w+]+ / plain; same tokens: (yes|no)\)$", stderr,
                      re.M)
    if not (plain and spec and ratio) or spec.group(1) == "plain":
        return None
    return {"plain": (float(plain.group(1)), int(plain.group(2))),
            "spec": (float(spec.group(2)), int(spec.group(3)), float(spec.group(4))),
            "ratio": float(ratio.group(1)), "same": ratio.group(2)}


def sane_comparison(c, tokens, block):
    """Both runs decoded `tokens` tokens at a positive rate, the ratio is theirs (to the printed
    rounding) and the acceptance lies in 1 .. block."""
    if c is None:
        return False
    (plain_rate, plain_tokens), (spec_rate, spec_tokens, acceptance) = c["plain"], c["spec"]
    return (plain_tokens == tokens and spec_tokens == tokens and plain_rate > 0 and spec_rate > 0
            and abs(c["ratio"] - spec_rate / plain_rate) <= 0.01 + 0.01 * c["ratio"]
            and 1.0 <= acceptance <= block)


# generate --compare-plain: the speculative run, then a plain one of the same prompt, settings and
# seed; both speeds, their ratio and the acceptance (greedy: the same tokens).
r = run("generate", "-p", "def parse(path):", "-n", "24", "--temp", "0", "--ignore-eos",
        "--speculative", "dflash", "--compare-plain")
c = comparison(r.stderr)
check(r.returncode == 0 and r.stdout == spec.stdout and sane_comparison(c, 23, 8)
      and c["same"] == "yes", "generate --compare-plain prints plain and DFlash tok/s, ratio, "
      "acceptance")
ref_dir = os.path.join(MODELS, "tiny-bf16", "reference")
r = run("generate", "-m", os.path.join(MODELS, "tiny-bf16"), "--tokens",
        os.path.join(ref_dir, "greedy_prompt.txt"), "-n", "12", "--temp", "0.8", "--seed", "4",
        "--ignore-eos", "--speculative", "ngram", "--draft-block", "4", "--compare-plain")
check(r.returncode == 0 and sane_comparison(comparison(r.stderr), 11, 4),
      "generate --compare-plain with sampled n-gram speculation on a fixture")
r = run("generate", "-p", "def parse(path):", "-n", "24", "--temp", "0", "--ignore-eos",
        "--speculative", "dflash+lookup", "--compare-plain")
c = comparison(r.stderr)
check(r.returncode == 0 and r.stdout == spec.stdout and sane_comparison(c, 23, 8)
      and c["same"] == "yes", "generate --speculative dflash+lookup: plain greedy's tokens, compared")
r = run("generate", "-p", "def parse(path):", "-n", "4", "--device", "cpu", "--engine",
        "persistent")
check(r.returncode != 0 and "kPersistent" in r.stderr,
      "generate --engine persistent on the CPU is refused, naming the option")
r = run("generate", "-p", "def parse(path):", "-n", "4", "--compare-plain")
check(r.returncode != 0 and "--compare-plain" in r.stderr and "--speculative" in r.stderr,
      "generate --compare-plain without a speculator fails")
# Sampling on the host or (with a GPU) on the device gives the same text for a seed.
sampled = [run("generate", "-p", "def parse(path):", "-n", "24", "--temp", "0.8", "--top-p", "0.9",
               "--seed", "3", "--ignore-eos", *extra) for extra in ([], ["--host-sampling"])]
check(all(r.returncode == 0 for r in sampled) and sampled[0].stdout == sampled[1].stdout,
      "generate --host-sampling gives the same tokens")

# chat: multi-turn on a tiny model with a tokenizer; Ctrl-C interrupts an answer, EOF exits.
HERE = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, os.path.join(HERE, "make_chat_model.py"), DATA, tmp], check=True)
    r = subprocess.run([CLI, "chat", "-m", tmp, "-n", "8", "--temp", "0"], input="hello\nsecond turn\n",
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0 and r.stdout.count("> ") >= 3 and r.stderr.count("decode") == 2,
          "chat answers two turns and exits on EOF")
    r = run("generate", "-m", tmp, "-p", "def add(a, b):", "-n", "12", "--temp", "0.7",
            "--seed", "5", "--ignore-eos")
    check(r.returncode == 0 and r.stdout.startswith("def add(a, b):") and len(r.stdout) > 16
          and "decode 11 tok" in r.stderr, "generate -p streams text after the prompt")
    r = run("generate", "-m", tmp)
    check(r.returncode != 0 and "--prompt or --tokens" in r.stderr, "generate without a prompt fails")
    # score --perplexity == exp(mean NLL) computed here from the tokenized text's logits.
    text_file = os.path.join(tmp, "text.txt")
    with open(text_file, "w") as f:
        f.write("def add(a, b):\n    return a + b  # 你好 naïve\n" * 3)
    ids = run("tokenize", "-m", tmp, "--ids", "-p", open(text_file).read()).stdout.split()
    ids_file = os.path.join(tmp, "ids.txt")
    with open(ids_file, "w") as f:
        f.write(" ".join(ids))
    npy = os.path.join(tmp, "ppl.npy")
    scored = run("score", "-m", tmp, "--tokens", ids_file, "--logits-out", npy)
    ppl = run("score", "-m", tmp, "--perplexity", text_file)
    expected = None
    if scored.returncode == 0 and len(ids) > 2:
        (rows, vocab), logits = load_npy_f32(npy)
        nll = 0.0
        for t in range(rows - 1):
            row = logits[t * vocab:(t + 1) * vocab]
            m = max(row)
            nll += m + math.log(sum(math.exp(v - m) for v in row)) - row[int(ids[t + 1])]
        expected = math.exp(nll / (rows - 1))
    numbers = [float(w) for w in ppl.stdout.replace("=", " ").split() if w.replace(".", "", 1).isdigit()]
    check(ppl.returncode == 0 and expected is not None and
          any(abs(n - expected) <= 1e-3 * expected for n in numbers),
          f"score --perplexity agrees with the logits ({expected}; printed: {ppl.stdout.strip()})")
    chat = subprocess.Popen([CLI, "chat", "-m", tmp, "-n", "1000000", "--temp", "1", "--seed", "1",
                             "--context", "1000000", "--ignore-eos"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    chat.stdin.write("write forever\n")
    chat.stdin.flush()
    import time
    time.sleep(2.0)
    chat.send_signal(signal.SIGINT)
    time.sleep(0.5)
    alive = chat.poll() is None
    out, err = chat.communicate(input="", timeout=120)
    check(alive and "[interrupted]" in out and chat.returncode == 0,
          "Ctrl-C interrupts the answer, the chat goes on, EOF then exits")

finish()
