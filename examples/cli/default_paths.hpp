// Where mimo-cli finds a model when none is named: $MIMO_MODEL / $MIMO_DRAFTER, else the demo
// model and drafter shipped in the source tree (models/demo/).
#pragma once

#include <string>

namespace mimo::cli {

std::string default_model_dir();
std::string default_drafter_dir();

}  // namespace mimo::cli
