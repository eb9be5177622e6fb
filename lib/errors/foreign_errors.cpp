// rethrow_as_mimo_error: the one translation of foreign exceptions at the public API.
#include "errors/foreign_errors.hpp"

#include <filesystem>
#include <new>
#include <stdexcept>

#include "mimo/error.hpp"

namespace mimo {

void rethrow_as_mimo_error(const std::string& context) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const std::filesystem::filesystem_error& e) {
    throw Error(ErrorCode::kIo, context + ": " + e.what());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kOutOfRange,
                context + ": out of memory (is a size in the file or the options absurd?)");
  } catch (const std::length_error& e) {
    throw Error(ErrorCode::kOutOfRange, context + ": size too large (" + e.what() + ")");
  }
}

void rethrow_as_internal_error(const std::string& context) {
  try {
    rethrow_as_mimo_error(context);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal, context + ": unexpected exception: " + e.what());
  } catch (...) {
    throw Error(ErrorCode::kInternal, context + ": unexpected exception of an unknown type");
  }
}

}  // namespace mimo
