#include "scaling/adapter_config.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "scaling/config_yaml.h"

namespace sextant::scaling {
namespace {

bool IsLabelName(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!(std::isalpha(c) || c == '_' || (i > 0 && std::isdigit(c)))) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Go's regexp.Expand: `$name` / `${name}` where name is a run of letters, digits and `_`;
// all digits means a group number; `$$` is `$`; a malformed `$` is copied as is.
// Groups that do not exist or did not participate expand to "".
std::string Expand(const re2::RE2& re, std::string_view tmpl,
                   const std::vector<re2::StringPiece>& groups) {
  std::string out;
  std::size_t i = 0;
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < tmpl.size()) {
    const std::size_t dollar = tmpl.find('$', i);
    if (dollar == std::string_view::npos) break;
    out.append(tmpl.substr(i, dollar - i));
    i = dollar + 1;
    if (i < tmpl.size() && tmpl[i] == '$') {
      out += '$';
      ++i;
      continue;
    }
    const bool brace = i < tmpl.size() && tmpl[i] == '{';
    std::size_t j = i + (brace ? 1 : 0);
    const std::size_t name_start = j;
    while (j < tmpl.size() && is_name(tmpl[j])) ++j;
    const std::string_view name = tmpl.substr(name_start, j - name_start);
    if (name.empty() || (brace && (j >= tmpl.size() || tmpl[j] != '}'))) {
      out += '$';  // malformed: `$` is text
      continue;
    }
    i = brace ? j + 1 : j;
    int number = -1;
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        name.size() <= 8 && !(name.size() > 1 && name[0] == '0')) {
      number = std::stoi(std::string(name));
    }
    if (number < 0) {
      const auto& named = re.NamedCapturingGroups();
      auto it = named.find(std::string(name));
      if (it != named.end()) number = it->second;
    }
    if (number >= 0 && static_cast<std::size_t>(number) < groups.size() &&
        groups[number].data() != nullptr) {
      out.append(groups[number].data(), groups[number].size());
    }
  }
  out.append(tmpl.substr(std::min(i, tmpl.size())));
  return out;
}

// Go (1.22+) also spells a named group `(?<name>...)`; this RE2 knows only `(?P<name>...)`.
// Rewrites the former outside character classes and escapes; leaves all else alone.
std::string GoToRe2Syntax(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out += pattern.substr(i++, 2);
      continue;
    }
    if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[i++];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[i++];  // `[]...]`
    } else if (pattern.compare(i, 3, "(?<") == 0 && i + 3 < pattern.size() &&
               pattern[i + 3] != '=' && pattern[i + 3] != '!') {
      out += "(?P<";
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

Result<std::shared_ptr<const re2::RE2>> Compile(const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(GoToRe2Syntax(pattern), options);
  if (!re->ok()) {
    return InvalidArgumentError("invalid regular expression \"" + pattern + "\": " + re->error());
  }
  return std::shared_ptr<const re2::RE2>(std::move(re));
}

class Loader {
 public:
  Loader(const std::string& yaml, const std::string& source) : doc_(yaml, source) {}

  Status Load(AdapterConfig* config) {
    config->source = doc_.source();
    YAML::Node root = YAML::Load(doc_.text());
    if (root.IsNull()) return OkStatus();
    static const std::set<std::string> kTop = {"rules",      "resourceRules", "externalRules",
                                               "prometheus", "signals",       "catalog"};
    return doc_.ForEachKey(
        root, "", "the file", kTop,
        [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> Status {
          if (key == "rules" || key == "externalRules") {
            return doc_.ForEachItem(v, k, key,
                                    [&](const YAML::Node& item, const std::string& path) {
                                      ExternalRule rule;
                                      SEXTANT_RETURN_IF_ERROR(ParseRule(item, k, path, &rule));
                                      if (key == "rules") {
                                        ++config->ignored_rules;
                                      } else {
                                        config->external_rules.push_back(std::move(rule));
                                      }
                                      return OkStatus();
                                    });
          }
          if (key == "resourceRules") {
            if (v.IsNull()) return OkStatus();
            if (!v.IsMap()) return doc_.Error(v, k, key, "must be a mapping");
            for (const auto& entry : v) {
              if (!entry.first.IsScalar() || entry.first.Scalar() != "window") {
                ++config->ignored_resource_rules;
              }
            }
            return OkStatus();
          }
          if (key == "prometheus") return ParsePrometheus(v, k, &config->prometheus);
          if (key == "signals") return ParseSignals(doc_, v, k, &config->signals);
          return ParseCatalog(doc_, v, k, &config->catalog);
        });
  }

 private:
  Status ParseRule(const YAML::Node& node, const YAML::Node& parent_key, const std::string& path,
                   ExternalRule* rule) {
    rule->where = doc_.Where(node, parent_key);
    if (!node.IsMap()) return doc_.Error(node, parent_key, path, "a rule must be a mapping");
    static const std::set<std::string> kKeys = {"seriesQuery", "seriesFilters", "resources", "name",
                                                "metricsQuery", "emptyResult"};
    YAML::Node metrics_query_node;
    SEXTANT_RETURN_IF_ERROR(doc_.ForEachKey(
        node, path, "a rule", kKeys,
        [&](const std::string& key, const YAML::Node& k, const YAML::Node& v) -> Status {
          const std::string sub = path + "." + key;
          if (key == "seriesQuery") return doc_.GetString(v, k, sub, &rule->series_query);
          if (key == "seriesFilters") {
            return doc_.ForEachItem(
                v, k, sub, [&](const YAML::Node& item, const std::string& item_path) {
                  SeriesFilter filter;
                  SEXTANT_RETURN_IF_ERROR(ParseFilter(item, k, item_path, &filter));
                  rule->series_filters.push_back(std::move(filter));
                  return OkStatus();
                });
          }
          if (key == "resources") return ParseResources(v, sub, &rule->resources);
          if (key == "name") return ParseName(v, k, sub, &rule->name);
          if (key == "emptyResult") {  // Sextant extension: empty | zero
            std::string policy;
            SEXTANT_RETURN_IF_ERROR(doc_.GetString(v, k, sub, &policy));
            if (policy != "empty" && policy != "zero") {
              return doc_.Error(v, k, sub, "must be \"empty\" or \"zero\"");
            }
            rule->empty_result_zero = policy == "zero";
            return OkStatus();
          }
          metrics_query_node = v.IsNull() ? k : v;
          return doc_.GetString(v, k, sub, &rule->metrics_query_text);
        }));
    if (rule->series_query.empty()) {
      return doc_.Error(node, parent_key, path, "seriesQuery is required");
    }
    if (rule->name.regex == nullptr) {
      SEXTANT_RETURN_IF_ERROR(ParseName(YAML::Node(), node, path + ".name", &rule->name));
    }
    if (rule->metrics_query_text.empty()) {
      return doc_.Error(metrics_query_node, node, path, "metricsQuery is required");
    }
    SEXTANT_RETURN_IF_ERROR(doc_.ParseTemplate(metrics_query_node, path + ".metricsQuery",
                                               rule->metrics_query_text,
                                               TemplateData::kMetricsQuery, &rule->metrics_query));
    if (rule->resources.Namespaced() && !IsLabelName(rule->resources.NamespaceLabel())) {
      return doc_.Error(node, parent_key, path + ".resources",
                        "the namespace label \"" + rule->resources.NamespaceLabel() +
                            "\" is not a valid Prometheus label name");
    }
    return OkStatus();
  }

  Status ParseFilter(const YAML::Node& node, const YAML::Node& key, const std::string& path,
                     SeriesFilter* filter) {
    std::string is, is_not;
    YAML::Node is_node, is_not_node;
    SEXTANT_RETURN_IF_ERROR(doc_.ForEachKey(
        node, path, "a series filter", {"is", "isNot"},
        [&](const std::string& k, const YAML::Node&, const YAML::Node& v) -> Status {
          (k == "is" ? is_node : is_not_node) = v;
          return doc_.GetString(v, node, path + "." + k, k == "is" ? &is : &is_not);
        }));
    if (!is.empty() && !is_not.empty()) {
      return doc_.Error(node, key, path, "a series filter cannot have both `is` and `isNot`");
    }
    if (is.empty() && is_not.empty()) {
      return doc_.Error(node, key, path, "a series filter needs `is` or `isNot`");
    }
    filter->keep_matching = !is.empty();
    filter->pattern = filter->keep_matching ? is : is_not;
    auto re = Compile(filter->pattern);
    if (!re.ok()) {
      return doc_.Error(filter->keep_matching ? is_node : is_not_node, node,
                        path + (filter->keep_matching ? ".is" : ".isNot"), re.status().message());
    }
    filter->regex = *re;
    return OkStatus();
  }

  Status ParseName(const YAML::Node& node, const YAML::Node& key, const std::string& path,
                   NameMapping* name) {
    YAML::Node matches_node;
    SEXTANT_RETURN_IF_ERROR(doc_.ForEachKey(
        node, path, "name", {"matches", "as"},
        [&](const std::string& k, const YAML::Node&, const YAML::Node& v) -> Status {
          if (k == "matches") matches_node = v;
          return doc_.GetString(v, node, path + "." + k,
                                k == "matches" ? &name->matches : &name->as);
        }));
    auto re = Compile(name->matches.empty() ? ".*" : name->matches);
    if (!re.ok()) {
      return doc_.Error(matches_node, node.IsNull() ? key : node, path + ".matches",
                        re.status().message());
    }
    name->regex = *re;
    if (name->as.empty()) {
      const int groups = name->regex->NumberOfCapturingGroups();
      if (groups > 1) {
        return doc_.Error(
            matches_node, key, path + ".as",
            "is required because matches has " + std::to_string(groups) + " capture groups");
      }
      name->as = groups == 0 ? "$0" : "$1";
    }
    return OkStatus();
  }

  Status ParseResources(const YAML::Node& node, const std::string& path,
                        ResourceMapping* resources) {
    return doc_.ForEachKey(
        node, path, "resources", {"overrides", "template", "namespaced"},
        [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) -> Status {
          const std::string sub = path + "." + k;
          if (k == "namespaced") {
            bool b = true;
            SEXTANT_RETURN_IF_ERROR(doc_.GetBool(v, kn, sub, &b));
            if (!v.IsNull()) resources->namespaced = b;
            return OkStatus();
          }
          if (k == "template") {
            SEXTANT_RETURN_IF_ERROR(doc_.GetString(v, kn, sub, &resources->template_text));
            if (resources->template_text.empty()) return OkStatus();
            return ParseResourceTemplate(v, sub, resources);
          }
          return doc_.ForEachKey(
              v, sub, "overrides", {},
              [&](const std::string& label, const YAML::Node& ln,
                  const YAML::Node& target) -> Status {
                const std::string lp = sub + "." + label;
                if (!IsLabelName(label)) {
                  return doc_.Error(ln, ln, lp, "is not a valid Prometheus label name");
                }
                ResourceMapping::Override o;
                o.label = label;
                if (!target.IsMap()) {
                  return doc_.Error(target, ln, lp,
                                    "must be a mapping {resource: ..., group: ...}");
                }
                SEXTANT_RETURN_IF_ERROR(doc_.ForEachKey(
                    target, lp, "an override", {"group", "resource"},
                    [&](const std::string& f, const YAML::Node& fk,
                        const YAML::Node& fv) -> Status {
                      return doc_.GetString(fv, fk, lp + "." + f,
                                            f == "group" ? &o.target.group : &o.target.resource);
                    }));
                if (o.target.resource.empty()) {
                  return doc_.Error(target, ln, lp, "resource is required");
                }
                resources->overrides.push_back(std::move(o));
                return OkStatus();
              },
              /*any_key=*/true);
        });
  }

  // Checks the template as prometheus-adapter does (newLabelGroupResExtractor): rendered
  // with regex groups for .Group and .Resource it must compile and capture `resource`.
  Status ParseResourceTemplate(const YAML::Node& node, const std::string& path,
                               ResourceMapping* resources) {
    QueryTemplate tmpl;
    SEXTANT_RETURN_IF_ERROR(doc_.ParseTemplate(node, path, resources->template_text,
                                               TemplateData::kGroupResource, &tmpl));
    auto pattern = tmpl.Render(GroupResourceValues{"(?P<group>.+?)", "(?P<resource>.+?)"});
    if (!pattern.ok()) return doc_.Error(node, node, path, pattern.status().message());
    if (pattern->empty()) return doc_.Error(node, node, path, "renders an empty label");
    auto re = Compile("^" + *pattern + "$");
    if (!re.ok() || (*re)->NamedCapturingGroups().count("resource") == 0) {
      return doc_.Error(node, node, path, "must use <<.Resource>> to form a label");
    }
    resources->label_template = std::move(tmpl);
    return OkStatus();
  }

  Status ParsePrometheus(const YAML::Node& node, const YAML::Node& key, PrometheusSection* p) {
    p->present = true;
    const std::string path = "prometheus";
    static const std::set<std::string> kKeys = {
        "url",     "verb",  "bearerTokenFile", "basicAuth",     "tls",
        "headers", "sigv4", "connectTimeout",  "requestTimeout"};
    std::map<std::string, YAML::Node> at;  // where each key's value is, for messages
    SEXTANT_RETURN_IF_ERROR(doc_.ForEachKey(
        node, path, "prometheus", kKeys,
        [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) -> Status {
          const std::string sub = path + "." + k;
          at[k] = v.IsNull() ? kn : v;
          if (k == "url") return doc_.GetString(v, kn, sub, &p->url);
          if (k == "verb") return doc_.GetString(v, kn, sub, &p->verb);
          if (k == "bearerTokenFile") return doc_.GetString(v, kn, sub, &p->bearer_token_file);
          if (k == "connectTimeout") return doc_.GetString(v, kn, sub, &p->connect_timeout);
          if (k == "requestTimeout") return doc_.GetString(v, kn, sub, &p->request_timeout);
          if (k == "basicAuth") {
            return doc_.ForEachKey(
                v, sub, "basicAuth", {"username", "passwordFile"},
                [&](const std::string& f, const YAML::Node& fk, const YAML::Node& fv) {
                  return doc_.GetString(
                      fv, fk, sub + "." + f,
                      f == "username" ? &p->basic_auth.username : &p->basic_auth.password_file);
                });
          }
          if (k == "tls") {
            return doc_.ForEachKey(
                v, sub, "tls", {"caFile", "certFile", "keyFile", "insecureSkipVerify"},
                [&](const std::string& f, const YAML::Node& fk, const YAML::Node& fv) {
                  if (f == "insecureSkipVerify") {
                    return doc_.GetBool(fv, fk, sub + "." + f, &p->tls.insecure_skip_verify);
                  }
                  return doc_.GetString(fv, fk, sub + "." + f,
                                        f == "caFile"     ? &p->tls.ca_file
                                        : f == "certFile" ? &p->tls.cert_file
                                                          : &p->tls.key_file);
                });
          }
          if (k == "sigv4") {
            p->sigv4.enabled = true;
            return doc_.ForEachKey(
                v, sub, "sigv4", {"region", "service"},
                [&](const std::string& f, const YAML::Node& fk, const YAML::Node& fv) {
                  return doc_.GetString(fv, fk, sub + "." + f,
                                        f == "region" ? &p->sigv4.region : &p->sigv4.service);
                });
          }
          return doc_.ForEachKey(
              v, sub, "headers", {},
              [&](const std::string& name, const YAML::Node& hk, const YAML::Node& hv) {
                const std::string lower = Lower(name);
                static const std::set<std::string> kReserved = {
                    "host",           "authorization", "content-type",
                    "content-length", "connection",    "transfer-encoding"};
                if (kReserved.count(lower) > 0 || lower.starts_with("x-amz-")) {
                  return doc_.Error(hk, hk, sub + "." + name, "this header is set by Sextant");
                }
                for (const auto& [existing, value] : p->headers) {
                  if (Lower(existing) == lower) {
                    return doc_.Error(hk, hk, sub + "." + name, "duplicate header");
                  }
                }
                std::string value;
                SEXTANT_RETURN_IF_ERROR(doc_.GetString(hv, hk, sub + "." + name, &value));
                p->headers.emplace_back(name, value);
                return OkStatus();
              },
              /*any_key=*/true);
        }));
    auto fail = [&](const std::string& k, const std::string& what) {
      auto it = at.find(k);
      return doc_.Error(it != at.end() ? it->second : node, key, path + "." + k, what);
    };
    if (!p->url.empty() && !p->url.starts_with("http://") && !p->url.starts_with("https://")) {
      return fail("url", "must start with http:// or https://");
    }
    if (!p->url.empty() &&
        p->url.find_first_of("?#@", p->url.find("//") + 2) != std::string::npos) {
      return fail("url", "must not hold user info, a query or a fragment");
    }
    std::string verb = p->verb;
    for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (verb != "GET" && verb != "POST") return fail("verb", "must be GET or POST");
    p->verb = verb;
    if (!p->basic_auth.username.empty() && p->basic_auth.password_file.empty()) {
      return fail("basicAuth", "passwordFile is required with username");
    }
    if (p->basic_auth.username.empty() && !p->basic_auth.password_file.empty()) {
      return fail("basicAuth", "username is required with passwordFile");
    }
    const int auths =
        !p->bearer_token_file.empty() + !p->basic_auth.username.empty() + p->sigv4.enabled;
    if (auths > 1) {
      return fail(p->sigv4.enabled ? "sigv4" : "basicAuth",
                  "use one of bearerTokenFile, basicAuth and sigv4");
    }
    if (p->sigv4.enabled && p->sigv4.region.empty()) return fail("sigv4", "region is required");
    if (p->sigv4.enabled && p->sigv4.service.empty()) p->sigv4.service = "aps";
    if (p->tls.cert_file.empty() != p->tls.key_file.empty()) {
      return fail("tls", "certFile and keyFile go together");
    }
    for (const char* k : {"connectTimeout", "requestTimeout"}) {
      const std::string& text =
          std::string_view(k) == "connectTimeout" ? p->connect_timeout : p->request_timeout;
      auto d = ParseConfigDuration(text);
      if (!d.ok()) return fail(k, d.status().message());
      if (d->count() <= 0) return fail(k, "must be longer than 0");
    }
    return OkStatus();
  }

  YamlDocument doc_;
};

}  // namespace

bool SeriesFilter::Keep(std::string_view series_name) const {
  return re2::RE2::PartialMatch(series_name, *regex) == keep_matching;
}

std::optional<std::string> NameMapping::MetricNameFor(const std::string& series_name) const {
  std::vector<re2::StringPiece> groups(regex->NumberOfCapturingGroups() + 1);
  if (!regex->Match(series_name, 0, series_name.size(), re2::RE2::UNANCHORED, groups.data(),
                    static_cast<int>(groups.size()))) {
    return std::nullopt;
  }
  return Expand(*regex, as, groups);
}

std::string ResourceMapping::NamespaceLabel() const {
  for (const Override& o : overrides) {
    const std::string resource = Lower(o.target.resource);
    if (o.target.group.empty() && (resource == "namespace" || resource == "namespaces")) {
      return o.label;
    }
  }
  if (label_template.has_value()) {
    auto label = label_template->Render(GroupResourceValues{"", "namespace"});
    if (label.ok() && !label->empty()) return *label;
  }
  return "namespace";
}

bool ExternalRule::SelectsSeries(std::string_view series_name) const {
  for (const SeriesFilter& filter : series_filters) {
    if (!filter.Keep(series_name)) return false;
  }
  return name.regex == nullptr || re2::RE2::PartialMatch(series_name, *name.regex);
}

Result<AdapterConfig> ParseAdapterConfig(const std::string& yaml, const std::string& source_name) {
  AdapterConfig config;
  try {
    Loader loader(yaml, source_name);
    SEXTANT_RETURN_IF_ERROR(loader.Load(&config));
  } catch (const YAML::Exception& e) {
    std::ostringstream out;
    out << source_name << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": " << e.msg;
    return InvalidArgumentError(out.str());
  }
  return config;
}

Result<AdapterConfig> LoadAdapterConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(path + ": cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseAdapterConfig(buffer.str(), path);
}

std::string IgnoredRulesNotice(const AdapterConfig& config) {
  if (config.ignored_rules == 0 && config.ignored_resource_rules == 0) return "";
  std::string what;
  if (config.ignored_rules > 0) {
    what = std::to_string(config.ignored_rules) + " entr" +
           (config.ignored_rules == 1 ? "y" : "ies") + " of rules (custom.metrics.k8s.io)";
  }
  if (config.ignored_resource_rules > 0) {
    what += (what.empty() ? "" : " and ") + std::to_string(config.ignored_resource_rules) +
            " of resourceRules (metrics.k8s.io)";
  }
  return config.source + ": " + what +
         " loaded but not served: Sextant serves external.metrics.k8s.io (externalRules) only";
}

Result<std::chrono::milliseconds> ParseConfigDuration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"y", 365LL * 24 * 3600 * 1000},
      {"w", 7LL * 24 * 3600 * 1000},
      {"d", 24LL * 3600 * 1000},
      {"h", 3600LL * 1000},
      {"m", 60LL * 1000},
      {"s", 1000},
      {"ms", 1},
  };
  const auto bad = [&] {
    return InvalidArgumentError("\"" + std::string(text) +
                                "\" is not a duration like \"30s\", \"1m30s\" or \"500ms\"");
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  std::size_t next_unit = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > (int64_t{1} << 40)) return bad();
      n = n * 10 + (text[i++] - '0');
    }
    if (i == start) return bad();
    std::size_t unit = next_unit;
    while (unit < std::size(kUnits)) {
      const std::string_view u = kUnits[unit].first;
      // "m" must not swallow the "m" of "ms".
      if (text.substr(i).starts_with(u) && !(u == "m" && text.substr(i).starts_with("ms"))) {
        break;
      }
      ++unit;
    }
    if (unit == std::size(kUnits)) return bad();
    total += n * kUnits[unit].second;
    if (total > (int64_t{1} << 50)) return bad();
    i += kUnits[unit].first.size();
    next_unit = unit + 1;
  }
  return std::chrono::milliseconds(total);
}

}  // namespace sextant::scaling
