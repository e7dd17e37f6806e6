// YamlDocument: strict reading of one YAML configuration text with yaml-cpp, for Sextant's
// config sections (scaling/adapter_config.cc today; signals and the catalog later).
//
// Every error is InvalidArgument "source:line:col: path: what", where line and column are
// 1-based and point at the offending value (or at its key when the value is empty), and
// `path` is the dotted location, e.g. "externalRules[2].name.matches".
//
// Conventions, matching Go's yaml.v2 UnmarshalStrict as prometheus-adapter uses it: an empty
// (null) value leaves the field at its default; a mapping or list where a scalar belongs is
// an error; any scalar is accepted where a string belongs (its text); unknown and duplicate
// keys are errors; booleans are true/false (and YAML 1.1's yes/no/on/off), never quoted.
//
// Ownership: keeps references to the text and source name given to the constructor, which
// must outlive it.
// Thread safety: none needed; use one YamlDocument per load, from one thread.
// Errors: yaml-cpp may throw YAML::Exception from YAML::Load; callers catch it at the
// entry point (ParseAdapterConfig) and convert it to InvalidArgument with its mark.
#ifndef SEXTANT_SCALING_CONFIG_YAML_H_
#define SEXTANT_SCALING_CONFIG_YAML_H_

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "scaling/query_template.h"

namespace sextant::scaling {

class YamlDocument {
 public:
  YamlDocument(const std::string& text, const std::string& source);

  const std::string& text() const { return text_; }
  const std::string& source() const { return source_; }

  // "source:line:col" of `node`, or of `fallback` when `node` is empty or has no mark.
  std::string Where(const YAML::Node& node, const YAML::Node& fallback) const;
  Status Error(const YAML::Node& node, const YAML::Node& fallback, const std::string& path,
               const std::string& what) const;

  using KeyFn = std::function<Status(const std::string& key, const YAML::Node& key_node,
                                     const YAML::Node& value)>;
  // Calls fn for each entry of the mapping `node` (none when null). Keys must be scalars,
  // unique and, unless any_key, in `allowed`. `what` names the mapping in messages.
  Status ForEachKey(const YAML::Node& node, const std::string& path, const std::string& what,
                    const std::set<std::string>& allowed, const KeyFn& fn,
                    bool any_key = false) const;
  // Calls fn for each item of the list `node` (none when null) with path "path[i]".
  Status ForEachItem(
      const YAML::Node& node, const YAML::Node& key, const std::string& path,
      const std::function<Status(const YAML::Node& item, const std::string& item_path)>& fn) const;

  // Scalars into fields; a null value leaves *out unchanged.
  Status GetString(const YAML::Node& value, const YAML::Node& key, const std::string& path,
                   std::string* out) const;
  Status GetBool(const YAML::Node& value, const YAML::Node& key, const std::string& path,
                 bool* out) const;

  // Parses `text` (the value of `node`) as a QueryTemplate. A syntax error is reported at
  // its own line and column in the file when the scalar's text can be matched in the file
  // (plain, quoted without escapes, or literal block); else at the scalar, naming the
  // position within the template.
  Status ParseTemplate(const YAML::Node& node, const std::string& path, const std::string& text,
                       TemplateData data, QueryTemplate* out) const;

 private:
  const std::string& text_;
  const std::string& source_;
  std::vector<std::size_t> line_starts_;  // byte offset of each line of text_
};

}  // namespace sextant::scaling

#endif  // SEXTANT_SCALING_CONFIG_YAML_H_
