// Session::generate with a Speculator: draft, verify the block [pending token, drafts...] in one
// target pass, accept the longest agreeing prefix plus one target token, roll the caches back.
// docs/speculative.md gives the algorithm and why the output equals plain decoding.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "api/constraint_gate.hpp"
#include "api/draft_sampling.hpp"
#include "api/non_finite.hpp"
#include "api/sampler_access.hpp"
#include "api/session_impl.hpp"
#include "api/speculative_verify.hpp"
#include "exec/device_drafts.hpp"
#include "exec/device_taps.hpp"
#include "mimo/error.hpp"

namespace mimo {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The step's drafts. Sampling with a speculator that has a distribution: drawn from it, with
// `q` each draft's distribution ([drafts, vocab]); otherwise propose()'s tokens, `q` empty.
std::vector<std::int32_t> make_drafts(Speculator& spec, Sampler& sampler, bool greedy,
                                      const std::vector<std::int32_t>& context, int room,
                                      std::int32_t vocab, std::vector<float>& rows,
                                      std::vector<float>& q) {
  const int n = greedy ? 0 : spec.draft_logits(context, room, vocab, rows);
  if (n <= 0) return spec.propose(context, room);
  if (rows.size() != static_cast<std::size_t>(n) * vocab) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("speculator '{}' returned {} logits for {} rows of {}", spec.name(),
                            rows.size(), n, vocab));
  }
  DrawnDrafts drawn = draw_drafts(sampler, rows, std::min(n, room), vocab);
  q = std::move(drawn.q);
  return std::move(drawn.tokens);
}

// The step's sampled drafts drawn on the device (exec::DeviceDraftDrawer), or none where the
// device cannot: penalties (draft i's window would hold drafts 0 .. i-1, known only there), a
// request outside the vocabulary, or a row the device declined. Draft i uses the generator's
// i-th value from now, as draw_drafts does on the host; the values are consumed here.
std::vector<std::int32_t> draw_drafts_on_device(exec::DeviceDraftDrawer& drawer, Sampler& sampler,
                                                const std::vector<std::int32_t>& context, int room,
                                                std::int32_t vocab) {
  const SamplerConfig& c = sampler.config();
  if (c.repetition_penalty != 1.0f || c.presence_penalty != 0.0f || c.frequency_penalty != 0.0f) {
    return {};
  }
  std::vector<exec::SampleRequest> requests;
  for (int i = 0; i < room; ++i) {
    std::optional<exec::SampleRequest> r = SamplerAccess::device_request(sampler, vocab, i);
    if (!r) return {};
    r->penalty_counts.clear();  // no penalties: the window changes nothing
    requests.push_back(std::move(*r));
  }
  std::vector<std::int32_t> drafts = drawer.draw_on_device(context, requests);
  SamplerAccess::consume_device_draw(sampler, static_cast<int>(drafts.size()));
  return drafts;
}

// Whether to ask the executor to leave the taps on the device: the speculator reads them there.
bool wants_device_taps(Speculator& spec) {
  const auto* reader = dynamic_cast<const exec::DeviceTapsReader*>(&spec);
  return reader != nullptr && reader->accepts_device_taps();
}

// Hands the first `rows` taps of a step to the speculator, from wherever the executor left them
// (it may return host taps even when asked for device ones: a step of several chunks).
void observe_taps(Speculator& spec, std::int64_t first_position, const exec::StepOutput& out,
                  std::int64_t rows) {
  if (out.device_taps.data != nullptr) {
    dynamic_cast<exec::DeviceTapsReader&>(spec).observe_device(first_position, out.device_taps,
                                                               rows);
  } else {
    spec.observe(first_position, out.hidden.empty() ? nullptr : out.hidden.data(), rows);
  }
}

}  // namespace

void Session::Impl::process_for_speculator(const std::vector<std::int32_t>& new_tokens,
                                           Speculator& speculator, bool is_prefill) {
  std::vector<std::int32_t> batch = pending;
  batch.insert(batch.end(), new_tokens.begin(), new_tokens.end());
  if (batch.empty()) return;
  const std::int64_t base = state->length();
  auto start = Clock::now();
  exec::StepOutput out = run_step(batch, false, speculator.feature_layers(), nullptr, nullptr,
                                  wants_device_taps(speculator));
  const double elapsed = seconds_since(start);
  (is_prefill ? stats.prefill_seconds : stats.decode_seconds) += elapsed;
  (is_prefill ? stats.prefill_tokens : stats.decode_tokens) +=
      static_cast<std::int64_t>(batch.size());
  set_logits(std::move(out.logits));
  pending.clear();
  tokens.insert(tokens.end(), new_tokens.begin(), new_tokens.end());
  observe_taps(speculator, base, out, static_cast<std::int64_t>(batch.size()));
}

GenerateResult Session::Impl::generate_speculative(const std::vector<std::int32_t>& prompt,
                                                   Sampler& sampler, const GenerateOptions& options,
                                                   const TokenCallback& on_token) {
  Speculator& spec = *options.speculator;
  const std::vector<int> taps = spec.feature_layers();
  const bool device_taps = wants_device_taps(spec);
  // A speculator that draws its sampled drafts on the device, when it is set to.
  auto* device_drawer = dynamic_cast<exec::DeviceDraftDrawer*>(&spec);
  if (device_drawer != nullptr && !device_drawer->draws_on_device()) device_drawer = nullptr;
  for (int layer : taps) {
    if (layer < 0 || layer >= m->config.num_layers) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("speculator '{}' asks for target layer {} (the model has {})",
                              spec.name(), layer, m->config.num_layers));
    }
  }
  if (speculator != options.speculator) {
    options.speculator->truncate(0);  // a new binding: it has seen nothing of this conversation
    speculator = options.speculator;
  }
  const std::int32_t vocab = m->config.vocab_size;
  const bool greedy = sampler.config().temperature == 0.0f;
  const std::int64_t capacity = m->options.max_context;
  const int max_block = m->options.max_step_tokens;
  const int most_drafts = std::max(0, std::min(spec.max_draft(), max_block - 1));
  // Shared with the model's other sessions that use this speculator (draft_length.hpp).
  const std::shared_ptr<DraftLengthChooser> draft_chooser =
      m->draft_lengths.chooser(options.speculator, most_drafts);
  using DraftLength = GenerateOptions::DraftLength;
  // A speculator that picks its own counts is handed the most every step.
  const bool adaptive =
      !spec.picks_draft_counts() && (options.draft_length == DraftLength::kAdaptiveSampled ||
                                     (options.draft_length == DraftLength::kAdaptive && greedy));
  std::vector<std::int32_t> stops = options.stop_token_ids;
  if (stops.empty() && !options.ignore_eos) stops = m->summary.eos_token_ids;
  // A constraint masks the first row and every verify row on the host before the acceptance
  // rule sees it: the target's p is the masked distribution, so the output is that of
  // constrained plain decoding (a draft the constraint forbids has p = 0 and is rejected).
  ConstraintGate gate(options.constraint.get(), stops, vocab);
  SpeculationStats& st = stats.speculation;
  const auto call_start = Clock::now();
  GenerateResult result;
  int emitted = 0;
  // Records a token; false when generation ends with it.
  auto emit = [&](const SampleResult& s) {
    result.tokens.push_back(s.token);
    tokens.push_back(s.token);
    if (++emitted == 1) stats.time_to_first_token_seconds = seconds_since(call_start);
    if (on_token && !call_on_token(on_token, s)) {
      result.reason = StopReason::kCallback;
      return false;
    }
    if (std::find(stops.begin(), stops.end(), s.token) != stops.end()) {
      result.reason = StopReason::kStopToken;
      return false;
    }
    if (emitted >= options.max_tokens) {
      result.reason = StopReason::kMaxTokens;
      return false;
    }
    if (static_cast<std::int64_t>(tokens.size()) >= capacity) {
      result.reason = StopReason::kContextFull;
      return false;
    }
    return true;
  };
  std::vector<float> probs, residual, draft_rows;
  try {
    process_for_speculator(prompt, spec, !prompt.empty());
    for (std::int32_t t : prompt) sampler.accept(t);
    result.reason = StopReason::kMaxTokens;
    if (options.max_tokens == 0) return result;
    if (cancellation.take()) {
      result.reason = StopReason::kCancelled;
      return result;
    }
    if (static_cast<std::int64_t>(tokens.size()) >= capacity) {
      result.reason = StopReason::kContextFull;
      return result;
    }
    // The first token comes from the prefill logits, exactly as in plain decoding.
    auto start = Clock::now();
    const float* first_row = gate.mask(host_logits().data(), state->length());
    if (first_row == nullptr) {
      result.reason = StopReason::kConstraintComplete;
      return result;
    }
    SampleResult first = sampler.sample(first_row, vocab);
    sampler.accept(first.token);
    gate.accept(first.token);
    stats.decode_seconds += seconds_since(start);
    pending.push_back(first.token);
    if (!emit(first)) return result;

    while (true) {
      if (cancellation.take()) {
        result.reason = StopReason::kCancelled;
        return result;
      }
      if (static_cast<std::int64_t>(tokens.size()) >= capacity) {
        result.reason = StopReason::kContextFull;
        return result;
      }
      const int wanted = adaptive ? draft_chooser->choose() : most_drafts;
      const std::int64_t room =
          std::min<std::int64_t>({wanted, options.max_tokens - emitted - 1,
                                  capacity - static_cast<std::int64_t>(tokens.size()) - 1});
      auto draft_start = Clock::now();
      std::vector<std::int32_t> drafts;
      std::vector<float> q;  // each draft's proposal distribution; empty: one-hot proposals
      // Drafts drawn on the device keep their distributions there (exec::DeviceDraftDrawer).
      exec::DeviceDraftDrawer* drawn_on_device = nullptr;
      const bool rows_on_device = may_sample_on_device(m->options.sample_on_device,
                                                       m->executor->can_sample(), gate.active());
      if (room > 0 && !greedy && device_drawer != nullptr && rows_on_device) {
        drafts =
            draw_drafts_on_device(*device_drawer, sampler, tokens, static_cast<int>(room), vocab);
        if (!drafts.empty()) {
          drawn_on_device = device_drawer;
        } else {
          // Not drawable there (penalties): argmax drafts decided on the device by the one-hot
          // rule cost far less than drawing and deciding over the vocabulary on the host.
          drafts = spec.propose(tokens, static_cast<int>(room));
        }
      } else if (room > 0) {
        drafts = make_drafts(spec, sampler, greedy, tokens, static_cast<int>(room), vocab,
                             draft_rows, q);
      }
      const double draft_seconds = seconds_since(draft_start);
      if (static_cast<std::int64_t>(drafts.size()) > room) drafts.resize(room);
      for (std::int32_t d : drafts) {
        if (d < 0 || d >= vocab) {
          throw Error(ErrorCode::kInvalidArgument,
                      fmt::format("speculator '{}' proposed token {} outside the vocabulary of {}",
                                  spec.name(), d, vocab));
        }
      }
      auto verify_start = Clock::now();
      std::vector<std::int32_t> block = pending;  // the one pending token: the anchor
      block.insert(block.end(), drafts.begin(), drafts.end());
      const std::int64_t base = state->length();
      // The rows can be decided on the device: row i is reached only after drafts 1..i were
      // accepted, so its penalty window holds them and (sampling) each accepted row consumed
      // exactly one generator value: its coin is the i-th value from now, its redraw the next.
      // Drafts drawn on the device are decided there against their distributions; drafts with
      // a distribution on the host are decided here.
      std::vector<exec::SampleRequest> row_requests;
      if (rows_on_device && q.empty()) {
        Sampler probe = sampler;
        for (std::size_t i = 0; i < block.size(); ++i) {
          std::optional<exec::SampleRequest> r =
              SamplerAccess::device_request(probe, vocab, greedy ? 0 : static_cast<int>(i));
          if (!r) {
            row_requests.clear();
            break;
          }
          if (!greedy) r->draft = i < drafts.size() ? drafts[i] : -1;
          if (drawn_on_device != nullptr && i < drafts.size()) {
            r->proposal = drawn_on_device->device_proposal(static_cast<int>(i));
          }
          row_requests.push_back(std::move(*r));
          if (i < drafts.size()) probe.accept(drafts[i]);
        }
      }
      exec::StepOutput out = run_step(block, true, taps, nullptr,
                                      row_requests.empty() ? nullptr : &row_requests, device_taps);
      st.verify_pass_seconds += seconds_since(verify_start);
      const bool rows_sampled = !out.sampled_rows.empty();
      if (!rows_sampled && drawn_on_device != nullptr) {
        q = drawn_on_device->proposals_to_host(static_cast<int>(drafts.size()));  // decided here
      }
      if (!rows_sampled) {
        try {
          check_finite_logits(out.logits.data(), block.size(), vocab, base, "Session::generate");
        } catch (const Error&) {
          state->truncate(base);  // as before the step: the anchor is still pending
          throw;
        }
      }
      pending.clear();
      int accepted = 0;
      int produced = 0;
      bool more = true;
      // Whether the last emitted token is in the cache (an accepted draft; at row 0 the anchor).
      bool last_was_draft = false;
      for (std::size_t i = 0; i <= drafts.size(); ++i) {
        const std::int32_t draft = i < drafts.size() ? drafts[i] : -1;
        SampleResult s;
        const float* row = rows_sampled ? nullptr
                                        : gate.mask(out.logits.data() + i * std::size_t(vocab),
                                                    base + static_cast<std::int64_t>(i) + 1);
        if (!rows_sampled && row == nullptr) {
          result.reason = StopReason::kConstraintComplete;
          more = false;
          last_was_draft = true;  // the row's token (anchor or draft) is processed already
          break;
        }
        if (rows_sampled) {
          s = out.sampled_rows[i];
          // What verify_sampled would have drawn: the coin, and the redraw after a rejection.
          SamplerAccess::consume_device_draw(sampler, draft >= 0 && s.token != draft ? 2 : 1);
        } else {
          if (greedy) {
            s = sampler.sample(row, vocab);
          } else if (draft >= 0 && !q.empty()) {
            s = verify_against_proposal(sampler, row, vocab, draft, q.data() + i * vocab, probs,
                                        residual);
          } else {
            s = verify_sampled(sampler, row, vocab, draft, probs);
          }
        }
        sampler.accept(s.token);
        gate.accept(s.token);
        ++produced;
        last_was_draft = s.token == draft;
        if (last_was_draft) ++accepted;
        more = emit(s);
        if (!more || !last_was_draft) break;
      }
      // Keep the anchor and the accepted drafts; a target-chosen last token runs next step.
      state->truncate(base + 1 + accepted);
      if (rows_sampled) {
        keep_logits_on_device(accepted);
      } else {
        const std::size_t row = static_cast<std::size_t>(accepted) * vocab;
        set_logits(std::vector<float>(out.logits.begin() + row, out.logits.begin() + row + vocab));
      }
      if (!last_was_draft) pending.push_back(result.tokens.back());
      const auto observe_start = Clock::now();
      observe_taps(spec, base, out, accepted + 1);
      st.observe_seconds += seconds_since(observe_start);

      const double verify_seconds = seconds_since(verify_start);
      st.steps += 1;
      st.drafted_tokens += static_cast<std::int64_t>(drafts.size());
      st.accepted_tokens += accepted;
      st.emitted_tokens += produced;
      if (st.acceptance_histogram.size() <= static_cast<std::size_t>(produced)) {
        st.acceptance_histogram.resize(produced + 1, 0);
      }
      st.acceptance_histogram[produced] += 1;
      if (st.draft_histogram.size() <= drafts.size()) {
        st.draft_histogram.resize(drafts.size() + 1, 0);
      }
      st.draft_histogram[drafts.size()] += 1;
      // The whole step, as the caller sees it: drafting, the pass, the rows' decisions, the
      // speculator's observation of the kept tokens (and the caller's callbacks).
      if (adaptive) {
        draft_chooser->record(static_cast<int>(drafts.size()), accepted,
                              seconds_since(draft_start));
      }
      st.draft_seconds += draft_seconds;
      st.verify_seconds += verify_seconds;
      stats.decode_seconds += draft_seconds + verify_seconds;
      stats.decode_tokens += produced;  // tokens generated, not the block positions verified
      if (!more) return result;
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kCancelled) throw;
    result.reason = StopReason::kCancelled;
  }
  return result;
}

}  // namespace mimo
