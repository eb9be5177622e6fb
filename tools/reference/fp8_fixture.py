"""The tiny-fp8 fixture: block-FP8 (128x128, e4m3 + float32 weight_scale_inv) quantizer and
dequantizer, the attempt through transformers' FineGrainedFP8Config, and the cross-checks."""

import json
import math
import os
import shutil
import traceback

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import MiMoV2FlashForCausalLM

from tiny_model import (LAYER_TYPES, MANIFEST, MLP_TYPES, describe_safetensors, log,
                        model_from_hub_state, new_random_model, save_bf16, tiny_config,
                        write_reference)

FP8_BLOCK = 128


def fp8_linear_names(cfg):
    names = []
    for i in range(cfg.num_hidden_layers):
        names += [f"model.layers.{i}.self_attn.{p}_proj" for p in "qkvo"]
        if cfg.mlp_layer_types[i] == "dense":
            names += [f"model.layers.{i}.mlp.{p}_proj" for p in ("gate", "up", "down")]
        else:
            names += [f"model.layers.{i}.mlp.experts.{e}.{p}_proj"
                      for e in range(cfg.n_routed_experts) for p in ("gate", "up", "down")]
    return names


def quantize_fp8_block(w):
    out_f, in_f = w.shape
    nbo, nbi = math.ceil(out_f / FP8_BLOCK), math.ceil(in_f / FP8_BLOCK)
    padded = torch.zeros(nbo * FP8_BLOCK, nbi * FP8_BLOCK)
    padded[:out_f, :in_f] = w.float()
    blocks = padded.view(nbo, FP8_BLOCK, nbi, FP8_BLOCK)
    amax = blocks.abs().amax(dim=(1, 3))
    scale = torch.where(amax > 0, amax / 448.0, torch.ones_like(amax))
    q = (blocks / scale[:, None, :, None]).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    q = q.view(nbo * FP8_BLOCK, nbi * FP8_BLOCK)[:out_f, :in_f].contiguous()
    return q, scale.float().contiguous()


def dequantize_fp8_block(q, scale_inv):
    out_f, in_f = q.shape
    s = scale_inv.float().repeat_interleave(FP8_BLOCK, 0).repeat_interleave(FP8_BLOCK, 1)
    return q.float() * s[:out_f, :in_f]


def dequantize_fp8_state(st):
    out = {}
    for k, v in st.items():
        if k.endswith("_scale_inv"):
            continue
        sk = k + "_scale_inv"
        out[k] = dequantize_fp8_block(v, st[sk]) if sk in st else v.float()
    return out


def check_fp8_layout(st, names, bf16_state):
    problems = []
    for n in names:
        w, s = st.get(n + ".weight"), st.get(n + ".weight_scale_inv")
        if w is None or s is None:
            problems.append(f"{n}: weight {w is not None} scale_inv {s is not None}")
            continue
        o, i = bf16_state[n + ".weight"].shape
        if w.dtype != torch.float8_e4m3fn or tuple(w.shape) != (o, i):
            problems.append(f"{n}.weight {w.dtype} {tuple(w.shape)}")
        if s.dtype != torch.float32 or tuple(s.shape) != (math.ceil(o / 128), math.ceil(i / 128)):
            problems.append(f"{n}.weight_scale_inv {s.dtype} {tuple(s.shape)}")
    return problems


def fp8_dequant_error(st, bf16_state):
    """Per-tensor relative error of dequantized vs original, 'multiply' and 'divide' semantics."""
    errs = {}
    for k, v in st.items():
        if not k.endswith(".weight_scale_inv"):
            continue
        wk = k[: -len("_scale_inv")]
        if wk not in bf16_state or wk not in st or v.dim() != 2:
            continue
        ref = bf16_state[wk].float()
        q = st[wk]
        out_f, in_f = q.shape
        s = v.float().repeat_interleave(128, 0).repeat_interleave(128, 1)[:out_f, :in_f]
        denom = ref.abs().max().item()
        errs[wk] = (((q.float() * s - ref).abs().max() / denom).item(),
                    ((q.float() / s - ref).abs().max() / denom).item())
    worst = sorted(errs.items(), key=lambda kv: -kv[1][0])[:5]
    log("fp8 dequant rel err (multiply, divide), worst tensors:", worst)
    return max(e[0] for e in errs.values()), max(e[1] for e in errs.values())


def fp8_fixture_through_transformers(d, ids):
    """Loads the fixture with transformers' FineGrainedFP8Config(dequantize=True) (its CPU path;
    the GPU kernels need the `kernels` package, absent on the device) and compares logits."""
    res = {}
    try:
        from transformers import FineGrainedFP8Config
        m = MiMoV2FlashForCausalLM.from_pretrained(
            d, quantization_config=FineGrainedFP8Config(dequantize=True), dtype=torch.float32,
            attn_implementation="eager").eval()
        with torch.no_grad():
            hf = m(input_ids=ids[None], use_cache=False).logits[0].float().numpy()
        ref = np.load(os.path.join(d, "reference", "logits_1.npy"))
        res["logits_max_abs_diff"] = float(np.abs(hf - ref).max())
        res["ref_max_abs"] = float(np.abs(ref).max())
        st = dequantize_fp8_state(load_file(os.path.join(d, "model.safetensors")))
        for name in ("model.layers.0.self_attn.q_proj.weight",
                     "model.layers.0.mlp.down_proj.weight",
                     "model.layers.0.self_attn.o_proj.weight"):
            w = dict(m.named_parameters())[name].detach().float()
            res[f"{name} max diff vs 128-block dequant"] = float((w - st[name]).abs().max())
    except Exception:
        res["error"] = traceback.format_exc()
    log("transformers dequantize=True load of the fixture vs reference:", json.dumps(res, indent=1))
    return res


def fp8_compare_quantizers(hf_st, mine):
    """Compares transformers' own FP8 quantization of the same bf16 weights with ours."""
    res = {"same_shape_scales": 0, "same_shape_scale_max_rel_diff": 0.0,
           "same_shape_fp8_bytes_equal": True, "other_shape_scales": []}
    for k, v in mine.items():
        if not k.endswith(".weight_scale_inv") or k not in hf_st:
            continue
        wk = k[: -len("_scale_inv")]
        h, m = hf_st[k].float(), v.float()
        if h.shape == m.shape:
            res["same_shape_scales"] += 1
            rel = float(((h - m).abs() / m.abs()).max())
            res["same_shape_scale_max_rel_diff"] = max(res["same_shape_scale_max_rel_diff"], rel)
            same = torch.equal(hf_st[wk].view(torch.uint8), mine[wk].view(torch.uint8))
            res["same_shape_fp8_bytes_equal"] = res["same_shape_fp8_bytes_equal"] and same
            if rel > 1e-6 or not same:
                res.setdefault("mismatches", []).append(
                    {"tensor": k, "scale_rel_diff": rel, "fp8_bytes_equal": same,
                     "transformers": h.flatten().tolist(), "ours": m.flatten().tolist()})
        elif len(res["other_shape_scales"]) < 6:
            res["other_shape_scales"].append({
                "tensor": k, "transformers": [list(h.shape), h.flatten().tolist()],
                "ours": [list(m.shape), m.flatten().tolist()],
                "fp8_bytes_equal": torch.equal(hf_st[wk].view(torch.uint8),
                                               mine[wk].view(torch.uint8))})
    log("transformers' FP8 quantizer vs ours on identical bf16 weights:", json.dumps(res, indent=1))
    return res


def make_tiny_fp8(root, tmp, gen, seqs, prompt):
    d = os.path.join(root, "models", "tiny-fp8")
    # Two layers (full+dense, sliding+MoE) keep the file small; 136 and 160 are ragged in
    # 128-blocks.
    cfg = tiny_config(hidden_size=136, intermediate_size=160, layer_types=LAYER_TYPES[:2],
                      mlp_types=MLP_TYPES[:2])
    model = new_random_model(cfg, gen)
    src = os.path.join(tmp, "fp8-src-bf16")
    save_bf16(model, src)
    bf16_state = load_file(os.path.join(src, "model.safetensors"))
    names = fp8_linear_names(cfg)
    info = {"method": None}
    hf_dir = os.path.join(tmp, "fp8-hf")
    hf_st = None
    try:
        from transformers import FineGrainedFP8Config
        qcfg = FineGrainedFP8Config(weight_block_size=[128, 128])
        qm = MiMoV2FlashForCausalLM.from_pretrained(src, quantization_config=qcfg,
                                                    dtype=torch.bfloat16, device_map="cuda")
        log("fp8 quantized model modules:", {type(m).__name__ for m in qm.modules()})
        qm.save_pretrained(hf_dir)
        log("transformers fp8 dir:", sorted(os.listdir(hf_dir)))
        with open(os.path.join(hf_dir, "config.json")) as f:
            log("transformers fp8 quantization_config:",
                json.dumps(json.load(f).get("quantization_config"), indent=1))
        files = [f for f in os.listdir(hf_dir) if f.endswith(".safetensors")]
        st = {}
        for f in files:
            st.update(load_file(os.path.join(hf_dir, f)))
        for k in sorted(st):
            log(f"  hf-fp8 {k}: {str(st[k].dtype).replace('torch.', '')} {list(st[k].shape)}")
        hf_st = st
        problems = check_fp8_layout(st, names, bf16_state)
        mul, div = fp8_dequant_error(st, bf16_state)
        log(f"transformers fp8: layout problems {len(problems)} {problems[:10]}; "
            f"dequant rel err multiply {mul:.4g} divide {div:.4g}")
        info["transformers_layout_problems"] = problems[:20]
        info["transformers_dequant_rel_err"] = {"multiply": mul, "divide": div}
        if not problems and mul < 0.07 and len(files) == 1:
            shutil.copytree(hf_dir, d)
            for extra in ("generation_config.json",):
                if os.path.exists(os.path.join(d, extra)):
                    os.remove(os.path.join(d, extra))
            info["method"] = "transformers FineGrainedFP8Config + save_pretrained"
        del qm
    except Exception:
        log("transformers fp8 path failed:\n" + traceback.format_exc())
    if info["method"] is None:
        os.makedirs(d, exist_ok=True)
        out = {}
        for k, v in bf16_state.items():
            base = k[: -len(".weight")] if k.endswith(".weight") else None
            if base in names:
                q, s = quantize_fp8_block(v.float())
                out[k], out[base + ".weight_scale_inv"] = q, s
            else:
                out[k] = v
        save_file(out, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(src, "config.json")) as f:
            c = json.load(f)
        c["quantization_config"] = {
            "quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
            "weight_block_size": [128, 128],
            "modules_to_not_convert": ["lm_head", "model.embed_tokens"] +
            [f"model.layers.{i}.mlp.gate" for i in range(cfg.num_hidden_layers)
             if cfg.mlp_layer_types[i] == "sparse"]}
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
        info["method"] = "by hand (MIMO.md layout)"
        if hf_st is not None:
            info["vs_transformers_quantizer"] = fp8_compare_quantizers(hf_st, out)
    log("tiny-fp8 method:", info["method"])
    st = describe_safetensors(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json")) as f:
        config_dict = json.load(f)
    ref_model = model_from_hub_state(dequantize_fp8_state(st), config_dict, tmp)
    info.update(write_reference(ref_model, os.path.join(d, "reference"), seqs, prompt, full=False))
    info["transformers_loads_fixture"] = fp8_fixture_through_transformers(d, seqs[0])
    MANIFEST["tiny-fp8"] = info
