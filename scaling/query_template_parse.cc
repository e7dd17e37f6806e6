// Parser for QueryTemplate: Go text/template's parser rules (text/template/parse/parse.go)
// over the lexer's pieces, plus load-time type checks against the template's data.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "scaling/query_template_internal.h"

namespace sextant::scaling::template_internal {
namespace {

using TK = Token::Kind;

class Parser {
 public:
  Parser(std::vector<Piece> pieces, TemplateData data) : data_(data), pieces_(std::move(pieces)) {}

  bool Run(std::vector<Node>* nodes);
  std::size_t error_offset() const { return error_offset_; }
  const std::string& error() const { return error_; }

 private:
  enum class Stop : uint8_t { kEof, kEnd, kElse };
  enum class Context : uint8_t { kAction, kIf, kWith, kRange, kParen };

  bool Fail(std::size_t offset, std::string message) {
    if (error_.empty()) {
      error_offset_ = offset;
      error_ = std::move(message);
    }
    return false;
  }

  bool ParseList(Type dot, std::vector<Node>* out, Stop* stop, const Piece** stop_piece);
  bool ParseControl(Node::Kind kind, const Piece& piece, std::size_t start, Type dot,
                    std::vector<Node>* out);
  bool ParsePipeline(const std::vector<Token>& toks, std::size_t* i, Context ctx, Type dot,
                     Pipeline* pipe, Type* type);
  bool ParseCommand(const std::vector<Token>& toks, std::size_t* i, Type dot, const Type* piped,
                    Command* cmd, Type* type);
  bool ParseOperand(const std::vector<Token>& toks, std::size_t* i, Type dot, Operand* op,
                    Type* type);
  bool FieldType(Type base, const std::string& name, std::size_t offset, Type* out);
  bool CheckCall(const Command& cmd, const std::vector<Type>& types, Type* out);
  const std::pair<std::string, Type>* FindVar(const std::string& name) const;

  TemplateData data_;
  std::vector<Piece> pieces_;
  std::size_t next_piece_ = 0;
  std::vector<std::pair<std::string, Type>> vars_;
  int range_depth_ = 0;
  std::size_t error_offset_ = 0;
  std::string error_;
};

const std::pair<std::string, Type>* Parser::FindVar(const std::string& name) const {
  for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
    if (it->first == name) return &*it;
  }
  return nullptr;
}

bool Parser::Run(std::vector<Node>* nodes) {
  vars_.push_back({"$", Type::kRoot});
  Stop stop;
  const Piece* stop_piece = nullptr;
  if (!ParseList(Type::kRoot, nodes, &stop, &stop_piece)) return false;
  if (stop == Stop::kEnd) return Fail(stop_piece->offset, "unexpected <<end>>");
  if (stop == Stop::kElse) return Fail(stop_piece->offset, "unexpected <<else>>");
  return true;
}

bool Parser::ParseList(Type dot, std::vector<Node>* out, Stop* stop, const Piece** stop_piece) {
  while (next_piece_ < pieces_.size()) {
    const Piece& piece = pieces_[next_piece_++];
    if (!piece.is_action) {
      Node text;
      text.kind = Node::Kind::kText;
      text.offset = piece.offset;
      text.text = piece.text;
      out->push_back(std::move(text));
      continue;
    }
    const std::vector<Token>& toks = piece.tokens;
    const Token& head = toks[0];
    if (head.kind == TK::kEnd) return Fail(piece.offset, "missing value for command");
    if (head.kind == TK::kIdent) {
      const std::string& w = head.text;
      if (w == "end" || w == "break" || w == "continue") {
        if (toks[1].kind != TK::kEnd) {
          return Fail(toks[1].offset, "unexpected \"" + TokenText(toks[1]) + "\" in " + w);
        }
      }
      if (w == "end" || w == "else") {
        *stop = w == "end" ? Stop::kEnd : Stop::kElse;
        *stop_piece = &piece;
        return true;
      }
      if (w == "if" || w == "with" || w == "range") {
        const Node::Kind kind = w == "if"     ? Node::Kind::kIf
                                : w == "with" ? Node::Kind::kWith
                                              : Node::Kind::kRange;
        if (!ParseControl(kind, piece, 1, dot, out)) return false;
        continue;
      }
      if (w == "break" || w == "continue") {
        if (range_depth_ == 0) return Fail(head.offset, "<<" + w + ">> outside <<range>>");
        Node node;
        node.kind = w == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
        node.offset = head.offset;
        out->push_back(std::move(node));
        continue;
      }
      if (w == "define" || w == "template" || w == "block") {
        return Fail(head.offset, "<<" + w +
                                     ">> is not supported: Sextant templates are "
                                     "single and self-contained");
      }
    }
    Node node;
    node.kind = Node::Kind::kAction;
    node.offset = piece.offset;
    std::size_t i = 0;
    Type type;
    if (!ParsePipeline(toks, &i, Context::kAction, dot, &node.pipe, &type)) return false;
    if (toks[i].kind != TK::kEnd) {
      return Fail(toks[i].offset, "unexpected \"" + TokenText(toks[i]) + "\"");
    }
    out->push_back(std::move(node));
  }
  *stop = Stop::kEof;
  return true;
}

bool Parser::ParseControl(Node::Kind kind, const Piece& piece, std::size_t start, Type dot,
                          std::vector<Node>* out) {
  const std::vector<Token>& toks = piece.tokens;
  const std::string word = toks[start - 1].text;
  Node node;
  node.kind = kind;
  node.offset = toks[start - 1].offset;
  const std::size_t mark = vars_.size();
  const Context ctx = kind == Node::Kind::kIf     ? Context::kIf
                      : kind == Node::Kind::kWith ? Context::kWith
                                                  : Context::kRange;
  std::size_t i = start;
  Type type;
  if (!ParsePipeline(toks, &i, ctx, dot, &node.pipe, &type)) return false;
  if (toks[i].kind != TK::kEnd) {
    return Fail(toks[i].offset, "unexpected \"" + TokenText(toks[i]) + "\" in " + word);
  }
  Type body_dot = kind == Node::Kind::kWith ? type : dot;
  if (kind == Node::Kind::kRange) {
    Type key = Type::kAny;
    switch (type) {
      case Type::kList:
        key = Type::kInt;
        body_dot = Type::kString;
        break;
      case Type::kMap:
        key = Type::kString;
        body_dot = Type::kString;
        break;
      case Type::kAny:
        body_dot = Type::kAny;
        break;
      default:
        return Fail(node.pipe.offset, std::string("range can't iterate over a value of type ") +
                                          TypeName(type, data_));
    }
    const std::vector<std::string>& vars = node.pipe.vars;
    if (node.pipe.is_assign) {
      for (auto& var : vars_) {
        if (std::find(vars.begin(), vars.end(), var.first) != vars.end()) var.second = Type::kAny;
      }
    } else {
      if (vars.size() == 1) vars_.push_back({vars[0], body_dot});
      if (vars.size() == 2) {
        vars_.push_back({vars[0], key});
        vars_.push_back({vars[1], body_dot});
      }
    }
    ++range_depth_;
  }
  Stop stop;
  const Piece* stop_piece = nullptr;
  const std::size_t body_mark = vars_.size();
  if (!ParseList(body_dot, &node.body, &stop, &stop_piece)) return false;
  vars_.resize(body_mark);
  if (kind == Node::Kind::kRange) --range_depth_;
  if (stop == Stop::kElse) {
    const std::vector<Token>& et = stop_piece->tokens;
    if (et[1].kind == TK::kIdent && (et[1].text == "if" || et[1].text == "with")) {
      if (et[1].text != word) {
        return Fail(et[1].offset,
                    "<<else " + et[1].text + ">> is only allowed after <<" + et[1].text + ">>");
      }
      // `else if` closes with the chain's single <<end>>, as in Go.
      if (!ParseControl(kind, *stop_piece, 2, dot, &node.else_body)) return false;
      stop = Stop::kEnd;
    } else if (et[1].kind != TK::kEnd) {
      return Fail(et[1].offset, "unexpected \"" + TokenText(et[1]) + "\" in else");
    } else {
      if (!ParseList(dot, &node.else_body, &stop, &stop_piece)) return false;
      vars_.resize(body_mark);
      if (stop == Stop::kElse) return Fail(stop_piece->offset, "unexpected <<else>>");
    }
  }
  if (stop != Stop::kEnd) {
    return Fail(node.offset, "<<" + word + ">> has no matching <<end>>");
  }
  vars_.resize(mark);
  out->push_back(std::move(node));
  return true;
}

bool Parser::ParsePipeline(const std::vector<Token>& toks, std::size_t* i, Context ctx, Type dot,
                           Pipeline* pipe, Type* type) {
  pipe->offset = toks[*i].offset;
  auto kind_at = [&](std::size_t k) { return *i + k < toks.size() ? toks[*i + k].kind : TK::kEnd; };
  if (kind_at(0) == TK::kVariable) {
    if (kind_at(1) == TK::kDeclare || kind_at(1) == TK::kAssign) {
      pipe->vars = {toks[*i].text};
      pipe->is_assign = kind_at(1) == TK::kAssign;
      *i += 2;
    } else if (kind_at(1) == TK::kComma) {
      if (ctx != Context::kRange || kind_at(2) != TK::kVariable ||
          (kind_at(3) != TK::kDeclare && kind_at(3) != TK::kAssign)) {
        return Fail(toks[*i + 1].offset, "too many declarations in command");
      }
      pipe->vars = {toks[*i].text, toks[*i + 2].text};
      pipe->is_assign = kind_at(3) == TK::kAssign;
      *i += 4;
    }
  }
  for (const std::string& v : pipe->vars) {
    if (v == "$") return Fail(pipe->offset, "cannot declare or assign $");
    if (pipe->is_assign && FindVar(v) == nullptr) {
      return Fail(pipe->offset, "undefined variable \"" + v + "\"");
    }
  }
  const TK first = toks[*i].kind;
  if (first == TK::kEnd || first == TK::kRParen || first == TK::kPipe) {
    static constexpr const char* kNames[] = {"command", "if", "with", "range",
                                             "parenthesized pipeline"};
    return Fail(toks[*i].offset, std::string("missing value for ") + kNames[static_cast<int>(ctx)]);
  }
  Type piped = Type::kAny;
  while (true) {
    Command cmd;
    if (!ParseCommand(toks, i, dot, pipe->commands.empty() ? nullptr : &piped, &cmd, &piped)) {
      return false;
    }
    pipe->commands.push_back(std::move(cmd));
    if (toks[*i].kind != TK::kPipe) break;
    ++*i;
  }
  *type = piped;
  for (const std::string& v : pipe->vars) {
    if (pipe->is_assign) {
      for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
        if (it->first == v) {
          if (it->second != piped) it->second = Type::kAny;
          break;
        }
      }
    } else if (ctx != Context::kRange) {
      vars_.push_back({v, piped});
    }
  }
  return true;
}

bool Parser::ParseCommand(const std::vector<Token>& toks, std::size_t* i, Type dot,
                          const Type* piped, Command* cmd, Type* type) {
  cmd->offset = toks[*i].offset;
  std::vector<Type> types;
  while (true) {
    const Token& tok = toks[*i];
    if (tok.kind == TK::kEnd || tok.kind == TK::kRParen || tok.kind == TK::kPipe) break;
    if (!cmd->args.empty() && !tok.space_before) {
      return Fail(tok.offset, "unexpected \"" + TokenText(tok) + "\" in operand");
    }
    Operand op;
    Type t;
    if (!ParseOperand(toks, i, dot, &op, &t)) return false;
    cmd->args.push_back(std::move(op));
    types.push_back(t);
  }
  if (cmd->args.empty()) return Fail(cmd->offset, "missing value for command");
  const Operand& head = cmd->args[0];
  if (head.kind == Operand::Kind::kFunction) {
    types.erase(types.begin());
    if (piped != nullptr) types.push_back(*piped);
    std::string bad_format;
    if (head.func == Func::kPrintf && cmd->args.size() > 1 &&
        cmd->args[1].kind == Operand::Kind::kString &&
        !CheckFormat(cmd->args[1].text, &bad_format)) {
      return Fail(cmd->args[1].offset, bad_format);
    }
    return CheckCall(*cmd, types, type);
  }
  if (head.kind == Operand::Kind::kNil) return Fail(head.offset, "nil is not a command");
  if (cmd->args.size() > 1 || piped != nullptr) {
    return Fail(cmd->args.size() > 1 ? cmd->args[1].offset : head.offset,
                "can't give argument to non-function");
  }
  *type = types[0];
  return true;
}

bool Parser::ParseOperand(const std::vector<Token>& toks, std::size_t* i, Type dot, Operand* op,
                          Type* type) {
  const Token& tok = toks[(*i)++];
  op->offset = tok.offset;
  bool chainable = true;
  Type base = Type::kAny;
  switch (tok.kind) {
    case TK::kField:
      op->kind = Operand::Kind::kDot;
      op->fields.push_back(tok.text);
      base = dot;
      break;
    case TK::kDot:
      op->kind = Operand::Kind::kDot;
      base = dot;
      chainable = false;
      break;
    case TK::kVariable: {
      const auto* var = FindVar(tok.text);
      if (var == nullptr) return Fail(tok.offset, "undefined variable \"" + tok.text + "\"");
      op->kind = Operand::Kind::kVariable;
      op->text = tok.text;
      base = var->second;
      break;
    }
    case TK::kString:
      op->kind = Operand::Kind::kString;
      op->text = tok.text;
      base = Type::kString;
      chainable = false;
      break;
    case TK::kNumber:
      op->kind = Operand::Kind::kInt;
      std::from_chars(tok.text.data() + (tok.text[0] == '+'), tok.text.data() + tok.text.size(),
                      op->integer);
      base = Type::kInt;
      chainable = false;
      break;
    case TK::kBool:
      op->kind = Operand::Kind::kBool;
      op->boolean = tok.text == "true";
      base = Type::kBool;
      chainable = false;
      break;
    case TK::kNil:
      op->kind = Operand::Kind::kNil;
      chainable = false;
      break;
    case TK::kIdent: {
      static constexpr std::pair<std::string_view, Func> kFuncs[] = {
          {"and", Func::kAnd},       {"or", Func::kOr},           {"not", Func::kNot},
          {"eq", Func::kEq},         {"ne", Func::kNe},           {"lt", Func::kLt},
          {"le", Func::kLe},         {"gt", Func::kGt},           {"ge", Func::kGe},
          {"len", Func::kLen},       {"index", Func::kIndex},     {"print", Func::kPrint},
          {"printf", Func::kPrintf}, {"println", Func::kPrintln},
      };
      static constexpr std::string_view kKeywords[] = {
          "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"};
      static constexpr std::string_view kGoOnly[] = {"html", "js", "urlquery", "call", "slice"};
      for (std::string_view k : kKeywords) {
        if (tok.text == k) return Fail(tok.offset, "unexpected \"" + tok.text + "\" in operand");
      }
      for (std::string_view k : kGoOnly) {
        if (tok.text == k) {
          return Fail(tok.offset, "function \"" + tok.text +
                                      "\" is not supported by Sextant (only and, or, not, eq, "
                                      "ne, lt, le, gt, ge, len, index, print, printf, println)");
        }
      }
      bool found = false;
      for (const auto& [name, func] : kFuncs) {
        if (tok.text == name) {
          op->func = func;
          found = true;
        }
      }
      if (!found) {
        return Fail(tok.offset, "function \"" + tok.text +
                                    "\" not defined (prometheus-adapter registers no template "
                                    "functions beyond Go's built-ins)");
      }
      op->kind = Operand::Kind::kFunction;
      op->text = tok.text;
      chainable = false;
      break;
    }
    case TK::kLParen: {
      auto sub = std::make_shared<Pipeline>();
      if (!ParsePipeline(toks, i, Context::kParen, dot, sub.get(), &base)) return false;
      if (toks[*i].kind != TK::kRParen) return Fail(tok.offset, "unclosed left paren");
      ++*i;
      op->kind = Operand::Kind::kPipeline;
      op->sub = std::move(sub);
      break;
    }
    default:
      return Fail(tok.offset, "unexpected \"" + TokenText(tok) + "\" in operand");
  }
  while (toks[*i].kind == TK::kField && !toks[*i].space_before) {
    if (!chainable) return Fail(toks[*i].offset, "unexpected . after term");
    op->fields.push_back(toks[(*i)++].text);
  }
  for (const std::string& field : op->fields) {
    if (!FieldType(base, field, op->offset, &base)) return false;
  }
  *type = base;
  return true;
}

bool Parser::FieldType(Type base, const std::string& name, std::size_t offset, Type* out) {
  if (base == Type::kAny) {
    *out = Type::kAny;
    return true;
  }
  if (base == Type::kMap) {
    *out = Type::kString;
    return true;
  }
  if (base == Type::kRoot) {
    std::string hint;
    for (const FieldSpec& f : Schema(data_)) {
      if (name == f.name) {
        *out = f.type;
        return true;
      }
      if (hint.empty() && name.size() == std::string_view(f.name).size() &&
          std::equal(name.begin(), name.end(), f.name, [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        hint = std::string(" (did you mean .") + f.name + "?)";
      }
    }
    std::string fields;
    for (const FieldSpec& f : Schema(data_)) fields += std::string(" .") + f.name;
    return Fail(offset, "can't evaluate field " + name + " in type " + RootTypeName(data_) + hint +
                            "; the fields are" + fields);
  }
  return Fail(offset, "can't evaluate field " + name + " in type " + TypeName(base, data_));
}

bool Parser::CheckCall(const Command& cmd, const std::vector<Type>& types, Type* out) {
  const Operand& head = cmd.args[0];
  const std::size_t n = types.size();
  auto arity = [&](std::size_t min, std::size_t max) {
    if (n >= min && n <= max) return true;
    return Fail(head.offset,
                "wrong number of args for " + head.text + ": want " +
                    (min == max ? std::to_string(min) : "at least " + std::to_string(min)) +
                    " got " + std::to_string(n));
  };
  auto basic = [](Type t) { return t == Type::kBool || t == Type::kInt || t == Type::kString; };
  constexpr std::size_t kMany = static_cast<std::size_t>(-1);
  switch (head.func) {
    case Func::kAnd:
    case Func::kOr:
      if (!arity(1, kMany)) return false;
      *out = types[0];
      for (Type t : types) {
        if (t != *out) *out = Type::kAny;
      }
      return true;
    case Func::kNot:
      *out = Type::kBool;
      return arity(1, 1);
    case Func::kEq:
    case Func::kNe:
    case Func::kLt:
    case Func::kLe:
    case Func::kGt:
    case Func::kGe: {
      if (head.func == Func::kEq && n < 2) {
        return Fail(head.offset, "missing argument for comparison");
      }
      if (head.func != Func::kEq && !arity(2, 2)) return false;
      const bool ordered = head.func != Func::kEq && head.func != Func::kNe;
      for (Type t : types) {
        if (t == Type::kList || t == Type::kMap || t == Type::kRoot ||
            (ordered && t == Type::kBool)) {
          return Fail(head.offset, std::string("error calling ") + head.text +
                                       (ordered ? ": invalid type" : ": incompatible types") +
                                       " for comparison: " + TypeName(t, data_));
        }
      }
      for (std::size_t k = 1; k < n; ++k) {
        if (basic(types[0]) && basic(types[k]) && types[0] != types[k]) {
          return Fail(head.offset,
                      "error calling " + head.text + ": incompatible types for comparison: " +
                          TypeName(types[0], data_) + " and " + TypeName(types[k], data_));
        }
      }
      *out = Type::kBool;
      return true;
    }
    case Func::kLen:
      if (!arity(1, 1)) return false;
      if (types[0] == Type::kInt || types[0] == Type::kBool || types[0] == Type::kRoot) {
        return Fail(head.offset,
                    std::string("error calling len: len of type ") + TypeName(types[0], data_));
      }
      *out = Type::kInt;
      return true;
    case Func::kIndex: {
      if (!arity(1, kMany)) return false;
      Type item = types[0];
      for (std::size_t k = 1; k < n; ++k) {
        const Type key = types[k];
        const char* want = item == Type::kMap ? "string" : "int";
        const bool key_ok =
            key == Type::kAny || (item == Type::kMap ? key == Type::kString : key == Type::kInt);
        if (item == Type::kAny) continue;
        if (item != Type::kList && item != Type::kMap && item != Type::kString) {
          return Fail(head.offset, std::string("error calling index: can't index item of "
                                               "type ") +
                                       TypeName(item, data_));
        }
        if (!key_ok) {
          return Fail(head.offset, std::string("error calling index: index has type ") +
                                       TypeName(key, data_) + "; should be " + want);
        }
        item = item == Type::kString ? Type::kInt : Type::kString;
      }
      *out = item;
      return true;
    }
    case Func::kPrintf:
      if (!arity(1, kMany)) return false;
      if (types[0] != Type::kString && types[0] != Type::kAny) {
        return Fail(head.offset, std::string("error calling printf: wrong type for value; "
                                             "expected string; got ") +
                                     TypeName(types[0], data_));
      }
      *out = Type::kString;
      return true;
    case Func::kPrint:
    case Func::kPrintln:
      *out = Type::kString;
      return true;
  }
  return Fail(head.offset, "unknown function");
}

}  // namespace

Result<std::shared_ptr<const Tree>> ParseTree(std::string_view text, TemplateData data,
                                              TemplateSyntaxError* error) {
  auto tree = std::make_shared<Tree>();
  tree->text = std::string(text);
  tree->data = data;
  std::vector<Piece> pieces;
  SyntaxProblem problem;
  bool ok = LexTemplate(tree->text, &pieces, &problem);
  if (ok) {
    Parser parser(std::move(pieces), data);
    ok = parser.Run(&tree->nodes);
    if (!ok) problem = {parser.error_offset(), parser.error()};
  }
  if (!ok) {
    if (error != nullptr) {
      error->offset = problem.offset;
      Locate(text, problem.offset, &error->line, &error->column);
      error->message = problem.message;
    }
    return InvalidArgumentError(DescribeOffset(text, problem.offset) + ": " + problem.message);
  }
  return std::shared_ptr<const Tree>(std::move(tree));
}

}  // namespace sextant::scaling::template_internal
