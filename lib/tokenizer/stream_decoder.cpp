// mimo::TokenStreamDecoder: incremental detokenization with UTF-8 completion and stop strings.
#include <algorithm>

#include "mimo/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace mimo {

namespace {

// Length of an unfinished-but-so-far-valid UTF-8 sequence at the end of `bytes` (0 if none).
std::size_t unfinished_tail(std::string_view bytes) {
  for (std::size_t back = 1; back <= 3 && back <= bytes.size(); ++back) {
    const auto b = static_cast<unsigned char>(bytes[bytes.size() - back]);
    if (b < 0x80) return 0;
    if ((b & 0xC0) == 0x80) continue;  // a continuation byte: the lead is further back
    tokenizer::Utf8Sanitizer sanitizer;
    std::string produced;
    sanitizer.feed(bytes.substr(bytes.size() - back), produced);
    return sanitizer.has_pending() && produced.empty() ? back : 0;
  }
  return 0;
}

}  // namespace

TokenStreamDecoder::TokenStreamDecoder(Tokenizer tokenizer, std::vector<std::string> stop_strings,
                                       bool skip_special_tokens)
    : tokenizer_(std::move(tokenizer)),
      stop_strings_(std::move(stop_strings)),
      skip_special_tokens_(skip_special_tokens) {
  stop_strings_.erase(std::remove(stop_strings_.begin(), stop_strings_.end(), std::string()),
                      stop_strings_.end());
}

void TokenStreamDecoder::reset() {
  pending_bytes_.clear();
  held_text_.clear();
  stopped_ = false;
}

StreamText TokenStreamDecoder::push(TokenId id) {
  if (stopped_) return StreamText{{}, true, {}};
  if (!(skip_special_tokens_ && tokenizer_.is_special(id)))
    pending_bytes_ += tokenizer_.token_bytes(id);
  const std::size_t keep = unfinished_tail(pending_bytes_);
  const std::string_view complete(pending_bytes_.data(), pending_bytes_.size() - keep);
  held_text_ += tokenizer::sanitize_utf8(complete);
  pending_bytes_.erase(0, pending_bytes_.size() - keep);
  return release(false);
}

StreamText TokenStreamDecoder::flush() {
  if (stopped_) return StreamText{{}, true, {}};
  held_text_ += tokenizer::sanitize_utf8(pending_bytes_);
  pending_bytes_.clear();
  return release(true);
}

StreamText TokenStreamDecoder::release(bool at_end) {
  StreamText result;
  // The earliest stop string wins; text from it on is dropped.
  std::size_t stop_at = std::string::npos;
  for (const std::string& stop : stop_strings_) {
    const std::size_t hit = held_text_.find(stop);
    if (hit < stop_at) {
      stop_at = hit;
      result.stop_string = stop;
    }
  }
  if (stop_at != std::string::npos) {
    result.text = held_text_.substr(0, stop_at);
    result.stopped = stopped_ = true;
    held_text_.clear();
    pending_bytes_.clear();
    return result;
  }
  // Hold back the longest tail that could still grow into a stop string.
  std::size_t hold = 0;
  if (!at_end) {
    for (const std::string& stop : stop_strings_) {
      for (std::size_t len = std::min(stop.size() - 1, held_text_.size()); len > hold; --len) {
        if (held_text_.compare(held_text_.size() - len, len, stop, 0, len) == 0) {
          hold = len;
          break;
        }
      }
    }
  }
  result.text = held_text_.substr(0, held_text_.size() - hold);
  held_text_.erase(0, held_text_.size() - hold);
  return result;
}

}  // namespace mimo
