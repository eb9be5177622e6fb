"""Greedy DFlash acceptance per block position, replayed on the target's own greedy continuation.

Greedy speculative decoding is lossless, so its output is the target's plain greedy
continuation g of the prompt (P tokens), and every verify step is determined by it: with the
anchor at position a (the first anchor is g's first token, sampled from the prefill, at a = P),
the drafter sees the target's fused features of positions < a and the block
[tok[a], MASK x (B-1)] at positions a..a+B-1; it proposes its argmax d_1..d_{B-1}; the step
keeps the leading drafts equal to tok[a+1..] (m of them) and emits m + 1 tokens (the bonus or
correction is the target's token at a+m+1, the next anchor). As in libmimo's session
(docs/speculative.md, "The step"), a step drafts k = min(B-1, tokens still to emit - 1), so
the run emits exactly new_tokens tokens. The replay runs every prompt's step in one batched
drafter forward (the packed mask of train_drafter.dflash_logits with one block per row) and
records (k, m) per step: tau = emitted tokens / verify steps (mimo-spec-eval's "mean
acceptance") and, per block position j, the share of steps that kept draft j."""

import time

import torch

import evaluate


@torch.no_grad()
def greedy_continuations(target, prompts, new_tokens, time_s):
    """Plain greedy continuations (transformers generate, the target as loaded), prompts of equal
    length in one batch (no padding needed); the prompts from the first one not started within
    time_s on are skipped, so the result is a prefix of the list."""
    target.generation_config.eos_token_id = None
    t0, outs = time.time(), [None] * len(prompts)
    groups = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    for idx in sorted(groups.values()):
        if any(o is not None for o in outs) and time.time() - t0 > time_s:
            break
        batch = torch.stack([prompts[i] for i in idx])
        gen = target.generate(batch, attention_mask=torch.ones_like(batch),
                              generation_config=evaluate.greedy_config(new_tokens))
        for j, i in enumerate(idx):
            outs[i] = gen[j, batch.shape[1]:]
    done = next((i for i, o in enumerate(outs) if o is None), len(outs))
    return outs[:done]


@torch.no_grad()
def features(target, seq, layer_ids):
    """[S, len(layer_ids) * hidden] fused features of one sequence, the target's dtype."""
    hs = target.model(input_ids=seq[None], use_cache=False, output_hidden_states=True)
    return torch.cat([hs.hidden_states[j + 1][0] for j in layer_ids], dim=-1)


@torch.no_grad()
def replay(drafter, target, prompts, conts, new_tokens):
    """Replays greedy DFlash on (prompt, continuation) pairs; returns per-prompt lists of
    (k, m) per verify step."""
    B, mask_id = drafter.config.block_size, drafter.config.mask_token_id
    layer_ids = drafter.config.target_layer_ids
    embed, lm_head = target.model.embed_tokens, target.lm_head
    dev = lm_head.weight.device
    seqs = [torch.cat([p.to(dev), c.to(dev)]).long() for p, c in zip(prompts, conts)]
    n, L = len(seqs), max(len(s) for s in seqs)
    tok = torch.zeros(n, L + B, dtype=torch.long, device=dev)
    feats = None
    for i, s in enumerate(seqs):
        tok[i, :len(s)] = s
        f = features(target, s, layer_ids)
        if feats is None:
            feats = torch.zeros(n, L, f.shape[-1], dtype=f.dtype, device=dev)
        feats[i, :len(s)] = f
    dtype = next(drafter.parameters()).dtype
    feats = feats.to(dtype)
    anchor = [len(p) for p in prompts]
    steps = [[] for _ in range(n)]
    while True:
        rows, ks = [], []
        for i in range(n):
            emitted = anchor[i] - len(prompts[i]) + 1
            left = min(new_tokens, len(conts[i])) - emitted
            if left > 0:
                rows.append(i)
                ks.append(min(B - 1, left - 1))
        if not rows:
            break
        r = torch.tensor(rows, device=dev)
        a = torch.tensor([anchor[i] for i in rows], device=dev)
        block_pos = a[:, None] + torch.arange(B, device=dev)
        noise_ids = tok[r[:, None], block_pos].clone()
        truth = noise_ids[:, 1:].clone()
        noise_ids[:, 1:] = mask_id
        noise = embed(noise_ids).to(dtype)
        pos = torch.cat([torch.arange(L, device=dev).expand(len(rows), -1), block_pos], dim=1)
        ctx_ok = torch.arange(L, device=dev)[None, None, :] < a[:, None, None]
        ctx_ok = ctx_ok.expand(-1, B, -1)
        blk_ok = torch.ones(len(rows), B, B, dtype=torch.bool, device=dev)
        mask = torch.cat([ctx_ok, blk_ok], dim=-1)[:, None]
        out = drafter(noise_embeds=noise, context_hidden_states=feats[r],
                      attention_mask={"full_attention": mask, "sliding_attention": mask},
                      position_ids=pos, use_cache=False).last_hidden_state
        drafts = lm_head(out[:, 1:].to(lm_head.weight.dtype)).argmax(-1)
        k = torch.tensor(ks, device=dev)
        hit = (drafts == truth) & (torch.arange(1, B, device=dev)[None, :] <= k[:, None])
        m = hit.int().cumprod(dim=-1).sum(dim=-1).tolist()
        for j, i in enumerate(rows):
            steps[i].append((ks[j], m[j]))
            anchor[i] += m[j] + 1
    return steps


def summarize(steps, block_size):
    """tau (emitted / verify steps), its per-prompt values, and per block position j: share of
    steps drafting j or more tokens that kept draft j (unconditional) and that kept it given
    drafts 1..j-1 were kept (conditional)."""
    flat = [s for per in steps for s in per]
    emitted = sum(m + 1 for _, m in flat)
    per_pos, cond = [], []
    for j in range(1, block_size):
        drafted = [(k, m) for k, m in flat if k >= j]
        reached = [(k, m) for k, m in drafted if m >= j - 1]
        kept = sum(1 for _, m in drafted if m >= j)
        per_pos.append(round(kept / max(1, len(drafted)), 4))
        cond.append(round(kept / max(1, len(reached)), 4))
    hist = [sum(1 for _, m in flat if m == j) for j in range(block_size)]
    return {"tau": round(emitted / max(1, len(flat)), 4), "verify_steps": len(flat),
            "emitted_tokens": emitted, "prompts": len(steps),
            "per_prompt_tau": [round(sum(m + 1 for _, m in p) / max(1, len(p)), 3)
                               for p in steps],
            "accept_rate_per_position": per_pos, "conditional_accept_per_position": cond,
            "accepted_drafts_histogram": hist}
