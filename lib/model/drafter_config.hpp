// Reading a DFlash drafter's config.json (research/dflash.md section 3) into DrafterConfig, with
// the loader fallbacks every engine implements, and checking it against the target model.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace mimo::model {

// Fallbacks: block_size top-level or dflash_config.block_size; target_layer_ids from
// dflash_config (else build_target_layer_ids); mask_token_id from dflash_config or top level
// (-1 when neither); rope_parameters.rope_theta when rope_theta is absent (default 1e6);
// layer_types optional (empty: every layer alike, windowed when sliding_window is set, which
// MiMo's dflash_config.use_swa / swa_window_size selects). Rejects DFlash2DraftModel and
// dflash_config.sample_from_anchor = true (kUnsupported). transformers' assistant
// (MuseGlimmerAssistantModel / model_type muse_glimmer_assistant) keeps target_layer_ids at the
// top level and defaults layer_types to all sliding with sliding_window 2048.
DrafterConfig parse_drafter_config(const nlohmann::json& config, const std::string& label);

// `path`: the drafter directory or its config.json.
DrafterConfig load_drafter_config(const std::string& path);

// z-lab's default target layers: [L / 2] for one draft layer, else evenly spaced from 1 to L - 3
// (Python round(), ties to even).
std::vector<int> build_target_layer_ids(int num_target_layers, int num_draft_layers);

// The drafter reads the target's embeddings and feeds the target's lm_head, so hidden sizes must
// match; target layers, num_target_layers and the mask token must fit the target.
// Throws mimo::Error(kInvalidArgument) naming the mismatch.
void validate_drafter_against_target(const DrafterConfig& drafter, const ModelConfig& target);

}  // namespace mimo::model
