// draw_drafts (draft_sampling.hpp).
#include "api/draft_sampling.hpp"

namespace mimo {

DrawnDrafts draw_drafts(Sampler& sampler, const std::vector<float>& logits, int rows,
                        std::int32_t vocab) {
  DrawnDrafts drafts;
  drafts.q.resize(static_cast<std::size_t>(rows) * vocab);
  Sampler history = sampler;  // the penalty window grows by the drafts; the session's does not
  std::vector<float> q;
  for (int i = 0; i < rows; ++i) {
    const std::size_t offset = static_cast<std::size_t>(i) * vocab;
    history.probabilities(logits.data() + offset, vocab, q);
    const std::int32_t token = sampler.sample_from(q);
    std::copy(q.begin(), q.end(), drafts.q.begin() + static_cast<std::ptrdiff_t>(offset));
    drafts.tokens.push_back(token);
    history.accept(token);
  }
  return drafts;
}

}  // namespace mimo
