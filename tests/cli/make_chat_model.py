#!/usr/bin/env python3
"""Makes a chat-capable tiny model for the CLI tests: tests/data/models/tiny-bf16 with its
embedding and lm_head grown to the tiny tokenizer's vocabulary (new rows random bf16), plus the
tokenizer files. Standard library only.

usage: make_chat_model.py DATA_DIR OUT_DIR
"""
import json
import os
import random
import shutil
import struct
import sys

data_dir, out_dir = sys.argv[1], sys.argv[2]
src = os.path.join(data_dir, "models", "tiny-bf16")
tok_dir = os.path.join(data_dir, "tokenizers", "tiny")
os.makedirs(out_dir, exist_ok=True)

tokenizer = json.load(open(os.path.join(tok_dir, "tokenizer.json")))
vocab = 1 + max([*tokenizer["model"]["vocab"].values(), *[t["id"] for t in tokenizer["added_tokens"]]])

with open(os.path.join(src, "model.safetensors"), "rb") as f:
    blob = f.read()
header_len = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + header_len])
data = blob[8 + header_len:]
header.pop("__metadata__", None)
rng = random.Random(1234)

tensors = []
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    begin, end = info["data_offsets"]
    raw = data[begin:end]
    shape = list(info["shape"])
    if name in ("model.embed_tokens.weight", "lm_head.weight"):
        assert info["dtype"] == "BF16"
        extra_rows = vocab - shape[0]
        extra = bytearray()
        for _ in range(extra_rows * shape[1]):
            bits = struct.unpack("<I", struct.pack("<f", rng.gauss(0.0, 0.3)))[0] >> 16
            extra += struct.pack("<H", bits)
        raw = raw + bytes(extra)
        shape[0] = vocab
    tensors.append((name, info["dtype"], shape, raw))

out_header, offset, payload = {}, 0, bytearray()
for name, dtype, shape, raw in tensors:
    out_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    payload += raw
    offset += len(raw)
text = json.dumps(out_header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + payload)

config = json.load(open(os.path.join(src, "config.json")))
config["vocab_size"] = vocab
json.dump(config, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
for name in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(tok_dir, name), out_dir)
