// Values for QueryTemplate and Go fmt's printing of them: %v (what an action prints), %s,
// %d, %q, Sprint, Sprintln and Sprintf, including Go's %!verb(type=value) error forms.

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "scaling/query_template_internal.h"

namespace sextant::scaling::template_internal {
namespace {

using VK = Value::Kind;

// strconv.Quote / QuoteRune for one rune. Non-ASCII runes outside C1 are kept as they are
// (Go keeps the printable ones, which is all that label values hold in practice).
void AppendQuotedRune(uint32_t r, char quote, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (r == static_cast<uint32_t>(quote) || r == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(r));
  } else if (r >= 0x20 && r < 0x7F) {
    out->push_back(static_cast<char>(r));
  } else if (r >= 7 && r <= 13) {
    static constexpr std::string_view kNames = "abtnvfr";  // \a=7 \b \t \n \v \f \r=13
    out->push_back('\\');
    out->push_back(kNames[r - 7]);
  } else if (r < 0xA0) {
    *out += r < 0x80 ? "\\x" : "\\u00";
    out->push_back(kHex[r >> 4]);
    out->push_back(kHex[r & 0xF]);
  } else {
    if (r < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    } else if (r < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (r >> 12)));
      out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (r >> 18)));
      out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    }
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

// strconv.Quote: bytes of invalid UTF-8 become \x escapes.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    uint32_t r = len == 1 ? b : len == 2 ? b & 0x1F : len == 3 ? b & 0x0F : b & 0x07;
    for (int k = 1; k < len; ++k) {
      const auto c = i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
      if ((c & 0xC0) != 0x80) {
        len = 0;
        break;
      }
      r = (r << 6) | (c & 0x3F);
    }
    if (len == 0 ||
        (len > 1 && r < (len == 2   ? 0x80u
                         : len == 3 ? 0x800u
                                    : 0x10000u)) ||
        r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", b);
      out += buf;
      ++i;
      continue;
    }
    AppendQuotedRune(r, '"', &out);
    i += len;
  }
  return out + "\"";
}

}  // namespace

Value Value::Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.integer = i;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.string = std::move(s);
  return v;
}

Value RootData::Field(std::string_view name) const {
  Value v;
  if (metrics_query != nullptr) {
    if (name == "Series") return Value::String(metrics_query->series);
    if (name == "LabelMatchers") return Value::String(metrics_query->label_matchers);
    if (name == "GroupBy") return Value::String(metrics_query->group_by);
    if (name == "LabelValuesByName") {
      v.kind = VK::kMap;
      v.map = &metrics_query->label_values_by_name;
    } else if (name == "GroupBySlice") {
      v.kind = VK::kList;
      v.list = &metrics_query->group_by_slice;
    }
  } else if (group_resource != nullptr) {
    if (name == "Group") return Value::String(group_resource->group);
    if (name == "Resource") return Value::String(group_resource->resource);
  }
  return v;
}

bool Truth(const Value& v) {
  switch (v.kind) {
    case VK::kMissing:
      return false;
    case VK::kBool:
      return v.boolean;
    case VK::kInt:
      return v.integer != 0;
    case VK::kString:
      return !v.string.empty();
    case VK::kList:
      return !v.list->empty();
    case VK::kMap:
      return !v.map->empty();
    case VK::kRoot:
      return true;
  }
  return false;
}

const char* GoTypeName(VK kind, TemplateData data) {
  switch (kind) {
    case VK::kMissing:
      return "<nil>";
    case VK::kBool:
      return "bool";
    case VK::kInt:
      return "int";
    case VK::kString:
      return "string";
    case VK::kList:
      return "[]string";
    case VK::kMap:
      return "map[string]string";
    case VK::kRoot:
      return RootTypeName(data);
  }
  return "?";
}

std::string Format(char verb, const Value& v, const RootData& root) {
  auto bad = [&](const std::string& shown) {
    return std::string("%!") + verb + "(" + GoTypeName(v.kind, root.data) + "=" + shown + ")";
  };
  switch (v.kind) {
    case VK::kMissing:
      return verb == 'v' ? "<nil>" : std::string("%!") + verb + "(<nil>)";
    case VK::kBool:
      return verb == 'v' ? (v.boolean ? "true" : "false") : bad(v.boolean ? "true" : "false");
    case VK::kInt: {
      if (verb == 'd' || verb == 'v') return std::to_string(v.integer);
      if (verb != 'q') return bad(std::to_string(v.integer));
      std::string out = "'";
      const bool valid =
          v.integer >= 0 && v.integer <= 0x10FFFF && !(v.integer >= 0xD800 && v.integer < 0xE000);
      AppendQuotedRune(valid ? static_cast<uint32_t>(v.integer) : 0xFFFD, '\'', &out);
      return out + "'";
    }
    case VK::kString:
      if (verb == 's' || verb == 'v') return v.string;
      return verb == 'q' ? Quote(v.string) : bad(v.string);
    case VK::kList: {
      std::string out = "[";
      for (std::size_t k = 0; k < v.list->size(); ++k) {
        if (k > 0) out += ' ';
        out += Format(verb, Value::String((*v.list)[k]), root);
      }
      return out + "]";
    }
    case VK::kMap: {  // fmt prints maps with sorted keys; std::map is sorted
      std::string out = "map[";
      for (auto it = v.map->begin(); it != v.map->end(); ++it) {
        if (it != v.map->begin()) out += ' ';
        out += Format(verb, Value::String(it->first), root) + ":" +
               Format(verb, Value::String(it->second), root);
      }
      return out + "]";
    }
    case VK::kRoot: {
      const GroupResourceValues* gr = root.group_resource;
      if (gr != nullptr && verb != 'd') {  // schema.GroupResource is a fmt.Stringer
        const std::string s = gr->group.empty() ? gr->resource : gr->resource + "." + gr->group;
        return verb == 'q' ? Quote(s) : s;
      }
      std::string out = "{";
      for (const FieldSpec& f : Schema(root.data)) {
        if (out.size() > 1) out += ' ';
        out += Format(verb, root.Field(f.name), root);
      }
      return out + "}";
    }
  }
  return "";
}

std::string Sprint(const std::vector<Value>& args, bool line, const RootData& root) {
  std::string s;
  for (std::size_t k = 0; k < args.size(); ++k) {
    // Sprint separates operands with a space when neither is a string; Sprintln always.
    const bool strings = args[k].kind == VK::kString || (k > 0 && args[k - 1].kind == VK::kString);
    if (k > 0 && (line || !strings)) s += ' ';
    s += Format('v', args[k], root);
  }
  if (line) s += '\n';
  return s;
}

bool CheckFormat(const std::string& format, std::string* error) {
  for (std::size_t k = 0; k < format.size(); ++k) {
    if (format[k] != '%') continue;
    const char verb = k + 1 < format.size() ? format[++k] : '\0';
    if (verb != 's' && verb != 'd' && verb != 'v' && verb != 'q' && verb != '%') {
      *error = std::string("printf verb or flag '%") + (verb == '\0' ? "" : std::string(1, verb)) +
               "' is not supported (only %s %d %v %q %%, without flags or widths)";
      return false;
    }
  }
  return true;
}

bool Sprintf(const std::string& format, const std::vector<Value>& args, const RootData& root,
             std::string* out, std::string* error) {
  if (!CheckFormat(format, error)) return false;
  std::string s;
  std::size_t next = 0;
  for (std::size_t k = 0; k < format.size(); ++k) {
    if (format[k] != '%') {
      s += format[k];
      continue;
    }
    const char verb = format[++k];
    if (verb == '%') {
      s += '%';
    } else if (next >= args.size()) {
      s += std::string("%!") + verb + "(MISSING)";
    } else {
      s += Format(verb, args[next++], root);
    }
  }
  if (next < args.size()) {
    s += "%!(EXTRA ";
    for (std::size_t k = next; k < args.size(); ++k) {
      if (k > next) s += ", ";
      s += args[k].kind == VK::kMissing ? "<nil>"
                                        : std::string(GoTypeName(args[k].kind, root.data)) + "=" +
                                              Format('v', args[k], root);
    }
    s += ")";
  }
  *out = std::move(s);
  return true;
}

}  // namespace sextant::scaling::template_internal
