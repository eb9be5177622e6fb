"""Simulated quantisation of the demo model, in PyTorch: OCP MXFP4 for expert weights (blocks of 32
along the input dimension, E8M0 scale 2^(floor(log2 amax) - 2), E2M1 values rounded to nearest
with ties to the even code, saturating at 6 - the rule of tests/data/models/tiny-mxfp4) and
FP8 E4M3 with one scale per 128x128 block (scale = block amax / 448) for the other linears."""

import torch

from transformers.models.mimo_v2_flash.modeling_mimo_v2_flash import (MiMoV2FlashAttention,
                                                                      MiMoV2FlashExperts,
                                                                      MiMoV2FlashMLP)

E2M1_GRID = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
MXFP4_BLOCK = 32
FP8_BLOCK = 128
FP8_MAX = 448.0


def mxfp4_quantize(w):
    """Values of w after an MXFP4 round trip (same shape and dtype); last dim = input dim."""
    shape, dtype = w.shape, w.dtype
    x = w.float().reshape(-1, MXFP4_BLOCK)
    amax = x.abs().amax(dim=-1, keepdim=True)
    # frexp gives floor(log2(amax)) exactly (log2 can round up just below a power of two).
    _, exp = torch.frexp(amax)
    e = torch.where(amax > 0, exp - 1 - 2, torch.full_like(exp, -127)).clamp(-127, 127)
    scale = torch.exp2(e.float())
    y = x / scale
    grid = torch.tensor(E2M1_GRID, device=w.device)
    mids = (grid[1:] + grid[:-1]) / 2
    a = y.abs().clamp(max=6.0).contiguous()
    lo = torch.searchsorted(mids, a, right=False)
    hi = torch.searchsorted(mids, a, right=True)
    idx = torch.where(lo != hi, torch.where(lo % 2 == 0, lo, hi), lo)
    q = grid[idx] * torch.sign(y)
    return (q * scale).reshape(shape).to(dtype)


def mxfp4_fake_quant(w):
    """Forward: MXFP4 values; backward: identity (straight-through estimator)."""
    return w + (mxfp4_quantize(w) - w).detach()


def fp8_block_quantize(w):
    """Values of a 2-D weight after FP8 E4M3 128x128-block quantisation (ragged last blocks)."""
    rows, cols = w.shape
    rb, cb = -(-rows // FP8_BLOCK), -(-cols // FP8_BLOCK)
    padded = torch.zeros(rb * FP8_BLOCK, cb * FP8_BLOCK, device=w.device, dtype=torch.float32)
    padded[:rows, :cols] = w.float()
    blocks = padded.view(rb, FP8_BLOCK, cb, FP8_BLOCK)
    amax = blocks.abs().amax(dim=(1, 3), keepdim=True)
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    q = (blocks / scale).to(torch.float8_e4m3fn).float() * scale
    return q.view(rb * FP8_BLOCK, cb * FP8_BLOCK)[:rows, :cols].to(w.dtype)


def fp8_linears(model):
    """The linears the mixed format stores in FP8: attention q/k/v/o and the dense MLP.
    Embeddings, lm_head, norms, sinks and routers stay BF16; experts are MXFP4."""
    for m in model.modules():
        if isinstance(m, MiMoV2FlashAttention):
            yield from (m.q_proj, m.k_proj, m.v_proj, m.o_proj)
        elif isinstance(m, MiMoV2FlashMLP):
            yield from (m.gate_proj, m.up_proj, m.down_proj)


@torch.no_grad()
def snap_experts_mxfp4(model):
    """Replaces every expert weight by its MXFP4 value; returns the mean relative change."""
    errs = []
    for m in model.modules():
        if isinstance(m, MiMoV2FlashExperts):
            for p in (m.gate_up_proj, m.down_proj):
                q = mxfp4_quantize(p)
                errs.append(((q - p).norm() / p.norm()).item())
                p.copy_(q)
    return sum(errs) / max(1, len(errs))


@torch.no_grad()
def apply_mixed(model):
    """PTQ to the mixed format in place: MXFP4 experts + FP8 block-scaled linears."""
    expert_err = snap_experts_mxfp4(model)
    errs = []
    for lin in fp8_linears(model):
        q = fp8_block_quantize(lin.weight)
        errs.append(((q - lin.weight).norm() / lin.weight.norm()).item())
        lin.weight.copy_(q)
    return {"expert_rel_err": expert_err, "fp8_rel_err": sum(errs) / max(1, len(errs))}


def self_check(device):
    """Hand-checked MXFP4 cases: ties go to the even code, saturation at 6, idempotence."""
    block = torch.zeros(MXFP4_BLOCK, device=device)
    # amax 6 -> scale 1; 0.25 -> 0 (tie, even code 0), 0.75 -> 1.0 (code 2), 1.25 -> 1.0,
    # 1.75 -> 2.0, 2.5 -> 2.0, 3.5 -> 4.0, 5.0 -> 4.0, -5.5 -> -6.0
    vals = [6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -5.5, 0.3]
    want = [6.0, 0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -6.0, 0.5]
    block[:len(vals)] = torch.tensor(vals)
    got = mxfp4_quantize(block)[:len(vals)].tolist()
    rnd = torch.randn(64, 256, device=device)
    once = mxfp4_quantize(rnd)
    return {"mxfp4_cases_ok": got == want, "mxfp4_got": got,
            "mxfp4_idempotent": bool(torch.equal(mxfp4_quantize(once), once)),
            "mxfp4_exact_in_bf16": bool(torch.equal(once.bfloat16().float(), once))}
