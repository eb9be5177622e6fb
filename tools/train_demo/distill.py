"""Drafter distillation from the quantized demo target (issue 19): the target continues training
prompts greedily and at several temperatures; for every position the run keeps the tokens, the
fused layer-1/3/5 features and the target's top-k logits. The drafter is trained on the DFlash
objective of train_drafter.py plus KL(target || drafter) on those top-k distributions at
several temperatures:

  loss = CE_w + kl_weight * mean_T KL_w(softmax(z_t / T) restricted to top-k || softmax(z_d / T))

where _w weights block slot k by exp(-(k-1)/gamma) as the CE does, z_t are the target's logits
for the token at a+k (its output at position a+k-1) and z_d the drafter's slot-k logits. The
top-k target probabilities are renormalised over the k kept tokens; the drafter's are its full
softmax read at those tokens."""

import math
import time

import torch
import torch.nn.functional as F
from transformers import GenerationConfig

from common import log, step_generator
from train_drafter import dflash_logits, drafter_optimizer, weighted_ce
from train_target import scheduled_lr


@torch.no_grad()
def generate(target, prompts, new_tokens, temperatures, batch, time_s, seed):
    """Continuations of prompts [N, P]: batch b is decoded at temperatures[b % len] (0 = greedy).
    Stops early (fewer sequences) when time_s runs out. Returns (sequences [n, P + new], the
    temperature of each sequence [n])."""
    target.generation_config.eos_token_id = None
    seqs, temps, t0 = [], [], time.time()
    n_batches = math.ceil(len(prompts) / batch)
    for b in range(n_batches):
        if b > 0 and time.time() - t0 > time_s:
            log(f"distill data: time budget reached after {b} of {n_batches} batches")
            break
        p = prompts[b * batch:(b + 1) * batch]
        t = temperatures[b % len(temperatures)]
        gc = GenerationConfig(max_new_tokens=new_tokens, do_sample=t > 0,
                              temperature=t if t > 0 else None, top_k=0, top_p=1.0,
                              eos_token_id=None, pad_token_id=0)
        torch.manual_seed(seed + b)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = target.generate(p, attention_mask=torch.ones_like(p), generation_config=gc)
        seqs.append(out)
        temps += [t] * len(p)
    out = torch.cat(seqs)
    log(f"distill data: {out.shape[0]} sequences of {out.shape[1]} tokens in "
        f"{time.time() - t0:.1f}s")
    return out, torch.tensor(temps)


@torch.no_grad()
def features_and_topk(target, seqs, layer_ids, k, batch=64):
    """Per position: concat(hidden_states[i + 1] for i in layer_ids) in bf16 (as
    train_drafter.target_features) and the target's top-k logits (bf16) and token ids (int16:
    the vocabulary has 8192 entries) for the next token."""
    feats, top_v, top_i = [], [], []
    for i in range(0, len(seqs), batch):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = target.model(input_ids=seqs[i:i + batch], use_cache=False,
                               output_hidden_states=True)
            logits = target.lm_head(out.last_hidden_state).float()
        hs = out.hidden_states
        feats.append(torch.cat([hs[j + 1] for j in layer_ids], dim=-1).to(torch.bfloat16))
        v, ix = logits.topk(k, dim=-1)
        top_v.append(v.to(torch.bfloat16))
        top_i.append(ix.to(torch.int16))
    return torch.cat(feats), torch.cat(top_v), torch.cat(top_i)


def greedy_consistency(seqs, temps, top_i, prompt_len):
    """Share of generated tokens of the greedy sequences equal to the stored top-1 of the
    position before (generation and the feature pass both run bf16 autocast, so close to 1)."""
    g = temps == 0
    if not bool(g.any()):
        return None
    nxt = seqs[g.to(seqs.device)][:, prompt_len:]
    top1 = top_i[g.to(top_i.device)][:, prompt_len - 1:-1, 0].long()
    return float((nxt == top1).float().mean())


def block_topk(top_v, top_i, idx, block_pos):
    """The stored top-k of the positions before each labelled slot: [bsz, n_anchor, B-1, k]."""
    bsz, n_anchor, B = block_pos.shape
    k = top_v.shape[-1]
    pos = block_pos[:, :, :-1].reshape(bsz, -1)[..., None].expand(-1, -1, k)
    v = top_v[idx].gather(1, pos).view(bsz, n_anchor, B - 1, k).float()
    ix = top_i[idx].long().gather(1, pos).view(bsz, n_anchor, B - 1, k)
    return v, ix


def kl_topk(logits, top_v, top_i, temperatures, gamma):
    """mean_T of the slot-weighted KL(target_T restricted to top-k || drafter_T)."""
    slots = logits.shape[2]
    k = torch.arange(1, slots + 1, device=logits.device, dtype=torch.float32)
    w = torch.exp(-(k - 1) / gamma)
    total = logits.new_zeros(())
    for t in temperatures:
        p_log = F.log_softmax(top_v / t, dim=-1)
        q_log = F.log_softmax(logits / t, dim=-1).gather(-1, top_i)
        kl = (p_log.exp() * (p_log - q_log)).sum(-1)
        total = total + (kl * w).sum() / (w.sum() * kl.shape[0] * kl.shape[1])
    return total / len(temperatures)


def train(drafter, target, data, hp, seed, csv):
    """AdamW over a wall-clock and/or step budget, cosine LR after warmup (train_drafter's
    loop), loss = CE_w + kl_weight * KL. data: dict with seqs, feats, top_v, top_i."""
    embed, lm_head, opt = drafter_optimizer(drafter, target, hp)
    step, elapsed, t_last = 0, 0.0, time.time()
    while True:
        lr = scheduled_lr(opt, elapsed, step, hp)
        if lr is None:
            break
        logits, target_ids, idx, block_pos = dflash_logits(
            drafter, embed, lm_head, data["feats"], data["seqs"],
            step_generator(seed, 5, step), hp)
        ce, acc, run = weighted_ce(logits, target_ids, hp["gamma"])
        if hp["kl_weight"] > 0:
            tv, ti = block_topk(data["top_v"], data["top_i"], idx, block_pos)
            kl = kl_topk(logits, tv, ti, hp["kl_temperatures"], hp["gamma"])
        else:
            kl = torch.zeros((), device=logits.device)
        loss = ce + hp["kl_weight"] * kl
        loss.backward()
        torch.nn.utils.clip_grad_norm_(drafter.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        now = time.time()
        elapsed += now - t_last
        t_last = now
        if step % hp["log_every"] == 0 or step == 1:
            row = {"step": step, "loss": round(loss.item(), 5), "ce": round(ce.item(), 5),
                   "kl": round(kl.item(), 5), "lr": f"{lr:.3e}",
                   "est_tau": round(1 + run.item(), 4), "elapsed_s": round(elapsed, 2),
                   **{f"acc_{i + 1}": round(a, 4) for i, a in enumerate(acc.tolist())}}
            csv.write(**row)
            if step % (hp["log_every"] * 10) == 0 or step == 1:
                log(f"distill step {step}: {row}")
    drafter.eval()
    return {"steps": step, "seconds": round(elapsed, 1),
            "ms_per_step": round(1000 * elapsed / max(1, step), 1)}
