"""DFlash drafter training (SpecForge recipe, notes section 4): the frozen target regenerates
continuations of training prompts; per sequence, random anchors a each give a block
[tok[a], MASK x (B-1)] at positions a..a+B-1 that sees the target's fused hidden states of
positions < a and its own block (bidirectional), and predicts tok[a+k] at slot k with
loss weight exp(-(k-1)/gamma). All blocks of a sequence run in one packed forward."""

import math
import time

import torch
import torch.nn.functional as F
from transformers import GenerationConfig

from common import log, step_generator
from train_target import scheduled_lr


@torch.no_grad()
def generate_data(target, prompts, new_tokens, greedy_frac, temperature, batch, time_s):
    """Target continuations of prompts [N, P]: every (1/greedy_frac)-th batch greedy, the others
    sampled at `temperature`. Stops early (fewer sequences) when time_s runs out."""
    target.generation_config.eos_token_id = None
    seqs, t0 = [], time.time()
    n_batches = math.ceil(len(prompts) / batch)
    for b in range(n_batches):
        if b > 0 and time.time() - t0 > time_s:
            log(f"drafter data: time budget reached after {b} of {n_batches} batches")
            break
        p = prompts[b * batch:(b + 1) * batch]
        greedy = greedy_frac > 0 and b % max(1, round(1 / greedy_frac)) == 0
        gc = GenerationConfig(max_new_tokens=new_tokens, do_sample=not greedy,
                              temperature=temperature if not greedy else None,
                              top_k=0, top_p=1.0, eos_token_id=None, pad_token_id=0)
        torch.manual_seed(1000 + b)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = target.generate(p, attention_mask=torch.ones_like(p), generation_config=gc)
        seqs.append(out)
    out = torch.cat(seqs)
    log(f"drafter data: {out.shape[0]} sequences of {out.shape[1]} tokens in "
        f"{time.time() - t0:.1f}s")
    return out


@torch.no_grad()
def target_features(target, seqs, layer_ids, batch=64):
    """concat(hidden_states[i + 1] for i in layer_ids): the output of decoder layer i (the last
    layer's after the final norm), what transformers' DFlash generation feeds the drafter."""
    feats = []
    for i in range(0, len(seqs), batch):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            hs = target.model(input_ids=seqs[i:i + batch], use_cache=False,
                              output_hidden_states=True).hidden_states
        feats.append(torch.cat([hs[j + 1] for j in layer_ids], dim=-1).to(torch.bfloat16))
    return torch.cat(feats)


def dflash_logits(drafter, embed, lm_head, feats, toks, gen, hp):
    """One packed DFlash forward over hp['batch'] random sequences with hp['anchors'] blocks
    each; returns (logits [bsz, n_anchor, B-1, V] float32 for slots 1..B-1, their labels
    [bsz, n_anchor, B-1], the sequence indices [bsz], the block positions [bsz, n_anchor, B])."""
    B, mask_id = drafter.config.block_size, drafter.config.mask_token_id
    n_seq, seq_len = toks.shape
    bsz, n_anchor = hp["batch"], hp["anchors"]
    dev = toks.device
    idx = torch.randint(0, n_seq, (bsz,), generator=gen).to(dev)
    ctx, tok = feats[idx], toks[idx]
    # Anchors in [lo, S-B]: every label a+k is a target-generated token and inside the sequence.
    lo = hp["anchor_min"]
    cand = seq_len - B - lo + 1
    anchors = torch.rand(bsz, cand, generator=gen).argsort(dim=-1)[:, :n_anchor] + lo
    anchors = anchors.sort(dim=-1).values.to(dev)
    block_pos = anchors[..., None] + torch.arange(B, device=dev)
    labels = tok.gather(1, block_pos.view(bsz, -1)).view(bsz, n_anchor, B)
    noise_ids = labels.clone()
    noise_ids[..., 1:] = mask_id
    noise = embed(noise_ids.view(bsz, -1)).float()
    pos = torch.cat([torch.arange(seq_len, device=dev).expand(bsz, -1),
                     block_pos.view(bsz, -1)], dim=1)
    q_anchor = anchors.repeat_interleave(B, dim=1)
    ctx_ok = torch.arange(seq_len, device=dev)[None, None, :] < q_anchor[:, :, None]
    blk = torch.arange(n_anchor, device=dev).repeat_interleave(B)
    blk_ok = (blk[:, None] == blk[None, :]).expand(bsz, -1, -1)
    mask = torch.cat([ctx_ok, blk_ok], dim=-1)[:, None]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = drafter(noise_embeds=noise, context_hidden_states=ctx,
                      attention_mask={"full_attention": mask, "sliding_attention": mask},
                      position_ids=pos, use_cache=False).last_hidden_state
        h = out.view(bsz, n_anchor, B, -1)[:, :, 1:]
        logits = lm_head(h).float()
    return logits, labels[:, :, 1:], idx, block_pos


def dflash_batch(drafter, embed, lm_head, feats, toks, gen, hp):
    """One packed DFlash forward; returns (loss, per-slot accuracy [B-1], mean accepted run)."""
    logits, target_ids, _, _ = dflash_logits(drafter, embed, lm_head, feats, toks, gen, hp)
    return weighted_ce(logits, target_ids, hp["gamma"])


def weighted_ce(logits, target_ids, gamma):
    """sum_k w_k CE_k / sum_k w_k with w_k = exp(-(k-1)/gamma), plus per-slot argmax accuracy
    and the mean run of leading correct slots."""
    bsz, n_anchor, slots = target_ids.shape
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_ids.reshape(-1),
                         reduction="none").view(bsz, n_anchor, slots)
    k = torch.arange(1, slots + 1, device=logits.device, dtype=torch.float32)
    w = torch.exp(-(k - 1) / gamma)
    loss = (ce * w).sum() / (w.sum() * bsz * n_anchor)
    with torch.no_grad():
        hit = logits.argmax(-1) == target_ids
        acc = hit.float().mean(dim=(0, 1))
        run = hit.int().cumprod(dim=-1).sum(dim=-1).float().mean()
    return loss, acc, run


def drafter_optimizer(drafter, target, hp):
    """The drafter in training mode with AdamW over its own parameters; the target's embedding
    and lm_head, which the drafter shares, frozen. Returns (embed, lm_head, optimizer)."""
    embed, lm_head = target.model.embed_tokens, target.lm_head
    for p in list(embed.parameters()) + list(lm_head.parameters()):
        p.requires_grad_(False)
    drafter.train()
    opt = torch.optim.AdamW(drafter.parameters(), lr=hp["lr"], betas=(0.9, 0.95),
                            weight_decay=hp["weight_decay"], fused=True)
    return embed, lm_head, opt


def train_drafter(drafter, target, feats, toks, hp, seed, csv):
    embed, lm_head, opt = drafter_optimizer(drafter, target, hp)
    step, elapsed, t_last = 0, 0.0, time.time()
    while True:
        lr = scheduled_lr(opt, elapsed, step, hp)
        if lr is None:
            break
        loss, acc, run = dflash_batch(drafter, embed, lm_head, feats, toks,
                                      step_generator(seed, 3, step), hp)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(drafter.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        now = time.time()
        elapsed += now - t_last
        t_last = now
        if step % hp["log_every"] == 0 or step == 1:
            accs = [round(a, 4) for a in acc.tolist()]
            row = {"step": step, "loss": round(loss.item(), 5), "lr": f"{lr:.3e}",
                   "est_tau": round(1 + run.item(), 4), "elapsed_s": round(elapsed, 2),
                   **{f"acc_{i + 1}": a for i, a in enumerate(accs)}}
            csv.write(**row)
            if step % (hp["log_every"] * 10) == 0 or step == 1:
                log(f"drafter step {step}: {row}")
    drafter.eval()
    return {"steps": step, "seconds": round(elapsed, 1),
            "ms_per_step": round(1000 * elapsed / max(1, step), 1)}
