"""The tiny-mxfp4 fixture: OCP MXFP4 quantizer/dequantizer for expert weights in the per-expert
`weight` (packed E2M1) + `weight_scale` (E8M0) layout, checked against transformers' mxfp4 code."""

import json
import os
import traceback

import torch
from safetensors.torch import load_file, save_file

from tiny_model import MANIFEST, log, model_from_hub_state, write_reference

MX_GROUP = 32
E2M1_GRID = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def e2m1_lut():
    return torch.tensor(E2M1_GRID + [-v for v in E2M1_GRID], dtype=torch.float32)


def quantize_mxfp4(w):
    """OCP MX: shared exponent floor(log2(amax)) - 2 per 32 inputs, E2M1 RNE, saturate at 6."""
    out_f, in_f = w.shape
    g = w.float().view(out_f, in_f // MX_GROUP, MX_GROUP)
    amax = g.abs().amax(-1)
    exp = torch.where(amax > 0, torch.floor(torch.log2(amax)) - 2, torch.full_like(amax, -127.0))
    exp = exp.clamp(-127, 127)
    x = g / torch.pow(2.0, exp)[..., None]
    a = x.abs()
    grid = torch.tensor(E2M1_GRID)
    lo = ((a[..., None] >= grid).sum(-1) - 1).clamp(0, 7)
    hi = (lo + 1).clamp(max=7)
    d_lo, d_hi = a - grid[lo], grid[hi] - a
    take_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    idx = torch.where(take_hi, hi, lo)
    code = (idx | ((x < 0).long() << 3)).view(out_f, in_f)
    packed = (code[:, 0::2] | (code[:, 1::2] << 4)).to(torch.uint8).contiguous()
    scales = (exp + 127).to(torch.uint8).contiguous()
    return packed, scales


def dequantize_mxfp4(packed, scales):
    out_f = packed.shape[0]
    lut = e2m1_lut()
    p = packed.long()
    codes = torch.stack([p & 0xF, p >> 4], dim=-1).view(out_f, -1)
    vals = lut[codes].view(out_f, -1, MX_GROUP)
    return (vals * torch.pow(2.0, scales.float() - 127.0)[..., None]).view(out_f, -1)


def crosscheck_mxfp4_with_transformers(packed, scales, mine):
    res = {}
    try:
        from transformers.integrations import mxfp4 as hfmx
        if hasattr(hfmx, "FP4_VALUES"):
            res["FP4_VALUES"] = [float(v) for v in hfmx.FP4_VALUES]
            res["lut_equal"] = res["FP4_VALUES"] == e2m1_lut().tolist()
        fn = getattr(hfmx, "convert_moe_packed_tensors", None)
        if fn is not None:
            o, i = mine.shape
            blocks = packed.view(1, o, i // MX_GROUP, 16)
            try:
                hf = fn(blocks, scales.view(1, o, i // MX_GROUP), dtype=torch.float32)
            except TypeError:
                hf = fn(blocks, scales.view(1, o, i // MX_GROUP))
            hf = hf.float()
            res["hf_shape"] = list(hf.shape)
            if tuple(hf.shape[-2:]) == (o, i):
                res["max_diff_same_orientation"] = float((hf[0] - mine).abs().max())
            if tuple(hf.shape[-2:]) == (i, o):
                res["max_diff_transposed"] = float((hf[0].t() - mine).abs().max())
    except Exception:
        res["error"] = traceback.format_exc()
    log("mxfp4 cross-check with transformers:", json.dumps(res, indent=1))
    return res


def make_tiny_mxfp4(root, tmp, seqs, prompt):
    d = os.path.join(root, "models", "tiny-mxfp4")
    src = os.path.join(root, "models", "tiny-bf16")
    os.makedirs(d, exist_ok=True)
    st = load_file(os.path.join(src, "model.safetensors"))
    out, deq = {}, {}
    check = None
    for k, v in st.items():
        if ".mlp.experts." in k:
            packed, scales = quantize_mxfp4(v.float())
            out[k] = packed
            out[k + "_scale"] = scales
            deq[k] = dequantize_mxfp4(packed, scales)
            if check is None:
                check = crosscheck_mxfp4_with_transformers(packed, scales, deq[k])
                rel = ((deq[k] - v.float()).abs().max() / v.float().abs().max()).item()
                log(f"mxfp4 quantization rel err on {k}: {rel:.4g}")
        else:
            out[k] = v
            deq[k] = v.float()
    save_file(out, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(src, "config.json")) as f:
        c = json.load(f)
    n_layers = c["num_hidden_layers"]
    not_convert = ["model.embed_tokens", "lm_head"]
    for i in range(n_layers):
        not_convert.append(f"model.layers.{i}.self_attn")
        not_convert.append(f"model.layers.{i}.mlp" if c["mlp_layer_types"][i] == "dense"
                           else f"model.layers.{i}.mlp.gate")
    c["quantization_config"] = {"quant_method": "mxfp4", "experts": "mxfp4",
                                "modules_to_not_convert": not_convert}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    ref_model = model_from_hub_state(deq, c, tmp)
    info = write_reference(ref_model, os.path.join(d, "reference"), seqs, prompt, full=False)
    info["transformers_crosscheck"] = check
    MANIFEST["tiny-mxfp4"] = info
