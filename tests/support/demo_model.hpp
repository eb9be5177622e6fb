// The bundled demo model (models/demo) on the CPU, loaded once per test binary and context size
// and shared by the tests that run it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mimo/model.hpp"

namespace mimo::testing {

// models/demo/<part>: "mixed" (the target) or "drafter".
inline std::string demo_dir(const std::string& part) {
  return std::string(MIMO_SOURCE_DIR) + "/models/demo/" + part;
}

// The demo target on the CPU with 2 threads and `max_context` tokens of context.
inline std::shared_ptr<const Model> cpu_demo_model(int max_context) {
  static std::mutex mutex;
  static std::map<int, std::shared_ptr<const Model>> models;
  const std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<const Model>& model = models[max_context];
  if (!model) {
    ModelOptions options;
    options.device = Device::kCpu;
    options.max_context = max_context;
    options.num_threads = 2;
    model = Model::load(demo_dir("mixed"), options);
  }
  return model;
}

}  // namespace mimo::testing
