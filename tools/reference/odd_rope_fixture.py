"""tiny-odd-rope: tiny-bf16's geometry with head_dim 64, so d = int(64 * 0.334) = 21 is odd.
transformers builds ceil(21 / 2) = 11 inverse frequencies over d and rotates the first 22 dims
(neox halves of 11); the fixture's logits, hidden states and greedy continuation pin that down
for the C++ engine (issue 23, item 1). Standalone; run on the GPU machine from the repository
root (CPU float32, like make_fixtures.py):

    python3 tools/reference/odd_rope_fixture.py --out /tmp/fx

and unpack /tmp/fx into tests/data (it writes models/tiny-odd-rope only)."""

import argparse
import json
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_model import (SEED, assert_same_weights, describe_safetensors, load_f32, log,  # noqa: E402
                        new_random_model, random_sequences, save_bf16, start_run, tiny_config,
                        write_reference)

HEAD_DIM = 64
ODD_D = 21  # int(64 * 0.334)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    start_run()
    d = os.path.join(os.path.abspath(args.out), "models", "tiny-odd-rope")
    os.makedirs(d, exist_ok=True)
    seqs, prompt = random_sequences(torch.Generator().manual_seed(SEED))  # tiny-bf16's
    cfg = tiny_config(head_dim=HEAD_DIM)
    model = new_random_model(cfg, torch.Generator().manual_seed(SEED + 3))
    save_bf16(model, d)
    describe_safetensors(os.path.join(d, "model.safetensors"))
    ref_model = load_f32(d)
    assert_same_weights(model, ref_model, "tiny-odd-rope")
    rot = ref_model.model.rotary_emb
    facts = {}
    for lt in ("full_attention", "sliding_attention"):
        inv = getattr(rot, lt + "_inv_freq")
        log(f"rope {lt}: {inv.numel()} inv_freq {inv.tolist()}")
        # The premise of the fixture: an odd d gives ceil(d / 2) frequencies over d.
        if inv.numel() != (ODD_D + 1) // 2:
            raise RuntimeError(f"{lt}: {inv.numel()} frequencies, expected {(ODD_D + 1) // 2}")
        facts[lt] = {"inv_freq_count": inv.numel(), "inv_freq": inv.tolist()}
    info = write_reference(ref_model, os.path.join(d, "reference"), seqs, prompt)
    info["rope"] = facts
    info["transformers_version"] = transformers.__version__
    with open(os.path.join(d, "reference", "manifest.json"), "w") as f:
        json.dump(info, f, indent=1)
    with open(os.path.join(d, "EXPECTED.md"), "w") as f:
        f.write("tiny-bf16's geometry with head_dim 64: int(64 * 0.334) = 21, an odd rotary dim "
                "(11 frequencies over 21, 22 dims rotated). Made by "
                "tools/reference/odd_rope_fixture.py; reference/ holds transformers' float32 "
                "outputs.\n")
    log("wrote", d)


if __name__ == "__main__":
    main()
