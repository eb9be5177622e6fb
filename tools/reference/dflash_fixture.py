"""The dflash fixture: a tiny random transformers DFlash drafter (MuseGlimmerAssistantModel) for
tiny-bf16, and a step-by-step record of transformers' speculative generate with it."""

import json
import os

import numpy as np
import torch
from transformers import GenerationConfig

from tiny_model import (GREEDY_NEW_TOKENS, MANIFEST, SEED, assert_same_weights,
                        describe_safetensors, log, randomize_, write_tokens)


DFLASH_SEED_TRIES = 12


def dflash_config():
    from transformers import MuseGlimmerAssistantConfig
    # sliding_window 64 exceeds every length used here, so the sliding layer runs the sliding code
    # path without the window binding (HF's bidirectional window edge is an implementation detail).
    return MuseGlimmerAssistantConfig(
        hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=24, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        max_position_embeddings=1024, sliding_window=64,
        layer_types=["sliding_attention", "full_attention"], block_size=4, mask_token_id=255,
        target_layer_ids=[1, 4], bos_token_id=None, eos_token_id=None, pad_token_id=None)


@torch.no_grad()
def run_dflash(target, drafter, prompt):
    """DFlash generate, recording every drafter call (inputs and last_hidden_state)."""
    calls = []

    def hook(mod, args, kwargs, output):
        names = ["noise_embeds", "context_hidden_states", "attention_mask", "position_ids"]
        got = dict(zip(names, args))
        got.update(kwargs)
        calls.append({
            "noise_embeds": got["noise_embeds"].detach().clone(),
            "context": got["context_hidden_states"].detach().clone(),
            "position_ids": got["position_ids"].detach().clone(),
            "out": output.last_hidden_state.detach().clone()})
    handle = drafter.register_forward_hook(hook, with_kwargs=True)
    try:
        gc = GenerationConfig(speculation_type="dflash", max_new_tokens=GREEDY_NEW_TOKENS,
                              do_sample=False)
        spec = target.generate(prompt[None], generation_config=gc, assistant_model=drafter)[
            0, len(prompt):]
    finally:
        handle.remove()
    return spec, calls


@torch.no_grad()
def dflash_steps(calls, target, full, block_size):
    emb = target.model.embed_tokens.weight
    steps = []
    for n, c in enumerate(calls):
        pos = c["position_ids"].view(-1).tolist()
        out = c["out"][0]
        proposals = target.lm_head(out[1:]).argmax(-1).tolist()
        anchor_pos = pos[-block_size]
        accepted = 0
        for k, t in enumerate(proposals):
            p = anchor_pos + 1 + k
            if p < len(full) and int(full[p]) == t:
                accepted += 1
            else:
                break
        steps.append({
            "step": n, "anchor_position": anchor_pos, "context_len": anchor_pos,
            "anchor_token": int(full[anchor_pos]),
            "noise_token_ids": torch.cdist(c["noise_embeds"][0], emb).argmin(-1).tolist(),
            "new_context_positions": pos[:-block_size],
            "block_positions": pos[-block_size:],
            "candidates": proposals, "accepted": accepted})
    return steps


def make_dflash(root, target):
    from transformers import MuseGlimmerAssistantModel
    d = os.path.join(root, "dflash")
    ddir = os.path.join(d, "drafter")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(root, "models", "tiny-bf16", "reference", "greedy_prompt.txt")) as f:
        prompt = torch.tensor([int(t) for t in f.read().split()])
    dcfg = dflash_config()
    B = dcfg.block_size
    with torch.no_grad():
        plain = target.generate(prompt[None], generation_config=GenerationConfig(
            max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False))[0, len(prompt):]
    full = torch.cat([prompt, plain])
    # Random drafters rarely agree with the target: keep the seed whose drafts are accepted most,
    # so the fixture exercises multi-token acceptance.
    best = None
    for k in range(DFLASH_SEED_TRIES):
        drafter = MuseGlimmerAssistantModel(dcfg).float().eval()
        randomize_(drafter, torch.Generator().manual_seed(SEED + 3 + k))
        spec, calls = run_dflash(target, drafter, prompt)
        acc = [s["accepted"] for s in dflash_steps(calls, target, full, B)]
        score = (sum(acc), max(acc), -k)
        log(f"drafter seed {SEED + 3 + k}: accepted per step {acc}")
        if best is None or score > best[0]:
            best = (score, k, drafter)
    _, k, drafter = best
    log(f"chose drafter seed {SEED + 3 + k}")
    drafter.to(torch.bfloat16).save_pretrained(ddir)
    gc_path = os.path.join(ddir, "generation_config.json")
    if os.path.exists(gc_path):
        os.remove(gc_path)
    describe_safetensors(os.path.join(ddir, "model.safetensors"))
    dm = MuseGlimmerAssistantModel.from_pretrained(ddir, dtype=torch.float32,
                                                   attn_implementation="eager").eval()
    assert_same_weights(drafter.float(), dm, "drafter")
    spec, calls = run_dflash(target, dm, prompt)
    log("plain :", plain.tolist())
    log("dflash:", spec.tolist())
    write_tokens(os.path.join(d, "prompt.txt"), prompt.tolist())
    write_tokens(os.path.join(d, "greedy_plain.txt"), plain.tolist())
    write_tokens(os.path.join(d, "greedy_dflash.txt"), spec.tolist())
    steps = dflash_steps(calls, target, full, B)
    cand = {"block_size": B, "mask_token_id": dcfg.mask_token_id,
            "target_layer_ids": list(dcfg.target_layer_ids), "prompt_len": len(prompt),
            "drafter_seed": SEED + 3 + k, "steps": steps}
    with open(os.path.join(d, "candidates.json"), "w") as f:
        json.dump(cand, f, indent=1)
    info = {"equal_to_plain_greedy": bool(torch.equal(plain, spec)), "num_steps": len(steps),
            "accepted_per_step": [s["accepted"] for s in steps], "drafter_seed": SEED + 3 + k}
    log("dflash steps:", json.dumps(steps))
    c0 = calls[0]
    ctx = c0["context"][0].float()
    np.save(os.path.join(d, "step0_context.npy"), ctx.numpy())
    np.save(os.path.join(d, "step0_draft_hidden.npy"), c0["out"][0].float().numpy())
    with torch.no_grad():
        hs = target(input_ids=full[: ctx.shape[0]][None], use_cache=False,
                    output_hidden_states=True).hidden_states
    for off in (0, 1):
        ref = torch.cat([hs[i + off][0] for i in dcfg.target_layer_ids], dim=-1)
        info[f"step0_context_vs_hidden_states[i+{off}]"] = float((ref - ctx).abs().max())
    log("step0 context check:", {k: v for k, v in info.items() if k.startswith("step0")})
    MANIFEST["dflash"] = info
    if not info["equal_to_plain_greedy"]:
        raise RuntimeError("dflash output differs from plain greedy")
