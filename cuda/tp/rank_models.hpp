// One tensor-parallel rank's model on its GPU (docs/parallel.md): the rank's config (local
// heads, dense / expert intermediate units, vocab rows) and a DeviceModel holding only its shard
// in stored precision - q/k/v rows and o_proj columns of its heads, every expert's slice of
// intermediate units (expert tensor parallelism), its dense-MLP units, its lm_head rows - plus
// the replicated parts (norms, router, the whole embedding table). Built from checkpoint weights
// through exec::make_rank_weights, or random at a geometry for benchmarks. No CUDA types.
#pragma once

#include <cstdint>
#include <memory>

#include "cuda/runtime/device_model.hpp"
#include "exec/sharding.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"

namespace mimo::cuda::tp {

// `config` with the rank's local head / kv-head counts, intermediate sizes (dense and expert,
// kExpertColumns) and vocabulary rows: the geometry its GpuState and kernels see.
model::ModelConfig rank_config(const model::ModelConfig& config, const exec::RankShard& shard);

// Uploads rank `shard`'s weights to the current CUDA device. Throws as upload_model does.
std::unique_ptr<DeviceModel> upload_rank_model(const model::ModelConfig& config,
                                               const model::ModelWeights& weights,
                                               const exec::RankShard& shard);

// Random weights of the rank's shard at `config`'s geometry on the current device. Every rank
// given the same seed gets identical replicated parts (router, norms, embedding), so routing
// agrees across ranks.
std::unique_ptr<DeviceModel> synthetic_rank_model(const model::ModelConfig& config,
                                                  const exec::RankShard& shard, std::uint64_t seed);

}  // namespace mimo::cuda::tp
