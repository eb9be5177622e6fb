// Shared device helpers for the tile functions: warp / block reductions and the scalar decoders
// of the stored number formats (exact, matching lib/quant/codecs.hpp).
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace mimo::cuda::tiles {

inline constexpr int kWarpSize = 32;

// The threads that run a tile together and a thread's place among them: a whole block (a
// kernel of the stream runner: thread = threadIdx.x, threads = blockDim.x, barrier 0 =
// __syncthreads), or a warp-aligned part of one (the persistent engine runs several tiles side
// by side in a block, each team on its own named barrier). Tiles read no thread or block index
// of their own, and synchronise only their team.
struct Team {
  unsigned thread;
  unsigned threads;
  // 0: the whole block; 1-15: a named barrier of `threads` threads (a team of one warp syncs
  // as a warp and needs none).
  unsigned barrier = 0;
  __device__ __forceinline__ int warp() const { return thread / kWarpSize; }
  __device__ __forceinline__ int lane() const { return thread % kWarpSize; }
  __device__ __forceinline__ int warps() const { return threads / kWarpSize; }
  __device__ __forceinline__ void sync() const {
    if (threads == kWarpSize) {
      __syncwarp();
    } else if (barrier == 0) {
      __syncthreads();
    } else {
      asm volatile("bar.sync %0, %1;" ::"r"(barrier), "r"(threads) : "memory");
    }
  }
  static __device__ __forceinline__ Team block() { return Team{threadIdx.x, blockDim.x, 0}; }
};
using BlockThread = Team;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the team; every thread gets the result. `scratch` holds 32 floats; the team is whole
// warps. Synchronises the team: call from every thread of it.
__device__ __forceinline__ float block_sum(float v, float* scratch,
                                           const Team& me = Team::block()) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  v = warp_sum(v);
  me.sync();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  me.sync();
  float total = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(total);
}

// Weights are read once per step: keep them out of L1 so activations and scales stay cached.
__device__ __forceinline__ uint4 load_stream_u4(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Starts moving the 128-byte line holding p into L2 (no register result, no wait).
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

__device__ __forceinline__ std::uint32_t word_of(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Max over the block; every thread gets the result. Same contract as block_sum.
__device__ __forceinline__ float block_max(float v, float* scratch,
                                           const Team& me = Team::block()) {
  const int lane = me.lane(), warp = me.warp();
  const int warps = me.warps();
  v = warp_max(v);
  me.sync();
  if (lane == 0) scratch[warp] = v;
  me.sync();
  return warp_max(lane < warps ? scratch[lane] : v);
}

// E8M0 scale: 2^(bits - 127); 0xFF is NaN; 0 is the float32 subnormal 2^-127.
__device__ __forceinline__ float e8m0_to_float(std::uint32_t bits) {
  if (bits == 0xFFu) return __int_as_float(0x7FC00000);
  return bits == 0 ? __int_as_float(0x00400000) : __int_as_float(static_cast<int>(bits << 23));
}

// Byte `byte` (0-3; a compile-time constant after unrolling) of a word of four E8M0 scales as
// 2^(value - 127), for values 1..254 only (0 gives 0, 0xFF infinity): one shift and one mask.
__device__ __forceinline__ float e8m0_byte_plain(std::uint32_t word, int byte) {
  const std::uint32_t moved = byte < 3 ? word << (23 - 8 * byte) : word >> 1;
  return __uint_as_float(moved & 0x7F800000u);
}

// Twice the magnitude of E2M1 code c (3 bits): 0, 1, 2, 3, 4, 6, 8, 12 packed as nibbles.
__device__ __forceinline__ float fp4_twice_value(std::uint32_t code) {
  const float magnitude = static_cast<float>((0xC8643210u >> ((code & 7u) * 4u)) & 0xFu);
  return (code & 8u) ? -magnitude : magnitude;
}

__device__ __forceinline__ float bf16_bits_to_float(std::uint32_t bits) {
  return __int_as_float(static_cast<int>(bits << 16));
}

// Two E4M3 codes (low byte first) to floats, exactly (every E4M3 value is a half).
__device__ __forceinline__ float2 fp8x2_e4m3_to_float2(std::uint16_t pair) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pair), __NV_E4M3);
  return __half22float2(*reinterpret_cast<const __half2*>(&h));
}

// Conversion-free E4M3 decode for the 1-token FP8 GEMV (now used only for FP8 matrices the
// tensor-core path cannot read: block columns not a multiple of 64). Moves the code's bits
// straight into an F32 pattern with shifts and masks; the values come out scaled by a power of
// two (exact; the smallest codes become F32 subnormals, so callers pre-scale the activations by
// kActivationScale to keep every product normal).
//
// Four E4M3 codes of one word (byte j = value j) to their values times 2^-120. NaN codes (0x7F,
// 0xFF) are not mapped: check fp8x4_has_nan.
__device__ __forceinline__ void fp8x4_to_float_bits(std::uint32_t w, float* v) {
  v[0] = __int_as_float((static_cast<int>(w << 24) >> 4) & 0x87F00000);
  v[1] = __int_as_float((static_cast<int>(w << 16) >> 4) & 0x87F00000);
  v[2] = __int_as_float((static_cast<int>(w << 8) >> 4) & 0x87F00000);
  v[3] = __int_as_float((static_cast<int>(w) >> 4) & 0x87F00000);
}
__device__ __forceinline__ bool fp8x4_has_nan(std::uint32_t w) {
  return __vcmpeq4(w & 0x7F7F7F7Fu, 0x7F7F7F7Fu) != 0;
}
inline constexpr float kFp8BitsUnit = 0x1p120f;  // undoes fp8x4_to_float_bits

// Activations are multiplied by 2^64 before the products with bit-decoded weights (exact) and
// the sums by 2^-64 after, so products of the subnormal weight patterns stay normal.
inline constexpr float kActivationScale = 0x1p64f;

inline constexpr float kFp4ScaledUnit = 16384.0f;  // 2^14: undoes e2m1x8_to_half2's 2^-14

}  // namespace mimo::cuda::tiles
