// Hidden taps left in an executor's device memory (StepOptions::taps_on_device), and the reader
// that takes them there: the GPU DFlash speculator extends its context cache from them with
// device-to-device copies instead of a device -> host -> device round trip per step
// (docs/speculative.md, "On the GPU"). No CUDA types: the events travel as void*.
#pragma once

#include <cstdint>

namespace mimo::exec {

// rows x (taps * hidden) floats in device memory, the layout of StepOutput::hidden. Valid until
// the state's next step. `ready` (a cudaEvent_t) is recorded on the executor's stream after the
// step wrote them: a reader on another stream waits for it before reading. `released` (a
// cudaEvent_t of the state) is recorded by the reader on its stream after its last read: the
// state's next step waits for it before writing them again.
struct DeviceTaps {
  const float* data = nullptr;
  std::int64_t rows = 0;
  void* ready = nullptr;
  void* released = nullptr;
};

// Implemented by a speculator that can read device taps (next to mimo::Speculator); the session
// asks the executor for them only when accepts_device_taps(), and falls back to observe() with
// host taps whenever the executor returned those instead.
class DeviceTapsReader {
 public:
  virtual ~DeviceTapsReader() = default;
  virtual bool accepts_device_taps() const = 0;
  // Speculator::observe for the first `rows` rows of `taps` (rows <= taps.rows); must record
  // taps.released after its last read of them, on its own stream (no host synchronisation).
  virtual void observe_device(std::int64_t first_position, const DeviceTaps& taps,
                              std::int64_t rows) = 0;
};

}  // namespace mimo::exec
