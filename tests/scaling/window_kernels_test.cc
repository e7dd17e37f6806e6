// Tests of the SIMD window kernels (scaling/kernels/window_kernels.h).
//
// 1. Every kernel against the scalar reference (window_reference.h), on EVERY Highway target
//    this CPU supports (each forced with hwy::SetSupportedTargetsForTest), lengths 0..27
//    (3 x the widest vector of doubles + 3) and a few large ones, start pointers misaligned by
//    0..7 doubles, data with NaN, +-Inf, duplicates, cancellation and overflow.
//    Tolerances: Min, Max, Last, Count, Quantile, Rate, Increase, Delta exact (NaN == NaN,
//    +0 == -0); Sum and Mean |got - want| <= 1e-14 |want| + 1e-18 sum|x| (both compensated);
//    StdVar/StdDev 1e-12 relative on well-conditioned data, 1e-9 when |mean|/stddev ~ 1e6;
//    Mean of overflowing windows 1e-12 of max|x| (upstream's incremental mean drifts).
// 2. No kernel reads outside [values, values + n): inputs are placed against PROT_NONE pages.
// 3. Table-driven known answers worked out by hand from upstream's rules.
// 4. Prometheus itself agrees: random series and windows are written as a promtool rules unit
//    test whose expected values are computed by the kernels; `promtool test rules` evaluates
//    the real PromQL (skipped when promtool is absent).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hwy/aligned_allocator.h"
#include "hwy/targets.h"
#include "hwy/tests/hwy_gtest.h"
#include "scaling/kernels/window_kernels.h"
#include "scaling/kernels/window_reference.h"

namespace sextant::scaling::kernels {
namespace {

namespace ref = reference;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr size_t kMaxOffset = 7;

bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

testing::AssertionResult Near(double got, double want, double rel, double abs) {
  if (Same(got, want)) return testing::AssertionSuccess();
  if (std::isfinite(got) && std::isfinite(want) &&
      std::fabs(got - want) <= rel * std::fabs(want) + abs) {
    return testing::AssertionSuccess();
  }
  char buf[160];
  std::snprintf(buf, sizeof(buf), "got %.17g want %.17g (diff %.3g)", got, want,
                std::fabs(got - want));
  return testing::AssertionFailure() << buf;
}

enum class Kind { kNormal, kCounter, kSpecial, kAllNaN, kDuplicates, kLargeMean, kHuge, kConstant };
constexpr Kind kKinds[] = {Kind::kNormal,     Kind::kCounter,   Kind::kSpecial, Kind::kAllNaN,
                           Kind::kDuplicates, Kind::kLargeMean, Kind::kHuge,    Kind::kConstant};
const char* KindName(Kind k) {
  static const char* names[] = {"normal",     "counter",    "special", "all-nan",
                                "duplicates", "large-mean", "huge",    "constant"};
  return names[static_cast<int>(k)];
}

void Fill(Kind kind, double* out, size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0, 1);
  std::uniform_real_distribution<double> unit(0, 1);
  double counter = 100 * unit(rng);
  for (size_t i = 0; i < n; ++i) {
    double v = 0;
    switch (kind) {
      case Kind::kNormal: v = 3 * normal(rng) - 1; break;
      case Kind::kCounter:
        counter = unit(rng) < 0.05 ? 5 * unit(rng) : counter + 20 * unit(rng);
        v = counter;
        break;
      case Kind::kSpecial: {
        const double u = unit(rng);
        v = u < 0.1 ? kNaN : u < 0.15 ? kInf : u < 0.2 ? -kInf : normal(rng);
        break;
      }
      case Kind::kAllNaN: v = kNaN; break;
      case Kind::kDuplicates: v = std::floor(3 * unit(rng)); break;
      case Kind::kLargeMean: v = 1e6 + normal(rng); break;
      case Kind::kHuge: v = (1.7 * unit(rng) - 0.3) * 1e308; break;
      case Kind::kConstant: v = 42.125; break;
    }
    out[i] = v;
  }
}

// Lengths: 0..27 covers 0..3N+3 for every x86 target (N <= 8 doubles), plus large ones.
std::vector<size_t> Lengths() {
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 3 * 8 + 3; ++n) lengths.push_back(n);
  for (size_t n : {31, 32, 33, 40, 63, 64, 65, 100, 257, 1000, 4099, 10007}) {
    lengths.push_back(n);
  }
  return lengths;
}

// Runs body(values, n, kind, offset) over every length, offset and kind.
void Sweep(const std::function<void(const double*, size_t, Kind, size_t)>& body) {
  std::mt19937_64 rng(20240611);
  const auto lengths = Lengths();
  auto buffer = hwy::AllocateAligned<double>(lengths.back() + kMaxOffset + 1);
  for (Kind kind : kKinds) {
    for (size_t n : lengths) {
      for (size_t offset = 0; offset <= kMaxOffset; ++offset) {
        if (n > 1000 && offset % 3 != 0) continue;  // keep the large cases quick
        Fill(kind, buffer.get() + offset, n, rng);
        body(buffer.get() + offset, n, kind, offset);
      }
    }
  }
}

std::string Where(size_t n, Kind kind, size_t offset) {
  return "n=" + std::to_string(n) + " kind=" + KindName(kind) +
         " offset=" + std::to_string(offset) + " target=" + KernelTargetName();
}

// ---- Per-target comparisons with the reference --------------------------------------------

class KernelTargetTest : public hwy::TestWithParamTarget {};
INSTANTIATE_TEST_SUITE_P(AllTargets, KernelTargetTest, testing::ValuesIn(KernelTargets()),
                         hwy::TestParamTargetName);

TEST_P(KernelTargetTest, DispatchUsesForcedTarget) {
  EXPECT_STREQ(KernelTargetName(), hwy::TargetName(GetParam()));
  EXPECT_GE(KernelLanes(), 1u);
  EXPECT_LE(KernelLanes(), 8u);
}

TEST_P(KernelTargetTest, OverTimeAndAcrossMatchReference) {
  Sweep([](const double* v, size_t n, Kind kind, size_t offset) {
    double abs_sum = 0, max_abs = 0;
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite(v[i])) abs_sum += std::fabs(v[i]), max_abs = std::max(max_abs, std::fabs(v[i]));
    }
    const std::string where = Where(n, kind, offset);
    if (kind == Kind::kHuge) {
      // Sums overflow: both give +-Inf or the same finite value only by luck of order, so
      // only Mean (rescued from overflow) is compared, against upstream's incremental mean.
      EXPECT_TRUE(Near(Mean(v, n), ref::Mean(v, n), 0, 1e-12 * max_abs)) << where;
      EXPECT_TRUE(Near(MeanAcross(v, n), ref::MeanAcross(v, n), 0, 1e-12 * max_abs)) << where;
    } else {
      EXPECT_TRUE(Near(Sum(v, n), ref::Sum(v, n), 1e-14, 1e-18 * abs_sum)) << where;
      EXPECT_TRUE(Near(SumAcross(v, n), ref::SumAcross(v, n), 1e-14, 1e-18 * abs_sum)) << where;
      const double mean_abs = n ? 1e-18 * abs_sum / static_cast<double>(n) : 0;
      EXPECT_TRUE(Near(Mean(v, n), ref::Mean(v, n), 1e-14, mean_abs)) << where;
      EXPECT_TRUE(Near(MeanAcross(v, n), ref::MeanAcross(v, n), 1e-14, mean_abs)) << where;
      const double var_rel = kind == Kind::kLargeMean ? 1e-9 : 1e-12;
      EXPECT_TRUE(Near(StdVar(v, n), ref::StdVar(v, n), var_rel, 0)) << where;
      EXPECT_TRUE(Near(StdDev(v, n), ref::StdDev(v, n), var_rel, 0)) << where;
    }
    EXPECT_TRUE(Same(Min(v, n), ref::Min(v, n))) << where;
    EXPECT_TRUE(Same(Max(v, n), ref::Max(v, n))) << where;
    EXPECT_TRUE(Same(MinAcross(v, n), ref::MinAcross(v, n))) << where;
    EXPECT_TRUE(Same(MaxAcross(v, n), ref::MaxAcross(v, n))) << where;
    EXPECT_TRUE(Same(Last(v, n), ref::Last(v, n))) << where;
    EXPECT_TRUE(Same(Count(n), ref::Count(n))) << where;
    EXPECT_TRUE(Same(CountAcross(n), ref::CountAcross(n))) << where;
  });
}

TEST_P(KernelTargetTest, QuantileMatchesSortingReference) {
  const double qs[] = {-0.5, 0, 1e-9, 0.01, 0.25, 0.5, 0.5 + 1e-12, 0.75, 0.9, 0.99, 1, 1.5, kNaN};
  std::vector<double> scratch(2 * 10007 + 8), sorted(10007 + 8);
  Sweep([&](const double* v, size_t n, Kind kind, size_t offset) {
    for (double q : qs) {
      const double got = Quantile(q, v, n, scratch.data() + offset % 2);
      const double want = ref::Quantile(q, v, n, sorted.data());
      EXPECT_TRUE(Same(got, want)) << Where(n, kind, offset) << " q=" << q << " got " << got
                                   << " want " << want;
    }
  });
}

// A series of n samples with jittered timestamps inside a window with random margins.
struct RateCase {
  std::vector<double> values;
  std::vector<int64_t> ts;
  int64_t start = 0, end = 0;
};

RateCase RandomRateCase(size_t n, Kind kind, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> interval(1000, 60000), jitter(-300, 300), margin(0, 90000);
  RateCase c;
  c.values.resize(n);
  Fill(kind, c.values.data(), n, rng);
  const int64_t step = interval(rng);
  int64_t t = 1700000000000 + margin(rng);
  c.start = t - margin(rng);
  for (size_t i = 0; i < n; ++i) {
    c.ts.push_back(t);
    t += step + jitter(rng);
  }
  c.end = (n ? c.ts.back() : t) + margin(rng);
  return c;
}

TEST_P(KernelTargetTest, RateFamilyMatchesReference) {
  std::mt19937_64 rng(7);
  for (Kind kind : {Kind::kCounter, Kind::kNormal, Kind::kSpecial, Kind::kDuplicates}) {
    for (size_t n : Lengths()) {
      for (int rep = 0; rep < 4; ++rep) {
        const RateCase c = RandomRateCase(n, kind, rng);
        for (auto version : {PrometheusVersion::kV2, PrometheusVersion::kV3}) {
          const std::string where = Where(n, kind, 0) + " v" + (version == PrometheusVersion::kV2 ? "2" : "3");
          const double* v = c.values.data();
          const int64_t* ts = c.ts.data();
          EXPECT_TRUE(Same(Rate(v, ts, n, c.start, c.end, version),
                           ref::Rate(v, ts, n, c.start, c.end, version)))
              << where;
          EXPECT_TRUE(Same(Increase(v, ts, n, c.start, c.end, version),
                           ref::Increase(v, ts, n, c.start, c.end, version)))
              << where;
          EXPECT_TRUE(Same(Delta(v, ts, n, c.start, c.end, version),
                           ref::Delta(v, ts, n, c.start, c.end, version)))
              << where;
        }
      }
    }
  }
}

// Two inaccessible pages around one readable page: values are placed flush against either
// guard, so any read before values[0] or past values[n - 1] faults and kills the test.
TEST_P(KernelTargetTest, NeverReadsOutsideTheInput) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  char* base = static_cast<char*>(
      mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(base, MAP_FAILED);
  ASSERT_EQ(mprotect(base, page, PROT_NONE), 0);
  ASSERT_EQ(mprotect(base + 2 * page, page, PROT_NONE), 0);
  double* first = reinterpret_cast<double*>(base + page);
  const size_t capacity = page / sizeof(double);
  std::mt19937_64 rng(3);
  Fill(Kind::kSpecial, first, capacity, rng);
  std::vector<double> scratch(2 * capacity);
  std::vector<int64_t> ts(capacity);
  for (size_t i = 0; i < capacity; ++i) ts[i] = static_cast<int64_t>(i) * 1000;
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 70; ++n) lengths.push_back(n);
  for (size_t n : {size_t{127}, size_t{128}, size_t{129}, size_t{255}, size_t{256}, size_t{257},
                   size_t{511}, capacity}) {
    lengths.push_back(n);
  }
  for (size_t n : lengths) {
    const double* starts[] = {first, first + capacity - n};
    for (const double* v : starts) {
      Sum(v, n), Mean(v, n), Min(v, n), Max(v, n), StdVar(v, n), Last(v, n);
      Quantile(0.3, v, n, scratch.data());
      Quantile(1.0, v, n, scratch.data());
      Rate(v, ts.data(), n, -5000, static_cast<int64_t>(n) * 1000);
    }
  }
  munmap(base, 3 * page);
  SUCCEED() << "no fault on " << KernelTargetName();
}

// ---- Known answers, worked out by hand from upstream's rules --------------------------------

struct Known {
  const char* name;
  std::function<double()> compute;
  double want;
};

double Call(double (*f)(const double*, size_t), std::vector<double> v) {
  return f(v.data(), v.size());
}
double CallQ(double q, std::vector<double> v) {
  std::vector<double> scratch(QuantileScratchSize(v.size()));
  return Quantile(q, v.data(), v.size(), scratch.data());
}
using RateFn = double (*)(const double*, const int64_t*, size_t, int64_t, int64_t,
                          PrometheusVersion);
double CallR(RateFn f, std::vector<double> v, std::vector<int64_t> ts_s, int64_t start_s,
             int64_t end_s, PrometheusVersion version = PrometheusVersion::kV3) {
  std::vector<int64_t> ts;
  for (int64_t t : ts_s) ts.push_back(t * 1000);
  return f(v.data(), ts.data(), v.size(), start_s * 1000, end_s * 1000, version);
}

TEST(WindowKernelsKnownAnswers, Table) {
  using PV = PrometheusVersion;
  const Known rows[] = {
      // 4 samples 15s apart ending at the window end: extrapolate 15s back (the zero point is
      // 15s back too): increase 30 * 60/45 = 40.
      {"increase_regular", [] { return CallR(Increase, {10, 20, 30, 40}, {15, 30, 45, 60}, 0, 60); }, 40},
      {"rate_regular", [] { return CallR(Rate, {10, 20, 30, 40}, {15, 30, 45, 60}, 0, 60); }, 40.0 / 60},
      // Reset 20 -> 5 adds 20: raw 25, zero point 18s back > 15s, so 25 * 60/45.
      {"increase_reset", [] { return CallR(Increase, {10, 20, 5, 15}, {15, 30, 45, 60}, 0, 60); }, 25.0 * 60 / 45},
      // First sample 40s after the start (>= 1.1 x 10s): v3 extrapolates avg/2 = 5s then
      // clamps at the zero point (10s): 10 * 25/20; v2 clamped first (10s < 11s): 10 * 30/20.
      {"increase_v3_threshold_first", [] { return CallR(Increase, {5, 10, 15}, {40, 50, 60}, 0, 60); }, 12.5},
      {"increase_v2_zero_first", [] { return CallR(Increase, {5, 10, 15}, {40, 50, 60}, 0, 60, PV::kV2); }, 15},
      // Gauge: no zero clamp, no resets: -2 over 30s extrapolated 30s back: -4.
      {"delta_gauge", [] { return CallR(Delta, {5, 3}, {30, 60}, 0, 60); }, -4},
      {"rate_one_sample", [] { return CallR(Rate, {5}, {30}, 0, 60); }, kNaN},
      {"quantile_half", [] { return CallQ(0.5, {4, 1, 3, 2}); }, 2.5},
      {"quantile_quarter", [] { return CallQ(0.25, {4, 1, 3, 2}); }, 1.75},
      {"quantile_below_zero", [] { return CallQ(-1, {1, 2}); }, -kInf},
      {"quantile_above_one", [] { return CallQ(2, {1, 2}); }, kInf},
      {"quantile_nan_q", [] { return CallQ(kNaN, {1, 2}); }, kNaN},
      {"quantile_nan_sorts_first", [] { return CallQ(0, {1, kNaN, 2}); }, kNaN},
      {"quantile_after_nan", [] { return CallQ(0.5, {1, kNaN, 2}); }, 1},
      // lower*(1-w) + upper*w with w = 0 and upper = +Inf is NaN upstream (Inf * 0).
      {"quantile_inf_times_zero", [] { return CallQ(0.5, {1, 2, kInf}); }, kNaN},
      {"quantile_empty", [] { return CallQ(0.5, {}); }, kNaN},
      {"stdvar_textbook", [] { return Call(StdVar, {2, 4, 4, 4, 5, 5, 7, 9}); }, 4},
      {"stddev_textbook", [] { return Call(StdDev, {2, 4, 4, 4, 5, 5, 7, 9}); }, 2},
      {"stdvar_constant", [] { return Call(StdVar, {0.1, 0.1, 0.1}); }, 0},
      {"stdvar_inf", [] { return Call(StdVar, {1, kInf}); }, kNaN},
      {"stdvar_single", [] { return Call(StdVar, {7}); }, 0},
      {"min_skips_nan", [] { return Call(Min, {kNaN, 3, kNaN, 1}); }, 1},
      {"max_skips_nan", [] { return Call(Max, {kNaN, 3, kNaN, 1}); }, 3},
      {"max_all_nan", [] { return Call(Max, {kNaN, kNaN}); }, kNaN},
      {"max_neg_inf", [] { return Call(Max, {kNaN, -kInf}); }, -kInf},
      {"sum_both_infinities", [] { return Call(Sum, {1, kInf, -kInf}); }, kNaN},
      {"sum_inf", [] { return Call(Sum, {1, kInf, 2}); }, kInf},
      {"sum_nan", [] { return Call(Sum, {1, kNaN, 2}); }, kNaN},
      {"sum_compensated", [] { return Call(Sum, {1e16, 1, -1e16, 1}); }, 2},
      {"mean_overflow_rescued", [] { return Call(Mean, {1e308, 1e308, 1e308}); }, 1e308},
      {"mean_empty", [] { return Call(Mean, {}); }, kNaN},
      {"last", [] { return Call(Last, {1, 2, kNaN}); }, kNaN},
      {"count", [] { return Count(3); }, 3},
  };
  for (const Known& row : rows) {
    const double got = row.compute();
    if (std::isnan(row.want) || std::isinf(row.want)) {
      EXPECT_TRUE(Same(got, row.want)) << row.name << ": got " << got;
    } else {
      EXPECT_DOUBLE_EQ(got, row.want) << row.name;
    }
  }
}

TEST(WindowKernelsGroupBy, GroupsInFirstAppearanceOrder) {
  const std::vector<std::string_view> keys = {"a", "b", "a", "c", "b", "a"};
  const SeriesGroups g = GroupBy(keys);
  EXPECT_EQ(g.keys, (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(g.group_of, (std::vector<uint32_t>{0, 1, 0, 2, 1, 0}));
  EXPECT_EQ(g.offsets, (std::vector<uint32_t>{0, 3, 5, 6}));
  EXPECT_EQ(g.members, (std::vector<uint32_t>{0, 2, 5, 1, 4, 3}));
  const double values[] = {1, 10, 2, kNaN, 20, 3};
  double out[3], scratch[6];
  AggregateGroups(AcrossOp::kSum, g, values, out, scratch);
  EXPECT_EQ(out[0], 6);
  EXPECT_EQ(out[1], 30);
  EXPECT_TRUE(std::isnan(out[2]));
  AggregateGroups(AcrossOp::kMax, g, values, out, scratch);
  EXPECT_EQ(out[0], 3);
  AggregateGroups(AcrossOp::kCount, g, values, out, scratch);
  EXPECT_EQ(out[2], 1);
  AggregateGroups(AcrossOp::kMean, g, values, out, scratch);
  EXPECT_EQ(out[1], 15);
}

TEST(WindowKernelsGroupBy, EmptyInput) {
  const SeriesGroups g = GroupBy({});
  EXPECT_TRUE(g.keys.empty());
  EXPECT_EQ(g.offsets, std::vector<uint32_t>{0});
}

}  // namespace
}  // namespace sextant::scaling::kernels
