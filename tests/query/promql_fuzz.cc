// Fuzz target for query/promql: whatever the bytes, rendering label matchers and parsing the
// result back gives exactly the matchers that went in (the injection guarantee), quoting
// round-trips, escaped regexes keep no bare metacharacter, and sanitized names are valid.
//
// Input: the first byte is a separator; the rest, split on it, gives the metric name and then
// (label name, value) pairs, with each matcher's operator picked from the pair's index.
// Any mismatch prints what was rendered and aborts.
//
// Two builds from this one file:
// - libFuzzer: clang++ -fsanitize=fuzzer,address -DSEXTANT_LIBFUZZER ... promql_fuzz.cc
//   (LLVMFuzzerTestOneInput only).
// - Plain (what CMake builds and ctest runs as promql_fuzz_smoke): main() feeds a fixed set of
//   seeds and then pseudo-random inputs from a fixed seed, so every run checks the same
//   inputs. `promql_fuzz N` runs N random inputs (default 20000).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "query/promql.h"

namespace {

using sextant::query::LabelMatcher;

[[noreturn]] void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "promql_fuzz: %s\n  rendered: ", what);
  for (unsigned char c : detail) {
    if (c >= 0x20 && c < 0x7F) {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fputc('\n', stderr);
  std::abort();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

// QuoteRegexMeta's output decoded back, or false if a metacharacter was left bare.
bool UnescapeRegex(std::string_view re, std::string* out) {
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    const bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (word || static_cast<unsigned char>(c) >= 0x80) {
      out->push_back(c);
    } else if (c != '\\' || i + 1 == re.size()) {
      return false;
    } else if (re.substr(i + 1, 3) == "x00") {
      out->push_back('\0');
      i += 3;
    } else {
      out->push_back(re[++i]);
    }
  }
  return true;
}

void CheckOne(std::string_view data) {
  using namespace sextant::query;
  if (data.empty()) return;
  const std::vector<std::string_view> parts = Split(data.substr(1), data[0]);
  const std::string metric(parts[0]);
  std::vector<LabelMatcher> matchers;
  for (size_t i = 1; i + 1 < parts.size(); i += 2) {
    static constexpr LabelMatcher::Op kOps[] = {
        LabelMatcher::Op::kEqual, LabelMatcher::Op::kNotEqual, LabelMatcher::Op::kRegexMatch,
        LabelMatcher::Op::kRegexNoMatch};
    matchers.push_back({std::string(parts[i]), kOps[(i / 2) % 4], std::string(parts[i + 1])});
  }

  for (std::string_view p : parts) {
    const std::string quoted = QuotePromqlString(p);
    sextant::Result<std::string> back = UnquotePromqlString(quoted);
    if (!back.ok() || *back != p) Fail("quote round trip", quoted);
    const std::string regex = QuoteRegexMeta(p);
    std::string unescaped;
    if (!UnescapeRegex(regex, &unescaped) || unescaped != p) Fail("regex escape", regex);
    const std::string sanitized = SanitizeLabelName(p);
    if (!IsValidLabelName(sanitized)) Fail("sanitized name invalid", sanitized);
  }

  if (metric.empty() && matchers.empty()) return;  // `{}`: not a selector
  const std::string text = RenderSelector(metric, matchers);
  sextant::Result<ParsedSelector> parsed = ParseVectorSelector(text);
  if (!parsed.ok()) Fail("rendered selector does not parse", text);
  std::vector<LabelMatcher> want;
  if (parsed->metric_name.empty() && !metric.empty()) {
    want.push_back({"__name__", LabelMatcher::Op::kEqual, metric});
  } else if (parsed->metric_name != metric) {
    Fail("metric name changed", text);
  }
  for (const LabelMatcher& m : matchers) {
    want.push_back({SanitizeLabelName(m.name), m.op, m.value});
  }
  if (parsed->matchers != want) Fail("matchers changed", text);

  // The parser on raw input must never crash; its answer does not matter here.
  (void)ParseVectorSelector(data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

#ifndef SEXTANT_LIBFUZZER
int main(int argc, char** argv) {
  using namespace std::literals;
  const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
  static constexpr std::string_view kSeeds[] = {
      "|m|l|v"sv,
      "|m|l|\"} or vector(1) or {a=\""sv,
      ",up,job,api,app.kubernetes.io/name,web,pod,a\\b"sv,
      "\n\nl\n\xff\xfe\n9x\n\xef\xbf\xbd"sv,
      "\0or\0l\0'`\"\\\0"sv,
      "#sum#a#.*|.+#b#(?i)x#c#\x00"sv,
  };
  long checked = 0;
  for (std::string_view seed : kSeeds) {
    CheckOne(seed);
    ++checked;
  }
  static constexpr std::string_view kAlphabet = "\"'`\\{}()[],=~!|.*# \n\r\t\0xuU0aZ_:"sv;
  std::mt19937 rng(0x5e7a47);
  std::string input;
  for (long i = 0; i < iterations; ++i) {
    input.clear();
    input.push_back("|,\n\0"[rng() % 4]);
    const unsigned len = rng() % 64;
    for (unsigned j = 0; j < len; ++j) {
      switch (rng() % 4) {
        case 0:
          input.push_back(static_cast<char>(rng() & 0xFF));
          break;
        case 1: {  // a piece of valid UTF-8 (日 U+FFFD), often cut mid-character
          const size_t start = rng() % 6;
          input.append("\xe6\x97\xa5\xef\xbf\xbd"sv.substr(start, rng() % 4));
          break;
        }
        default:
          input.push_back(kAlphabet[rng() % kAlphabet.size()]);
          break;
      }
    }
    CheckOne(input);
    ++checked;
  }
  std::printf("promql_fuzz: %ld inputs checked\n", checked);
  return 0;
}
#endif  // SEXTANT_LIBFUZZER
