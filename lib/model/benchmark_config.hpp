// The benchmark geometry (../shared/docs/PERFORMANCE.md): MiMo-V2-Flash's layer shapes - hidden
// 4096, 64 query heads, q/k head dim 192 and v 128, 9 of 48 layers full attention, a dense first
// layer, MoE layers of `experts` routed experts (top 8, intermediate 2048), vocabulary 152576.
// mimo-bench --synthetic runs it on generated weights; tests plan its step programs.
#pragma once

#include "model/config.hpp"

namespace mimo::model {

ModelConfig benchmark_config(int layers = 48, int experts = 64);

}  // namespace mimo::model
