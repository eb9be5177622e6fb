// A thin NCCL wrapper for tensor / expert parallelism (docs/parallel.md): a communicator per
// GPU, made either from a unique id shared between processes (one process per GPU) or for
// several GPUs of one process (embedding applications), and the three collectives the
// parallel executor issues on a stream. Every NCCL / CUDA failure becomes mimo::Error(kDevice).
// NVLink multicast (NVLS) is switched off before any communicator exists: on the shared GPU
// hosts it can take the machine's GPUs out of service (see docs/parallel.md). No NCCL or CUDA
// headers here.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <vector>

struct CUstream_st;  // cudaStream_t is CUstream_st*
struct ncclComm;     // ncclComm_t is ncclComm*

namespace mimo::cuda::comm {

using Stream = CUstream_st*;

// ncclUniqueId's bytes: made by rank 0, handed to every other rank by any transport.
struct UniqueId {
  std::array<char, 128> bytes{};
};
UniqueId new_unique_id();

enum class DType { kF32, kBF16, kF16, kI32 };

class Communicator {
 public:
  // One process per GPU: joins `id`'s clique as `rank` of `size` on CUDA device `device`.
  // Blocks until every rank has joined.
  static Communicator join(const UniqueId& id, int size, int rank, int device);
  // One process, several GPUs: communicator i is rank i on devices[i].
  static std::vector<Communicator> create_local(std::span<const int> devices);

  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }

  // Enqueued on `stream` of this communicator's device; counts are elements. In-place calls
  // (send == recv, or send at recv + rank * count for all_gather) are allowed as in NCCL.
  void all_reduce_sum(const void* send, void* recv, std::size_t count, DType type,
                      Stream stream) const;
  // recv = the ranks' `count`-element sends, in rank order.
  void all_gather(const void* send, void* recv, std::size_t count, DType type, Stream stream) const;
  // recv = rank's `count`-element block of the element-wise sum of every rank's send.
  void reduce_scatter_sum(const void* send, void* recv, std::size_t count, DType type,
                          Stream stream) const;
  // Throws if NCCL reported an asynchronous error (a peer died, a network failure).
  void check_async_error() const;

 private:
  Communicator(ncclComm* comm, int rank, int size, int device);
  ncclComm* comm_ = nullptr;
  int rank_ = 0, size_ = 0, device_ = 0;
};

// Brackets collectives one thread issues for several local communicators (ncclGroupStart /
// ncclGroupEnd): without it, a single thread driving N GPUs would deadlock on the first call.
class GroupScope {
 public:
  GroupScope();
  ~GroupScope();  // ends the group if end() was not called (errors then are lost)
  void end();     // ncclGroupEnd, throwing on failure
  GroupScope(const GroupScope&) = delete;
  GroupScope& operator=(const GroupScope&) = delete;

 private:
  bool open_ = true;
};

}  // namespace mimo::cuda::comm
