"""Evaluation of the demo model on held-out code: perplexity and argmax predictions (for top-1
agreement between precisions) in float32, and the DFlash drafter's mean acceptance length
measured through transformers' own speculative generation."""

import math
import time

import torch
from transformers import GenerationConfig


@torch.no_grad()
def lm_eval(model, windows, batch=16):
    """(perplexity, mean nll, argmax predictions [n, T-1]) over windows [n, T]."""
    nll_sum, count, preds = 0.0, 0, []
    for i in range(0, len(windows), batch):
        x = windows[i:i + batch]
        logits = model(input_ids=x, use_cache=False).logits[:, :-1].float()
        nll = -logits.log_softmax(-1).gather(-1, x[:, 1:, None]).squeeze(-1)
        nll_sum += nll.sum().item()
        count += nll.numel()
        preds.append(logits.argmax(-1).to(torch.int32).cpu())
    mean = nll_sum / count
    return math.exp(mean), mean, torch.cat(preds)


def agreement(a, b):
    return float((a == b).float().mean())


def _gen_config(new_tokens, do_sample, temperature, dflash):
    kw = {"speculation_type": "dflash"} if dflash else {}
    return GenerationConfig(max_new_tokens=new_tokens, do_sample=do_sample,
                            temperature=temperature if do_sample else None, top_k=0, top_p=1.0,
                            eos_token_id=None, pad_token_id=0, **kw)


@torch.no_grad()
def dflash_acceptance(target, drafter, prompts, new_tokens, do_sample, temperature, seed,
                      time_s=1e9):
    """Mean acceptance length tau = tokens committed per drafted block (the bonus token
    included, so 1 <= tau <= block_size). The target's forward calls are counted: the first is
    the prefill, which commits one token; every later one verifies a drafted block, except the
    last call(s) near max_new_tokens where transformers drafts nothing (one token each).
    Prompts after time_s has passed are skipped."""
    target.generation_config.eos_token_id = None
    calls = {"target": 0, "drafter": 0}

    def counter(name):
        def hook(*_):
            calls[name] += 1
        return hook
    hooks = [target.register_forward_hook(counter("target")),
             drafter.register_forward_hook(counter("drafter"))]
    per, outs = [], []
    t0 = time.time()
    try:
        for i, p in enumerate(prompts):
            if time.time() - t0 > time_s:
                break
            before = dict(calls)
            torch.manual_seed(seed + i)
            out = target.generate(p[None], attention_mask=torch.ones_like(p[None]),
                                  generation_config=_gen_config(new_tokens, do_sample,
                                                                temperature, True),
                                  assistant_model=drafter)[0, len(p):]
            per.append({"new_tokens": int(len(out)),
                        "verify_steps": calls["target"] - before["target"] - 1,
                        "drafter_calls": calls["drafter"] - before["drafter"]})
            outs.append(out)
    finally:
        for h in hooks:
            h.remove()
    def tau(rows):
        drafted = sum(r["drafter_calls"] for r in rows)
        undrafted = sum(r["verify_steps"] - r["drafter_calls"] for r in rows)
        return (sum(r["new_tokens"] - 1 for r in rows) - undrafted) / max(1, drafted)
    return {"tau": round(tau(per), 4), "prompts": len(per),
            "new_tokens_per_prompt": new_tokens,
            "verify_steps": sum(r["verify_steps"] for r in per),
            "drafter_calls": sum(r["drafter_calls"] for r in per),
            "new_tokens_per_target_forward": round(
                sum(r["new_tokens"] for r in per) / max(1, sum(r["verify_steps"] + 1
                                                               for r in per)), 4),
            "per_prompt_tau": [round(tau([r]), 3) for r in per],
            "seconds": round(time.time() - t0, 1)}, outs


def greedy_config(new_tokens):
    return _gen_config(new_tokens, False, None, False)


@torch.no_grad()
def plain_generate(target, prompts, new_tokens):
    target.generation_config.eos_token_id = None
    return [target.generate(p[None], attention_mask=torch.ones_like(p[None]),
                            generation_config=greedy_config(new_tokens))[0, len(p):]
            for p in prompts]
