#include "scaling/config_yaml.h"

#include <sstream>
#include <string_view>

namespace sextant::scaling {
namespace {

bool HasMark(const YAML::Node& node) {
  return node.IsDefined() && !node.IsNull() && node.Mark().pos >= 0;
}

std::string TypeWord(const YAML::Node& node) {
  return node.IsMap() ? "a mapping" : node.IsSequence() ? "a list" : "a scalar";
}

}  // namespace

YamlDocument::YamlDocument(const std::string& text, const std::string& source)
    : text_(text), source_(source) {
  line_starts_.push_back(0);
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

std::string YamlDocument::Where(const YAML::Node& node, const YAML::Node& fallback) const {
  const YAML::Node& n = HasMark(node) || !fallback.IsDefined() ? node : fallback;
  std::ostringstream out;
  out << source_;
  if (n.IsDefined() && n.Mark().line >= 0) {
    out << ":" << n.Mark().line + 1 << ":" << n.Mark().column + 1;
  }
  return out.str();
}

Status YamlDocument::Error(const YAML::Node& node, const YAML::Node& fallback,
                           const std::string& path, const std::string& what) const {
  return InvalidArgumentError(Where(node, fallback) + ": " + (path.empty() ? "" : path + ": ") +
                              what);
}

Status YamlDocument::ForEachKey(const YAML::Node& node, const std::string& path,
                                const std::string& what, const std::set<std::string>& allowed,
                                const KeyFn& fn, bool any_key) const {
  if (!node.IsDefined() || node.IsNull()) return OkStatus();
  if (!node.IsMap()) {
    return Error(node, node, path, what + " must be a mapping, not " + TypeWord(node));
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) return Error(entry.first, node, path, "keys must be scalars");
    const std::string key = entry.first.Scalar();
    const std::string key_path = path.empty() ? key : path + "." + key;
    if (!any_key && allowed.count(key) == 0) {
      std::string expected;
      for (const std::string& a : allowed) expected += (expected.empty() ? "" : ", ") + a;
      return Error(entry.first, node, path,
                   "unknown key \"" + key + "\" in " + what + " (expected: " + expected + ")");
    }
    if (!seen.insert(key).second) {
      return Error(entry.first, node, key_path, "duplicate key");
    }
    SEXTANT_RETURN_IF_ERROR(fn(key, entry.first, entry.second));
  }
  return OkStatus();
}

Status YamlDocument::ForEachItem(
    const YAML::Node& node, const YAML::Node& key, const std::string& path,
    const std::function<Status(const YAML::Node&, const std::string&)>& fn) const {
  if (!node.IsDefined() || node.IsNull()) return OkStatus();
  if (!node.IsSequence()) return Error(node, key, path, "must be a list, not " + TypeWord(node));
  std::size_t i = 0;
  for (const auto& item : node) {
    SEXTANT_RETURN_IF_ERROR(fn(item, path + "[" + std::to_string(i++) + "]"));
  }
  return OkStatus();
}

Status YamlDocument::GetString(const YAML::Node& value, const YAML::Node& key,
                               const std::string& path, std::string* out) const {
  if (!value.IsDefined() || value.IsNull()) return OkStatus();
  if (!value.IsScalar()) return Error(value, key, path, "must be a string, not " + TypeWord(value));
  *out = value.Scalar();
  return OkStatus();
}

Status YamlDocument::GetBool(const YAML::Node& value, const YAML::Node& key,
                             const std::string& path, bool* out) const {
  if (!value.IsDefined() || value.IsNull()) return OkStatus();
  bool b = false;
  // A quoted scalar has the tag "!": Go's yaml.v2 refuses a string for a bool.
  if (!value.IsScalar() || value.Tag() == "!" || !YAML::convert<bool>::decode(value, b)) {
    return Error(value, key, path, "must be true or false");
  }
  *out = b;
  return OkStatus();
}

Status YamlDocument::ParseTemplate(const YAML::Node& node, const std::string& path,
                                   const std::string& text, TemplateData data,
                                   QueryTemplate* out) const {
  TemplateSyntaxError error;
  auto parsed = QueryTemplate::Parse(text, data, &error);
  if (parsed.ok()) {
    *out = std::move(*parsed);
    return OkStatus();
  }
  // The template's line `error.line` up to the error, to find in the file.
  std::size_t tline_start = 0;
  for (int l = 1; l < error.line; ++l) tline_start = text.find('\n', tline_start) + 1;
  const std::string_view prefix =
      std::string_view(text).substr(tline_start, static_cast<std::size_t>(error.column - 1));
  const YAML::Mark mark = node.Mark();
  std::string where;
  if (mark.pos >= 0 && static_cast<std::size_t>(mark.pos) < text_.size()) {
    const auto pos = static_cast<std::size_t>(mark.pos);
    const char c = text_[pos];
    std::size_t file_line = 0;
    std::size_t file_col = 0;
    if (error.line == 1 && c != '|' && c != '>') {
      const std::size_t quote = (c == '\'' || c == '"') ? 1 : 0;
      if (std::string_view(text_).substr(pos + quote).starts_with(prefix)) {
        file_line = static_cast<std::size_t>(mark.line) + 1;
        file_col = static_cast<std::size_t>(mark.column) + 1 + quote + prefix.size();
      }
    } else if (c == '|') {
      // Literal block: template line L is file line mark.line + 1 + L, after the indent.
      // The block's indentation is that of its first non-blank line.
      const std::size_t index = static_cast<std::size_t>(mark.line) + error.line;
      std::size_t indent = 0;
      for (std::size_t l = static_cast<std::size_t>(mark.line) + 1; l < line_starts_.size(); ++l) {
        std::size_t n = 0;
        while (line_starts_[l] + n < text_.size() && text_[line_starts_[l] + n] == ' ') ++n;
        const std::size_t at = line_starts_[l] + n;
        if (at < text_.size() && text_[at] != '\n' && text_[at] != '\r') {
          indent = n;
          break;
        }
      }
      if (index < line_starts_.size()) {
        const std::size_t start = line_starts_[index];
        if (std::string_view(text_).substr(start).starts_with(std::string(indent, ' ')) &&
            std::string_view(text_).substr(start + indent).starts_with(prefix)) {
          file_line = index + 1;
          file_col = indent + prefix.size() + 1;
        }
      }
    }
    if (file_line > 0) {
      return InvalidArgumentError(source_ + ":" + std::to_string(file_line) + ":" +
                                  std::to_string(file_col) + ": " + path + ": " + error.message);
    }
  }
  return InvalidArgumentError(Where(node, node) + ": " + path + ": template line " +
                              std::to_string(error.line) + ", column " +
                              std::to_string(error.column) + ": " + error.message);
}

}  // namespace sextant::scaling
