// How speculation estimates the time of a kind of step (a draft count, a source of drafts):
// over the first kFastestOf samples the fastest of them, because warm-ups only ever slow a step
// down (graph captures of new shapes, first launches) and a mean of them made a fresh GPU
// chooser settle on plain steps where the most drafts were 1.6x faster; later samples enter a
// weighted mean, each at most twice the estimate (one late stall moves it little).
#pragma once

namespace mimo::spec {

struct StepTime {
  static constexpr int kFastestOf = 8;
  static constexpr double kMaxRise = 2.0;
  int samples = 0;
  double seconds = 0.0;

  // weight: a later sample's share of the new estimate.
  void add(double sample, double weight) {
    if (++samples == 1) {
      seconds = sample;
    } else if (samples <= kFastestOf) {
      seconds = sample < seconds ? sample : seconds;
    } else {
      const double capped = sample < kMaxRise * seconds ? sample : kMaxRise * seconds;
      seconds += weight * (capped - seconds);
    }
  }
};

}  // namespace mimo::spec
