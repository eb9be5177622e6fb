// Where mimo-cli finds a model when none is named: $MIMO_MODEL / $MIMO_DRAFTER, else the demo
// model and drafter in share/mimo/demo/ beside the executable's bin/ directory (installed by
// `cmake --install`, linked there in the build tree). A missing demo fails at loading, which
// names the path.
#pragma once

#include <string>

namespace mimo::cli {

std::string default_model_dir();
std::string default_drafter_dir();

}  // namespace mimo::cli
