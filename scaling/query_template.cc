// Execution of QueryTemplate: Go text/template's exec.go rules and fmt's printing of the
// values prometheus-adapter passes (strings, []string, map[string]string, the data struct).

#include "scaling/query_template.h"

#include <string>
#include <utility>
#include <vector>

#include "scaling/query_template_internal.h"

namespace sextant::scaling {
namespace template_internal {
namespace {

using VK = Value::Kind;

class Executor {
 public:
  Executor(const Tree& tree, const TemplateValues* mq, const GroupResourceValues* gr)
      : tree_(tree) {
    root_.data = tree.data;
    root_.metrics_query = mq;
    root_.group_resource = gr;
  }

  Result<std::string> Run() {
    Value root;
    root.kind = VK::kRoot;
    vars_.push_back({"$", root});
    Flow flow = Flow::kNormal;
    if (!Walk(tree_.nodes, root, &flow)) {
      return InvalidArgumentError(DescribeOffset(tree_.text, error_offset_) + ": " + error_);
    }
    return std::move(out_);
  }

 private:
  enum class Flow : uint8_t { kNormal, kBreak, kContinue };

  bool Fail(std::size_t offset, std::string message) {
    error_offset_ = offset;
    error_ = std::move(message);
    return false;
  }

  // What an action prints: text/template's printValue.
  std::string Print(const Value& v) const {
    return v.kind == VK::kMissing ? "<no value>" : Format('v', v, root_);
  }

  bool Walk(const std::vector<Node>& nodes, const Value& dot, Flow* flow) {
    for (const Node& node : nodes) {
      switch (node.kind) {
        case Node::Kind::kText:
          out_ += node.text;
          break;
        case Node::Kind::kAction: {
          Value v;
          if (!EvalPipeline(node.pipe, dot, true, &v)) return false;
          if (node.pipe.vars.empty()) out_ += Print(v);
          break;
        }
        case Node::Kind::kIf:
        case Node::Kind::kWith: {
          const std::size_t mark = vars_.size();
          Value v;
          if (!EvalPipeline(node.pipe, dot, true, &v)) return false;
          const bool ok = Truth(v) ? Walk(node.body, node.kind == Node::Kind::kWith ? v : dot, flow)
                                   : Walk(node.else_body, dot, flow);
          vars_.resize(mark);
          if (!ok) return false;
          break;
        }
        case Node::Kind::kRange:
          if (!Range(node, dot, flow)) return false;
          break;
        case Node::Kind::kBreak:
          *flow = Flow::kBreak;
          return true;
        case Node::Kind::kContinue:
          *flow = Flow::kContinue;
          return true;
      }
      if (*flow != Flow::kNormal) return true;
    }
    return true;
  }

  bool Range(const Node& node, const Value& dot, Flow* flow) {
    const std::size_t mark = vars_.size();
    Value v;
    if (!EvalPipeline(node.pipe, dot, false, &v)) return false;
    const Pipeline& pipe = node.pipe;
    if (!pipe.is_assign) {
      for (const std::string& name : pipe.vars) vars_.push_back({name, Value()});
    }
    const std::size_t iteration_mark = vars_.size();
    auto set = [&](std::size_t slot, const Value& value) {  // slot 0: first variable
      if (!pipe.is_assign) {
        vars_[mark + slot].second = value;
      } else {
        SetVar(pipe.vars[slot], value);
      }
    };
    bool ok = true;
    std::size_t iterations = 0;
    auto one = [&](const Value& key, const Value& elem) {
      ++iterations;
      if (pipe.vars.size() == 1) set(0, elem);
      if (pipe.vars.size() == 2) {
        set(0, key);
        set(1, elem);
      }
      Flow inner = Flow::kNormal;
      ok = Walk(node.body, elem, &inner);
      vars_.resize(iteration_mark);
      return ok && inner != Flow::kBreak;
    };
    if (v.kind == VK::kList) {
      for (std::size_t k = 0; k < v.list->size(); ++k) {
        if (!one(Value::Int(static_cast<int64_t>(k)), Value::String((*v.list)[k]))) break;
      }
    } else if (v.kind == VK::kMap) {
      for (const auto& [key, value] : *v.map) {
        if (!one(Value::String(key), Value::String(value))) break;
      }
    } else if (v.kind != VK::kMissing) {
      vars_.resize(mark);
      return Fail(node.pipe.offset, std::string("range can't iterate over ") + Print(v));
    }
    if (ok && iterations == 0) ok = Walk(node.else_body, dot, flow);
    vars_.resize(mark);
    return ok;
  }

  void SetVar(const std::string& name, const Value& value) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->first == name) {
        it->second = value;
        return;
      }
    }
  }

  // Evaluates the commands; with `declare`, also declares or assigns the variables.
  bool EvalPipeline(const Pipeline& pipe, const Value& dot, bool declare, Value* out) {
    Value piped;
    bool has_piped = false;
    for (const Command& cmd : pipe.commands) {
      Value v;
      if (!EvalCommand(cmd, dot, has_piped ? &piped : nullptr, &v)) return false;
      piped = std::move(v);
      has_piped = true;
    }
    if (declare || pipe.is_assign) {
      for (const std::string& name : pipe.vars) {
        if (pipe.is_assign) {
          SetVar(name, piped);
        } else {
          vars_.push_back({name, piped});
        }
      }
    }
    *out = std::move(piped);
    return true;
  }

  bool EvalCommand(const Command& cmd, const Value& dot, const Value* piped, Value* out) {
    const Operand& head = cmd.args[0];
    if (head.kind == Operand::Kind::kFunction) return Call(cmd, dot, piped, out);
    return EvalOperand(head, dot, out);
  }

  bool EvalOperand(const Operand& op, const Value& dot, Value* out) {
    Value v;
    switch (op.kind) {
      case Operand::Kind::kDot:
        v = dot;
        break;
      case Operand::Kind::kVariable:
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
          if (it->first == op.text) {
            v = it->second;
            break;
          }
        }
        break;
      case Operand::Kind::kString:
        v = Value::String(op.text);
        break;
      case Operand::Kind::kInt:
        v = Value::Int(op.integer);
        break;
      case Operand::Kind::kBool:
        v = Value::Bool(op.boolean);
        break;
      case Operand::Kind::kNil:
        break;
      case Operand::Kind::kPipeline:
        if (!EvalPipeline(*op.sub, dot, true, &v)) return false;
        break;
      case Operand::Kind::kFunction:
        return Fail(op.offset, "function used as a value");
    }
    for (const std::string& field : op.fields) {
      if (v.kind == VK::kRoot) {
        v = root_.Field(field);
      } else if (v.kind == VK::kMap) {
        auto it = v.map->find(field);
        v = it == v.map->end() ? Value() : Value::String(it->second);
      } else if (v.kind != VK::kMissing) {
        return Fail(op.offset,
                    "can't evaluate field " + field + " in type " + GoTypeName(v.kind, tree_.data));
      }
    }
    *out = std::move(v);
    return true;
  }

  bool Call(const Command& cmd, const Value& dot, const Value* piped, Value* out) {
    const Operand& head = cmd.args[0];
    const std::string prefix = "error calling " + head.text + ": ";
    std::vector<Value> args;
    auto eval = [&](std::size_t k, Value* v) {
      if (k < cmd.args.size()) return EvalOperand(cmd.args[k], dot, v);
      *v = *piped;
      return true;
    };
    const std::size_t n = cmd.args.size() - 1 + (piped != nullptr ? 1 : 0);
    if (head.func == Func::kAnd || head.func == Func::kOr) {
      for (std::size_t k = 1; k <= n; ++k) {
        if (!eval(k, out)) return false;
        if (Truth(*out) == (head.func == Func::kOr)) return true;
      }
      return true;
    }
    args.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      if (!eval(k + 1, &args[k])) return false;
    }
    switch (head.func) {
      case Func::kNot:
        *out = Value::Bool(!Truth(args[0]));
        return true;
      case Func::kEq:
      case Func::kNe:
      case Func::kLt:
      case Func::kLe:
      case Func::kGt:
      case Func::kGe:
        return Compare(head, args, out);
      case Func::kLen:
        switch (args[0].kind) {
          case VK::kString:
            *out = Value::Int(static_cast<int64_t>(args[0].string.size()));
            return true;
          case VK::kList:
            *out = Value::Int(static_cast<int64_t>(args[0].list->size()));
            return true;
          case VK::kMap:
            *out = Value::Int(static_cast<int64_t>(args[0].map->size()));
            return true;
          case VK::kMissing:
            return Fail(head.offset, prefix + "len of nil pointer");
          default:
            return Fail(head.offset,
                        prefix + "len of type " + GoTypeName(args[0].kind, tree_.data));
        }
      case Func::kIndex:
        return Index(head, args, out);
      case Func::kPrint:
      case Func::kPrintln:
        *out = Value::String(Sprint(args, head.func == Func::kPrintln, root_));
        return true;
      case Func::kPrintf:
        return Printf(head, args, out);
      default:
        return Fail(head.offset, "unknown function");
    }
  }

  bool Compare(const Operand& head, const std::vector<Value>& args, Value* out) {
    const std::string prefix = "error calling " + head.text + ": ";
    auto basic = [](VK k) { return k == VK::kBool || k == VK::kInt || k == VK::kString; };
    const Value& a = args[0];
    if (head.func == Func::kEq || head.func == Func::kNe) {
      bool equal = false;
      for (std::size_t k = 1; k < args.size() && !equal; ++k) {
        const Value& b = args[k];
        if (a.kind != b.kind) {
          if (a.kind != VK::kMissing && b.kind != VK::kMissing) {
            return Fail(head.offset, prefix + "incompatible types for comparison");
          }
        } else if (a.kind == VK::kMissing) {
          equal = true;
        } else if (!basic(a.kind)) {
          return Fail(head.offset,
                      prefix + "non-comparable type " + GoTypeName(a.kind, tree_.data));
        } else {
          equal = a.kind == VK::kBool  ? a.boolean == b.boolean
                  : a.kind == VK::kInt ? a.integer == b.integer
                                       : a.string == b.string;
        }
      }
      *out = Value::Bool(head.func == Func::kEq ? equal : !equal);
      return true;
    }
    const Value& b = args[1];
    for (const Value* v : {&a, &b}) {
      if (v->kind != VK::kInt && v->kind != VK::kString) {
        return Fail(head.offset, prefix + "invalid type for comparison");
      }
    }
    if (a.kind != b.kind) return Fail(head.offset, prefix + "incompatible types for comparison");
    const int c = a.kind == VK::kInt ? (a.integer < b.integer ? -1 : a.integer > b.integer)
                                     : a.string.compare(b.string);
    const bool r = head.func == Func::kLt   ? c < 0
                   : head.func == Func::kLe ? c <= 0
                   : head.func == Func::kGt ? c > 0
                                            : c >= 0;
    *out = Value::Bool(r);
    return true;
  }

  bool Index(const Operand& head, const std::vector<Value>& args, Value* out) {
    const std::string prefix = "error calling index: ";
    Value item = args[0];
    if (item.kind == VK::kMissing) return Fail(head.offset, prefix + "index of untyped nil");
    for (std::size_t k = 1; k < args.size(); ++k) {
      const Value& key = args[k];
      if (item.kind == VK::kMap) {
        if (key.kind != VK::kString) {
          return Fail(head.offset, prefix + "value has type " + GoTypeName(key.kind, tree_.data) +
                                       "; should be string");
        }
        auto it = item.map->find(key.string);
        item = Value::String(it == item.map->end() ? "" : it->second);
        continue;
      }
      const int64_t size = item.kind == VK::kList     ? static_cast<int64_t>(item.list->size())
                           : item.kind == VK::kString ? static_cast<int64_t>(item.string.size())
                                                      : -1;
      if (size < 0) {
        return Fail(head.offset,
                    prefix + "can't index item of type " + GoTypeName(item.kind, tree_.data));
      }
      if (key.kind != VK::kInt) {
        return Fail(head.offset, prefix + "cannot index slice/array with type " +
                                     GoTypeName(key.kind, tree_.data));
      }
      if (key.integer < 0 || key.integer >= size) {
        return Fail(head.offset, prefix + "index out of range: " + std::to_string(key.integer));
      }
      item = item.kind == VK::kList
                 ? Value::String((*item.list)[key.integer])
                 : Value::Int(static_cast<unsigned char>(item.string[key.integer]));
    }
    *out = std::move(item);
    return true;
  }

  bool Printf(const Operand& head, const std::vector<Value>& args, Value* out) {
    if (args[0].kind != VK::kString) {
      return Fail(head.offset, "error calling printf: wrong type for value; expected string");
    }
    std::string s;
    std::string error;
    if (!Sprintf(args[0].string, {args.begin() + 1, args.end()}, root_, &s, &error)) {
      return Fail(head.offset, "error calling printf: " + error);
    }
    *out = Value::String(std::move(s));
    return true;
  }

  const Tree& tree_;
  RootData root_;
  std::vector<std::pair<std::string, Value>> vars_;
  std::string out_;
  std::size_t error_offset_ = 0;
  std::string error_;
};

}  // namespace
}  // namespace template_internal

QueryTemplate::QueryTemplate() : tree_(std::make_shared<template_internal::Tree>()) {}

QueryTemplate::QueryTemplate(std::shared_ptr<const template_internal::Tree> tree)
    : tree_(std::move(tree)) {}

Result<QueryTemplate> QueryTemplate::Parse(std::string_view text, TemplateData data,
                                           TemplateSyntaxError* error) {
  auto tree = template_internal::ParseTree(text, data, error);
  if (!tree.ok()) return tree.status();
  return QueryTemplate(std::move(*tree));
}

Result<std::string> QueryTemplate::Render(const TemplateValues& values) const {
  if (tree_->data != TemplateData::kMetricsQuery) {
    return InternalError("a resources.template is rendered with metricsQuery values");
  }
  return template_internal::Executor(*tree_, &values, nullptr).Run();
}

Result<std::string> QueryTemplate::Render(const GroupResourceValues& values) const {
  if (tree_->data != TemplateData::kGroupResource) {
    return InternalError("a metricsQuery template is rendered with group-resource values");
  }
  return template_internal::Executor(*tree_, nullptr, &values).Run();
}

const std::string& QueryTemplate::text() const { return tree_->text; }

TemplateData QueryTemplate::data() const { return tree_->data; }

}  // namespace sextant::scaling
