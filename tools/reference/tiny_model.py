"""Shared pieces of the reference-fixture builder: the tiny MiMo-V2 config, seeded bf16-exact
random weights, save/load helpers and the writer of float32 reference outputs (logits, hidden
states, router choices, greedy continuations)."""

import copy
import json
import os
import tempfile

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import GenerationConfig, MiMoV2FlashConfig, MiMoV2FlashForCausalLM

SEED = 20261127
LAYER_TYPES = ["full_attention", "sliding_attention", "sliding_attention", "full_attention",
               "sliding_attention"]
MLP_TYPES = ["dense", "sparse", "sparse", "sparse", "sparse"]
FULL_THETA = 1_000_000.0
SWA_THETA = 10_000.0
SEQ_LENGTHS = [40, 33, 17]
GREEDY_PROMPT_LEN = 12
GREEDY_NEW_TOKENS = 24

MANIFEST = {}


def log(*args):
    print(*args, flush=True)


def start_run():
    """Every fixture script's start: seeded torch, bounded CPU threads, the versions logged."""
    torch.manual_seed(SEED)
    torch.set_num_threads(min(16, os.cpu_count() or 1))
    log("transformers", transformers.__version__, "torch", torch.__version__,
        "cuda", torch.cuda.is_available())


# ----------------------------------------------------------------------------------------------
# Model construction


def tiny_config(hidden_size=64, intermediate_size=96, layer_types=LAYER_TYPES,
                mlp_types=MLP_TYPES, head_dim=48):
    return MiMoV2FlashConfig(
        vocab_size=256, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=len(layer_types), num_attention_heads=4, num_key_value_heads=1,
        head_dim=head_dim,
        v_head_dim=32, moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=2,
        n_group=2, topk_group=1, routed_scaling_factor=2.5, norm_topk_prob=True, sliding_window=8,
        layer_types=list(layer_types), mlp_layer_types=list(mlp_types),
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": FULL_THETA,
                               "partial_rotary_factor": 0.334},
            "sliding_attention": {"rope_type": "default", "rope_theta": SWA_THETA,
                                  "partial_rotary_factor": 0.334},
        },
        attention_value_scale=0.707, rms_norm_eps=1e-5, tie_word_embeddings=False,
        max_position_embeddings=1024, hidden_act="silu", attention_bias=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=None)


def init_std(name):
    """(mean, std) for a parameter: large std so logits are far from uniform."""
    module = name.rsplit(".", 1)[0].rsplit(".", 1)[-1] if "." in name else name
    if name.endswith("sinks") or name.endswith("attention_sink_bias"):
        return 0.0, 1.0
    if "norm" in module:
        return 1.0, 0.1
    if "embed_tokens" in name:
        return 0.0, 0.5
    if name.startswith("lm_head"):
        return 0.0, 0.3
    return 0.0, 0.15


@torch.no_grad()
def randomize_(model, gen):
    for name, p in model.named_parameters():
        mean, std = init_std(name)
        p.copy_(mean + std * torch.randn(p.shape, generator=gen))
        p.copy_(p.to(torch.bfloat16).float())
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            b.copy_((0.1 * torch.randn(b.shape, generator=gen)).to(torch.bfloat16).float())


def new_random_model(cfg, gen):
    model = MiMoV2FlashForCausalLM(cfg).float().eval()
    randomize_(model, gen)
    return model


def save_bf16(model, out_dir):
    """save_pretrained in bf16, keeping e_score_correction_bias in f32 as transformers does."""
    m = copy.deepcopy(model).to(torch.bfloat16)
    for mod in m.modules():
        if "e_score_correction_bias" in getattr(mod, "_buffers", {}):
            mod.e_score_correction_bias = mod.e_score_correction_bias.float()
    m.save_pretrained(out_dir)
    gc = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)


def load_f32(model_dir):
    return MiMoV2FlashForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager").eval()


def describe_safetensors(path, limit=400):
    st = load_file(path)
    lines = [f"  {k}: {str(v.dtype).replace('torch.', '')} {list(v.shape)}"
             for k, v in sorted(st.items())]
    log(f"{path}: {len(st)} tensors")
    log("\n".join(lines[:limit]))
    return st


def assert_same_weights(a, b, what):
    sa, sb = a.state_dict(), b.state_dict()
    worst = 0.0
    for k, v in sa.items():
        if k not in sb:
            raise RuntimeError(f"{what}: {k} missing after reload")
        worst = max(worst, (v.float() - sb[k].float()).abs().max().item())
    log(f"{what}: reload max |diff| = {worst}")
    if worst != 0.0:
        raise RuntimeError(f"{what}: weights changed across save/load ({worst})")


def model_from_hub_state(state, config_dict, tmp_root):
    """Loads a hub-layout float32 state dict through transformers' own loader."""
    d = tempfile.mkdtemp(dir=tmp_root)
    cfg = dict(config_dict)
    cfg.pop("quantization_config", None)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file({k: v.float().contiguous() for k, v in state.items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    return load_f32(d)


# ----------------------------------------------------------------------------------------------
# References


def write_tokens(path, ids):
    with open(path, "w") as f:
        f.write(" ".join(str(int(t)) for t in ids) + "\n")


def random_sequences(gen):
    seqs = [torch.randint(0, 256, (n,), generator=gen) for n in SEQ_LENGTHS]
    prompt = torch.randint(0, 256, (GREEDY_PROMPT_LEN,), generator=gen)
    return seqs, prompt


@torch.no_grad()
def greedy_no_cache(model, prompt, n_new):
    ids = prompt.clone()
    for _ in range(n_new):
        logits = model(input_ids=ids[None], use_cache=False).logits[0, -1]
        ids = torch.cat([ids, logits.argmax().view(1)])
    return ids[len(prompt):]


@torch.no_grad()
def greedy_margin(model, prompt):
    """Greedy continuation (cached generate) and its smallest top1-top2 logit gap."""
    gc = GenerationConfig(max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False)
    out = model.generate(prompt[None], generation_config=gc)[0, len(prompt):]
    lg = model(input_ids=torch.cat([prompt, out])[None], use_cache=False).logits[0]
    top2 = lg[len(prompt) - 1:-1].topk(2, dim=-1).values
    return out, float((top2[:, 0] - top2[:, 1]).min())


@torch.no_grad()
def pick_greedy_prompt(model, first_prompt, min_margin=0.02, tries=32):
    """First prompt (of a fixed seeded list) whose greedy run never has a near-tie argmax."""
    gen = torch.Generator().manual_seed(SEED + 100)
    prompt = first_prompt
    for t in range(tries):
        out, margin = greedy_margin(model, prompt)
        if margin >= min_margin:
            return prompt, out, margin, t
        prompt = torch.randint(0, 256, (GREEDY_PROMPT_LEN,), generator=gen)
    raise RuntimeError("no greedy prompt with a safe argmax margin")


@torch.no_grad()
def write_reference(model, ref_dir, seqs, prompt, full=True):
    os.makedirs(ref_dir, exist_ok=True)
    info = {}
    L = model.config.num_hidden_layers
    for n, ids in enumerate(seqs, 1):
        capture, routers, hooks = {}, {}, []
        if n == 1 and full:
            for i, layer in enumerate(model.model.layers):
                def hook(mod, args, out, i=i):
                    capture[i] = (out[0] if isinstance(out, tuple) else out).detach().clone()
                hooks.append(layer.register_forward_hook(hook))
                gate = getattr(layer.mlp, "gate", None)
                if gate is not None and hasattr(gate, "e_score_correction_bias"):
                    def rhook(mod, args, out, i=i):
                        routers[i] = (out[2].detach().clone(), out[1].detach().clone())
                    hooks.append(gate.register_forward_hook(rhook))
        out = model(input_ids=ids[None], use_cache=False, output_hidden_states=(n == 1 and full))
        for h in hooks:
            h.remove()
        logits = out.logits[0].float().numpy()
        write_tokens(os.path.join(ref_dir, f"tokens_{n}.txt"), ids.tolist())
        np.save(os.path.join(ref_dir, f"logits_{n}.npy"), logits.astype(np.float32))
        info[f"logits_{n}"] = list(logits.shape)
        if n == 1 and full:
            hs = torch.stack([h[0] for h in out.hidden_states]).float().numpy()
            np.save(os.path.join(ref_dir, "hidden_1.npy"), hs)
            raw = torch.stack([capture[i][0] for i in range(L)]).float().numpy()
            np.save(os.path.join(ref_dir, "final_prenorm_1.npy"), raw[-1])
            normed_last = model.model.norm(torch.from_numpy(raw[-1])).numpy()
            conv = {
                "num_hidden_states": int(hs.shape[0]),
                "hs[0]==embed": float(np.abs(hs[0] - model.model.embed_tokens(ids).numpy()).max()),
                "hs[i+1]==layer_out[i] (i<L-1) max diff":
                    float(max(np.abs(hs[i + 1] - raw[i]).max() for i in range(L - 1))),
                "hs[L]==layer_out[L-1] diff": float(np.abs(hs[L] - raw[L - 1]).max()),
                "hs[L]==norm(layer_out[L-1]) diff": float(np.abs(hs[L] - normed_last).max()),
            }
            log("hidden-state convention:", json.dumps(conv, indent=1))
            info["hidden_convention"] = conv
            moe_layers = sorted(routers)
            if moe_layers:
                experts, weights = [], []
                for i in moe_layers:
                    idx, w = routers[i]
                    order = idx.argsort(dim=-1)
                    experts.append(idx.gather(-1, order))
                    weights.append(w.gather(-1, order))
                np.save(os.path.join(ref_dir, "router_experts_1.npy"),
                        torch.stack(experts).numpy().astype(np.int32))
                np.save(os.path.join(ref_dir, "router_weights_1.npy"),
                        torch.stack(weights).float().numpy())
                info["router_layers"] = moe_layers
                log("router experts (first 3 tokens):", torch.stack(experts)[:, :3].tolist())
    if prompt is not None:
        prompt, gen_out, margin, tries = pick_greedy_prompt(model, prompt)
        check = greedy_no_cache(model, prompt, GREEDY_NEW_TOKENS)
        info["greedy_cache_vs_nocache_equal"] = bool(torch.equal(gen_out, check))
        log("greedy prompt:", prompt.tolist(), "(candidate", tries, ")")
        log("greedy generate:", gen_out.tolist())
        log("greedy no-cache:", check.tolist())
        if not torch.equal(gen_out, check):
            raise RuntimeError("cached and uncached greedy differ")
        write_tokens(os.path.join(ref_dir, "greedy_prompt.txt"), prompt.tolist())
        write_tokens(os.path.join(ref_dir, "greedy_output.txt"), gen_out.tolist())
        info["greedy_prompt"] = prompt.tolist()
        info["greedy_output"] = gen_out.tolist()
        info["greedy_min_top1_top2_margin"] = margin
        log("greedy min top1-top2 margin:", margin)
    return info
