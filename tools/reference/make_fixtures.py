#!/usr/bin/env python3
"""Builds the HF-transformers reference fixtures that the C++ engine is tested against.

Every model is a tiny random MiMo-V2 (transformers `mimo_v2_flash`) whose weights are rounded to
bf16 before anything is computed, so the float32 references are exact functions of the stored
weights. References are computed by transformers itself (eager attention, float32, CPU) on the
weights as stored (quantized fixtures: on the dequantized weights). See tools/reference/README.md.

Usage: python3 make_fixtures.py --out DIR
(writes DIR/models/..., DIR/dflash/..., DIR/manifest.json)
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback

import torch
from safetensors.torch import load_file, save_file

import transformers
from dflash_fixture import make_dflash
from fp8_fixture import make_tiny_fp8
from mxfp4_fixture import make_tiny_mxfp4
from tiny_model import (LAYER_TYPES, MANIFEST, SEED, assert_same_weights, describe_safetensors,
                        load_f32, log, new_random_model, random_sequences, save_bf16,
                        start_run, tiny_config, write_reference)


def make_tiny_bf16(root, gen, seqs, prompt):
    d = os.path.join(root, "models", "tiny-bf16")
    cfg = tiny_config()
    model = new_random_model(cfg, gen)
    save_bf16(model, d)
    describe_safetensors(os.path.join(d, "model.safetensors"))
    ref_model = load_f32(d)
    assert_same_weights(model, ref_model, "tiny-bf16")
    for i, layer in enumerate(ref_model.model.layers):
        a = layer.self_attn
        log(f"layer {i}: {a.layer_type} q {tuple(a.q_proj.weight.shape)} k "
            f"{tuple(a.k_proj.weight.shape)} v {tuple(a.v_proj.weight.shape)} sinks "
            f"{None if a.sinks is None else tuple(a.sinks.shape)} window {a.sliding_window}")
    rot = ref_model.model.rotary_emb
    for lt in set(LAYER_TYPES):
        log(f"rope {lt}: inv_freq {getattr(rot, lt + '_inv_freq').tolist()}")
    info = write_reference(ref_model, os.path.join(d, "reference"), seqs, prompt)
    MANIFEST["tiny-bf16"] = info
    return model, ref_model


def hub_config(c):
    """The hub `mimo_v2` (remote-code) config equivalent to a native mimo_v2_flash config."""
    lt, mt = c["layer_types"], c["mlp_layer_types"]
    rp = c["rope_parameters"]
    return {
        "architectures": ["MiMoV2ForCausalLM"], "model_type": "mimo_v2",
        "vocab_size": c["vocab_size"], "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"], "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "swa_num_attention_heads": c["num_attention_heads"],
        "swa_num_key_value_heads": 2 * c["num_key_value_heads"],
        "head_dim": c["head_dim"], "swa_head_dim": c["head_dim"],
        "v_head_dim": c["v_head_dim"], "swa_v_head_dim": c["v_head_dim"],
        "hybrid_layer_pattern": [1 if t == "sliding_attention" else 0 for t in lt],
        "moe_layer_freq": [1 if t == "sparse" else 0 for t in mt],
        "rope_theta": rp["full_attention"]["rope_theta"],
        "swa_rope_theta": rp["sliding_attention"]["rope_theta"],
        "partial_rotary_factor": rp["full_attention"]["partial_rotary_factor"],
        "sliding_window": c["sliding_window"], "sliding_window_size": c["sliding_window"],
        "attention_value_scale": c["attention_value_scale"],
        "add_swa_attention_sink_bias": True, "add_full_attention_sink_bias": False,
        "layernorm_epsilon": c["rms_norm_eps"],
        "n_routed_experts": c["n_routed_experts"], "num_experts_per_tok": c["num_experts_per_tok"],
        "moe_intermediate_size": c["moe_intermediate_size"], "n_shared_experts": None,
        "scoring_func": "sigmoid", "topk_method": "noaux_tc", "n_group": c["n_group"],
        "topk_group": c["topk_group"], "norm_topk_prob": c["norm_topk_prob"],
        "routed_scaling_factor": c["routed_scaling_factor"],
        "hidden_act": "silu", "attention_bias": False, "tie_word_embeddings": False,
        "max_position_embeddings": c["max_position_embeddings"],
        "attention_projection_layout": "fused_qkv", "num_nextn_predict_layers": 1,
        "torch_dtype": "bfloat16",
    }


def make_tiny_hub_fused(root, gen):
    src = os.path.join(root, "models", "tiny-bf16")
    d = os.path.join(root, "models", "tiny-hub-fused")
    os.makedirs(d, exist_ok=True)
    st = load_file(os.path.join(src, "model.safetensors"))
    with open(os.path.join(src, "config.json")) as f:
        c = json.load(f)
    out = {}
    for k, v in st.items():
        if ".self_attn.q_proj." in k:
            pre = k.split(".self_attn.")[0] + ".self_attn."
            out[pre + "qkv_proj.weight"] = torch.cat(
                [st[pre + "q_proj.weight"], st[pre + "k_proj.weight"], st[pre + "v_proj.weight"]])
        elif ".self_attn.k_proj." in k or ".self_attn.v_proj." in k:
            continue
        else:
            out[k] = v
    h = c["hidden_size"]
    out["model.mtp.layers.0.eh_proj.weight"] = \
        (0.1 * torch.randn(h, 2 * h, generator=gen)).to(torch.bfloat16)
    out["model.mtp.layers.0.enorm.weight"] = torch.ones(h, dtype=torch.bfloat16)
    out["model.mtp.layers.0.self_attn.attention_sink_bias"] = torch.zeros(
        c["num_attention_heads"], dtype=torch.bfloat16)
    shards = [{}, {}]
    for k, v in out.items():
        first = (k.startswith("model.embed_tokens") or
                 any(k.startswith(f"model.layers.{i}.") for i in range(3)))
        shards[0 if first else 1][k] = v.contiguous()
    weight_map, total = {}, 0
    for n, shard in enumerate(shards, 1):
        name = f"model-{n:05d}-of-00002.safetensors"
        save_file(shard, os.path.join(d, name), metadata={"format": "pt"})
        for k, v in shard.items():
            weight_map[k] = name
            total += v.numel() * v.element_size()
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total},
                   "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    hc = hub_config(c)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hc, f, indent=2)
    info = {"expected_logits": "../tiny-bf16/reference"}
    MANIFEST["tiny-hub-fused"] = info
    with open(os.path.join(d, "EXPECTED.md"), "w") as f:
        f.write("Same weights as ../tiny-bf16 in the hub `mimo_v2` schema (fused qkv_proj, two "
                "shards, fake model.mtp.* tensors that must be ignored).\nExpected logits and "
                "greedy output: ../tiny-bf16/reference/ (identical model).\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    start_run()
    root = os.path.abspath(args.out)
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    tmp = tempfile.mkdtemp()
    gen = torch.Generator().manual_seed(SEED)
    seqs, prompt = random_sequences(gen)
    MANIFEST["transformers_version"] = transformers.__version__
    MANIFEST["torch_version"] = torch.__version__
    failed = []
    target = None
    steps = [
        ("tiny-bf16", lambda: make_tiny_bf16(root, gen, seqs, prompt)),
        ("tiny-fp8", lambda: make_tiny_fp8(root, tmp, torch.Generator().manual_seed(SEED + 1),
                                           seqs, prompt)),
        ("tiny-mxfp4", lambda: make_tiny_mxfp4(root, tmp, seqs, prompt)),
        ("tiny-hub-fused", lambda: make_tiny_hub_fused(
            root, torch.Generator().manual_seed(SEED + 2))),
        ("dflash", lambda: make_dflash(root, target)),
    ]
    for name, fn in steps:
        log(f"===== {name}")
        try:
            res = fn()
            if name == "tiny-bf16":
                target = res[1]
        except Exception:
            log(f"FAILED {name}:\n" + traceback.format_exc())
            failed.append(name)
    MANIFEST["failed"] = failed
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(MANIFEST, f, indent=1, default=str)
    shutil.rmtree(tmp, ignore_errors=True)
    log("failed:", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
