// Communicator: NCCL calls with their errors turned into mimo::Error(kDevice).
#include "cuda/comm/communicator.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "mimo/error.hpp"

namespace mimo::cuda::comm {
namespace {

static_assert(sizeof(ncclUniqueId) == sizeof(UniqueId::bytes), "ncclUniqueId size changed");

void check(ncclResult_t result, const char* what, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess) return;
  const char* detail = ncclGetLastError(comm);
  throw Error(ErrorCode::kDevice, fmt::format("NCCL {}: {}{}{}", what, ncclGetErrorString(result),
                                              detail && *detail ? ": " : "", detail ? detail : ""));
}

void check_cuda(cudaError_t result, const char* what) {
  if (result != cudaSuccess) {
    throw Error(ErrorCode::kDevice, fmt::format("CUDA {}: {}", what, cudaGetErrorString(result)));
  }
}

ncclDataType_t nccl_type(DType type) {
  switch (type) {
    case DType::kF32:
      return ncclFloat32;
    case DType::kBF16:
      return ncclBfloat16;
    case DType::kF16:
      return ncclFloat16;
    case DType::kI32:
      return ncclInt32;
  }
  throw Error(ErrorCode::kInternal, "NCCL: unknown data type");
}

// Must run before NCCL initialises: NVLink SHARP / multicast stays off on shared hosts.
void disable_nvlink_multicast() {
  setenv("NCCL_NVLS_ENABLE", "0", 1);
}

}  // namespace

UniqueId new_unique_id() {
  disable_nvlink_multicast();
  ncclUniqueId id;
  check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  UniqueId out;
  std::memcpy(out.bytes.data(), id.internal, sizeof id.internal);
  return out;
}

Communicator::Communicator(ncclComm* comm, int rank, int size, int device)
    : comm_(comm), rank_(rank), size_(size), device_(device) {}

Communicator Communicator::join(const UniqueId& id, int size, int rank, int device) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("NCCL join: rank {} of {} ranks is not valid", rank, size));
  }
  disable_nvlink_multicast();
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  ncclUniqueId nccl_id;
  std::memcpy(nccl_id.internal, id.bytes.data(), sizeof nccl_id.internal);
  ncclComm_t comm = nullptr;
  check(ncclCommInitRank(&comm, size, nccl_id, rank), "ncclCommInitRank");
  return Communicator(comm, rank, size, device);
}

std::vector<Communicator> Communicator::create_local(std::span<const int> devices) {
  if (devices.empty()) throw Error(ErrorCode::kInvalidArgument, "NCCL create_local: no devices");
  disable_nvlink_multicast();
  std::vector<ncclComm_t> comms(devices.size());
  check(ncclCommInitAll(comms.data(), static_cast<int>(devices.size()), devices.data()),
        "ncclCommInitAll");
  std::vector<Communicator> out;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    out.push_back(
        Communicator(comms[i], static_cast<int>(i), static_cast<int>(devices.size()), devices[i]));
  }
  return out;
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, nullptr)),
      rank_(other.rank_),
      size_(other.size_),
      device_(other.device_) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    if (comm_) ncclCommDestroy(comm_);
    comm_ = std::exchange(other.comm_, nullptr);
    rank_ = other.rank_;
    size_ = other.size_;
    device_ = other.device_;
  }
  return *this;
}

Communicator::~Communicator() {
  if (comm_) ncclCommDestroy(comm_);
}

void Communicator::all_reduce_sum(const void* send, void* recv, std::size_t count, DType type,
                                  Stream stream) const {
  check(ncclAllReduce(send, recv, count, nccl_type(type), ncclSum, comm_, stream), "ncclAllReduce",
        comm_);
}

void Communicator::all_gather(const void* send, void* recv, std::size_t count, DType type,
                              Stream stream) const {
  check(ncclAllGather(send, recv, count, nccl_type(type), comm_, stream), "ncclAllGather", comm_);
}

void Communicator::reduce_scatter_sum(const void* send, void* recv, std::size_t count, DType type,
                                      Stream stream) const {
  check(ncclReduceScatter(send, recv, count, nccl_type(type), ncclSum, comm_, stream),
        "ncclReduceScatter", comm_);
}

void Communicator::check_async_error() const {
  ncclResult_t async = ncclSuccess;
  check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError", comm_);
  check(async, "asynchronous error", comm_);
}

GroupScope::GroupScope() {
  check(ncclGroupStart(), "ncclGroupStart");
}

GroupScope::~GroupScope() {
  if (open_) ncclGroupEnd();
}

void GroupScope::end() {
  open_ = false;
  check(ncclGroupEnd(), "ncclGroupEnd");
}

}  // namespace mimo::cuda::comm
