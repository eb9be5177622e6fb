"""Training data of the demo model: permissively licensed Python source from the GPU machine's
site-packages (train packages vs one held-out package), the byte-level BPE tokenizer trained on
it (Qwen2-style: NFC, Split with the Qwen2 regex, ByteLevel without its own regex) and the
tokenized streams (documents joined by <|endoftext|>)."""

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import random
import zlib

import numpy as np

from common import log

# (import name, distribution name). Only packages whose metadata names a BSD, MIT or Apache
# license are used; anything else is skipped and logged.
TRAIN_PACKAGES = [
    ("torch", "torch"), ("transformers", "transformers"), ("numpy", "numpy"), ("scipy", "scipy"),
    ("sympy", "sympy"), ("pandas", "pandas"), ("sklearn", "scikit-learn"), ("jax", "jax"),
    ("flax", "flax"), ("statsmodels", "statsmodels"), ("skimage", "scikit-image"),
    ("torchvision", "torchvision"), ("xarray", "xarray"), ("accelerate", "accelerate"),
    ("timm", "timm"), ("rich", "rich"), ("requests", "requests"),
]
HELDOUT_PACKAGES = [("networkx", "networkx")]
PERMISSIVE_MARKERS = ("BSD", "MIT", "Apache")

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>"]
# Qwen2's pre-tokenizer pattern, verbatim from its tokenizer.json.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")
MAX_FILE_BYTES = 400_000
MIN_FILE_BYTES = 64


def package_license(dist):
    md = importlib.metadata.metadata(dist)
    expr = md.get("License-Expression") or ""
    classifiers = [c.split("::")[-1].strip() for c in (md.get_all("Classifier") or [])
                   if c.startswith("License ::")]
    field = (md.get("License") or "").strip()
    first = field.splitlines()[0][:80] if field else ""
    label = expr or "; ".join(classifiers) or first
    haystack = " ".join([expr, " ".join(classifiers), first])
    return label, any(m in haystack for m in PERMISSIVE_MARKERS), md.get("Version")


def package_root(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def read_package(name, max_bytes, seen):
    """Python files of one package (seeded order), deduplicated by content across packages."""
    root = package_root(name)
    paths = []
    for d, _, files in os.walk(root):
        paths += [os.path.join(d, f) for f in files if f.endswith(".py")]
    paths.sort()
    random.Random(zlib.crc32(name.encode())).shuffle(paths)
    docs, total = [], 0
    for p in paths:
        try:
            raw = open(p, "rb").read()
        except OSError:
            continue
        if not MIN_FILE_BYTES <= len(raw) <= MAX_FILE_BYTES or b"\x00" in raw:
            continue
        h = hashlib.sha1(raw).digest()
        if h in seen:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        seen.add(h)
        docs.append(text)
        total += len(raw)
        if total >= max_bytes:
            break
    return docs, total, root


def collect(train_mb, package_mb, heldout_mb):
    seen, manifest = set(), {"train": [], "heldout": [], "skipped": []}
    out = {"train": [], "heldout": []}
    for split, pkgs, cap_total in (("heldout", HELDOUT_PACKAGES, heldout_mb),
                                   ("train", TRAIN_PACKAGES, train_mb)):
        used = 0
        for name, dist in pkgs:
            if used >= cap_total * 2**20:
                break
            try:
                label, ok, version = package_license(dist)
            except importlib.metadata.PackageNotFoundError:
                manifest["skipped"].append({"package": name, "why": "not installed"})
                continue
            if not ok or package_root(name) is None:
                manifest["skipped"].append({"package": name, "license": label,
                                            "why": "not permissive" if not ok else "no source"})
                continue
            cap = min(package_mb if split == "train" else heldout_mb, cap_total) * 2**20
            docs, nbytes, root = read_package(name, min(cap, cap_total * 2**20 - used), seen)
            used += nbytes
            out[split] += docs
            manifest[split].append({"package": name, "distribution": dist, "version": version,
                                    "license": label, "files": len(docs), "bytes": nbytes,
                                    "root": str(root)})
            log(f"{split}: {name} {version} [{label}] {len(docs)} files, {nbytes / 2**20:.1f} MiB")
    random.Random(1).shuffle(out["train"])
    random.Random(2).shuffle(out["heldout"])
    return out, manifest


def train_tokenizer(docs, vocab_size, sample_mb):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers import processors, trainers
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    sample, total = [], 0
    for d in docs:
        sample.append(d)
        total += len(d)
        if total >= sample_mb * 2**20:
            break
    tok.train_from_iterator(sample, trainer=trainer, length=len(sample))
    log(f"tokenizer: trained on {len(sample)} files ({total / 2**20:.1f} MiB), "
        f"vocab {tok.get_vocab_size()}")
    return tok


def save_tokenizer(tok, out_dir, model_max_length):
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    added = {str(tok.token_to_id(t)): {"content": t, "lstrip": False, "rstrip": False,
                                       "normalized": False, "single_word": False,
                                       "special": True} for t in SPECIAL_TOKENS}
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False,
           "add_prefix_space": False, "bos_token": None, "eos_token": "<|endoftext|>",
           "pad_token": "<|endoftext|>", "unk_token": None, "clean_up_tokenization_spaces": False,
           "model_max_length": model_max_length, "added_tokens_decoder": added,
           "chat_template": CHATML_TEMPLATE}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def encode_stream(tok, docs, eos_id):
    """All documents as one uint16 stream: doc0 <eos> doc1 <eos> ..."""
    enc = getattr(tok, "encode_batch_fast", tok.encode_batch)
    parts = []
    chunk = 2048
    for i in range(0, len(docs), chunk):
        for e in enc(docs[i:i + chunk], add_special_tokens=False):
            parts.append(np.asarray(e.ids, dtype=np.uint16))
            parts.append(np.asarray([eos_id], dtype=np.uint16))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)


def check_roundtrip(tok, docs, n=50):
    """Byte-level BPE must reproduce NFC text exactly: counts the files that do not."""
    import unicodedata
    bad = 0
    for d in docs[:n]:
        ids = tok.encode(d, add_special_tokens=False).ids
        if tok.decode(ids, skip_special_tokens=False) != unicodedata.normalize("NFC", d):
            bad += 1
    return bad
