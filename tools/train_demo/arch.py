"""The demo model's architecture: a small MiMoV2FlashForCausalLM keeping every MiMo-V2 feature and
its DFlash drafter (MuseGlimmerAssistant), plus the training-side pieces transformers lacks: a
bf16 grouped-GEMM experts forward (optionally MXFP4 fake-quantised for QAT), auxiliary-loss-free
router balancing through e_score_correction_bias, and the bf16 checkpoint writer."""

import copy
import os

import torch
import torch.nn.functional as F
from transformers import MiMoV2FlashConfig, MiMoV2FlashForCausalLM
from transformers.integrations.moe import ALL_EXPERTS_FUNCTIONS
from transformers.models.mimo_v2_flash.modeling_mimo_v2_flash import (MiMoV2FlashExperts,
                                                                      MiMoV2FlashTopkRouter)

from quant_sim import mxfp4_fake_quant

LAYER_TYPES = ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention",
               "sliding_attention", "full_attention"]
MLP_TYPES = ["dense"] + ["sparse"] * 5
DRAFTER_TARGET_LAYERS = [1, 3, 5]
BLOCK_SIZE = 8
EXPERTS_IMPL = "demo_bf16_grouped"


def target_config(vocab_size, eos_id):
    return MiMoV2FlashConfig(
        vocab_size=vocab_size, hidden_size=256, intermediate_size=768,
        num_hidden_layers=len(LAYER_TYPES), num_attention_heads=4, num_key_value_heads=1,
        head_dim=96, v_head_dim=64, moe_intermediate_size=96, n_routed_experts=16,
        num_experts_per_tok=2, n_group=1, topk_group=1, routed_scaling_factor=1.0,
        norm_topk_prob=True, sliding_window=128, layer_types=list(LAYER_TYPES),
        mlp_layer_types=list(MLP_TYPES),
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": 5_000_000.0,
                               "partial_rotary_factor": 0.334},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0,
                                  "partial_rotary_factor": 0.334},
        },
        attention_value_scale=0.707, rms_norm_eps=1e-5, tie_word_embeddings=False,
        max_position_embeddings=1024, hidden_act="silu", attention_bias=False,
        initializer_range=0.02, bos_token_id=None, eos_token_id=eos_id, pad_token_id=eos_id)


def drafter_config(mask_id, eos_id, layers=2):
    from transformers import MuseGlimmerAssistantConfig
    return MuseGlimmerAssistantConfig(
        hidden_size=256, intermediate_size=512, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=2, head_dim=64, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        max_position_embeddings=1024, sliding_window=1024,
        layer_types=["full_attention"] * layers, block_size=BLOCK_SIZE,
        mask_token_id=mask_id, target_layer_ids=list(DRAFTER_TARGET_LAYERS),
        bos_token_id=None, eos_token_id=eos_id, pad_token_id=eos_id)


def bf16_grouped_experts(self, hidden_states, top_k_index, top_k_weights):
    """Same math as transformers' experts forward; GEMMs in bf16 through grouped_mm (fp32
    master weights are cast per call). With `self.demo_qat` the weights are MXFP4 fake-quantised
    with a straight-through gradient first."""
    num_tokens, hidden = hidden_states.shape
    top_k = top_k_index.shape[-1]
    ids = top_k_index.reshape(-1)
    ids_sorted, perm = torch.sort(ids)
    counts = torch.bincount(ids_sorted, minlength=self.num_experts)
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    w1, w2 = self.gate_up_proj, self.down_proj
    if getattr(self, "demo_qat", False):
        w1, w2 = mxfp4_fake_quant(w1), mxfp4_fake_quant(w2)
    mm = getattr(F, "grouped_mm", None) or torch._grouped_mm
    x = hidden_states[perm // top_k].to(torch.bfloat16)
    h = mm(x, w1.to(torch.bfloat16).transpose(-2, -1), offs=offs)
    gate, up = h.chunk(2, dim=-1)
    h = F.silu(gate) * up
    y = mm(h, w2.to(torch.bfloat16).transpose(-2, -1), offs=offs).float()
    y = y * top_k_weights.reshape(-1)[perm].unsqueeze(-1).float()
    out = torch.empty_like(y)
    out[perm] = y
    return out.view(num_tokens, top_k, hidden).sum(dim=1).to(hidden_states.dtype)


ALL_EXPERTS_FUNCTIONS.register(EXPERTS_IMPL, bf16_grouped_experts)


def use_experts_impl(model, name):
    model.set_experts_implementation(name)
    if model.config._experts_implementation != name:
        raise RuntimeError(f"experts implementation {name} not taken: "
                           f"{model.config._experts_implementation}")


def set_qat(model, on):
    for m in model.modules():
        if isinstance(m, MiMoV2FlashExperts):
            m.demo_qat = on


def new_target(cfg, device):
    model = MiMoV2FlashForCausalLM(cfg).to(device).float()
    use_experts_impl(model, EXPERTS_IMPL)
    return model


class RouterBalancer:
    """Auxiliary-loss-free load balancing (DeepSeek-V3): after every optimizer step each MoE
    layer's e_score_correction_bias moves by +-rate toward equal expert load. transformers
    keeps the bias as a buffer and never updates it itself."""

    def __init__(self, model, rate):
        self.rate = rate
        self.gates = [m for m in model.modules() if isinstance(m, MiMoV2FlashTopkRouter)]
        self.counts = [torch.zeros(g.num_experts, device=g.weight.device) for g in self.gates]
        self.hooks = [g.register_forward_hook(self._hook(i)) for i, g in enumerate(self.gates)]
        self.last_imbalance = torch.zeros((), device=self.counts[0].device)

    def _hook(self, i):
        def hook(mod, args, out):
            if mod.training:
                self.counts[i] += torch.bincount(out[2].reshape(-1).detach(),
                                                 minlength=mod.num_experts).float()
        return hook

    @torch.no_grad()
    def step(self):
        worst = []
        for g, c in zip(self.gates, self.counts):
            g.e_score_correction_bias += self.rate * torch.sign(c.mean() - c)
            worst.append(c.max() / c.mean().clamp(min=1))
            c.zero_()
        self.last_imbalance = torch.stack(worst).max()

    def remove(self):
        for h in self.hooks:
            h.remove()


def save_bf16(model, out_dir):
    """save_pretrained in bf16 (hub layout: per-expert tensors, attention_sink_bias), keeping
    e_score_correction_bias in f32 as transformers does; no generation_config.json."""
    m = copy.deepcopy(model).to(torch.bfloat16)
    for mod in m.modules():
        if "e_score_correction_bias" in getattr(mod, "_buffers", {}):
            mod.e_score_correction_bias = mod.e_score_correction_bias.float()
    m.save_pretrained(out_dir)
    gc = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    del m


def load_target(model_dir, device, dtype=torch.float32, experts="eager"):
    model = MiMoV2FlashForCausalLM.from_pretrained(model_dir, dtype=dtype,
                                                   attn_implementation="eager").to(device)
    use_experts_impl(model, experts)
    return model.eval()


def count_params(model):
    return sum(p.numel() for p in model.parameters())
