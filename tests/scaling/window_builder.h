// WindowBuilder (tests only): hand-made WindowViews with exact samples, for the pure
// evaluation functions over the window store's views (scaling/signal_provider.h,
// scaling/catalog_eval.h). Series are added with samples given as (ms before t, value); View()
// returns a view at eval time t over the window, valid while the builder lives and until the
// next View() call.
#ifndef SEXTANT_TESTS_SCALING_WINDOW_BUILDER_H_
#define SEXTANT_TESTS_SCALING_WINDOW_BUILDER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "query/prometheus_types.h"
#include "scaling/window_store.h"

namespace sextant::scaling {

class WindowBuilder {
 public:
  WindowBuilder(int64_t t, int64_t window_ms) : t_(t), window_ms_(window_ms) {}

  void Add(const query::LabelSet& labels, std::vector<std::pair<int64_t, double>> samples) {
    keys_.push_back(EncodeLabels(labels));
    values_.emplace_back();
    offsets_.emplace_back();
    for (const auto& [ago, v] : samples) {
      values_.back().push_back(v);
      offsets_.back().push_back(static_cast<int32_t>(window_ms_ - ago));
    }
  }

  WindowView View() {
    views_.clear();
    for (size_t i = 0; i < keys_.size(); ++i) {
      views_.push_back(
          {keys_[i], values_[i].data(), offsets_[i].data(), t_ - window_ms_, values_[i].size()});
    }
    WindowView v;
    v.eval_time_ms = t_;
    v.window = std::chrono::milliseconds(window_ms_);
    v.series = views_;
    return v;
  }

 private:
  int64_t t_, window_ms_;
  std::deque<std::string> keys_;
  std::deque<std::vector<double>> values_;
  std::deque<std::vector<int32_t>> offsets_;
  std::vector<SeriesWindow> views_;
};

}  // namespace sextant::scaling

#endif  // SEXTANT_TESTS_SCALING_WINDOW_BUILDER_H_
