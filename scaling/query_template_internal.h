// Internals of QueryTemplate (scaling/query_template.h), shared by its parser
// (query_template_parse.cc) and its executor (query_template.cc). Not for other users.
//
// The tree mirrors Go's text/template/parse nodes closely enough that execution follows
// text/template/exec.go rule for rule. Offsets are byte offsets into the template text.
//
// Ownership: a Tree owns all of its nodes; QueryTemplate shares one immutable Tree.
// Thread safety: a finished Tree is immutable and safe to read from any thread.
// Errors: ParseTree returns InvalidArgument and fills TemplateSyntaxError; it never throws.
#ifndef SEXTANT_SCALING_QUERY_TEMPLATE_INTERNAL_H_
#define SEXTANT_SCALING_QUERY_TEMPLATE_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scaling/query_template.h"

namespace sextant::scaling::template_internal {

// Static types, for load-time checks. kAny: not known until execution.
enum class Type : uint8_t { kAny, kBool, kInt, kString, kList, kMap, kRoot };

struct FieldSpec {
  const char* name;
  Type type;
};
// The fields of the data, in Go's declaration order (which is also %v's print order).
std::span<const FieldSpec> Schema(TemplateData data);
// Go's name of the data type, e.g. "naming.queryTemplateArgs".
const char* RootTypeName(TemplateData data);
// Go's name of a static type, e.g. "[]string".
const char* TypeName(Type t, TemplateData data);

// Built-in functions Sextant implements (Go's names).
enum class Func : uint8_t {
  kAnd,
  kOr,
  kNot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kLen,
  kIndex,
  kPrint,
  kPrintf,
  kPrintln,
};

struct Pipeline;

// An argument or the head of a command: a term followed by an optional field chain.
struct Operand {
  enum class Kind : uint8_t {
    kDot,       // `.`; `.A.B` is kDot with fields {A, B}
    kVariable,  // `$` or `$name` (text holds it, with the `$`)
    kString,    // text holds the decoded value
    kInt,       // integer
    kBool,      // boolean
    kNil,       // `nil`
    kFunction,  // func; text holds the name
    kPipeline,  // `( ... )`: sub
  };
  Kind kind = Kind::kDot;
  std::size_t offset = 0;
  std::string text;
  int64_t integer = 0;
  bool boolean = false;
  Func func = Func::kAnd;
  std::vector<std::string> fields;
  std::shared_ptr<const Pipeline> sub;
};

// `f a b` or a single operand. args[0] is the function or the operand.
struct Command {
  std::size_t offset = 0;
  std::vector<Operand> args;
};

struct Pipeline {
  std::size_t offset = 0;
  std::vector<std::string> vars;  // declared or assigned variables, with `$`
  bool is_assign = false;         // `=` rather than `:=`
  std::vector<Command> commands;
};

struct Node {
  enum class Kind : uint8_t { kText, kAction, kIf, kRange, kWith, kBreak, kContinue };
  Kind kind = Kind::kText;
  std::size_t offset = 0;
  std::string text;             // kText
  Pipeline pipe;                // kAction, kIf, kRange, kWith
  std::vector<Node> body;       // kIf, kRange, kWith
  std::vector<Node> else_body;  // kIf, kRange, kWith; `else if` is one nested kIf
};

struct Tree {
  std::string text;
  TemplateData data = TemplateData::kMetricsQuery;
  std::vector<Node> nodes;
};

// --- Lexing (query_template_lex.cc) ---

struct Token {
  enum class Kind : uint8_t {
    kEnd,
    kField,
    kDot,
    kVariable,
    kIdent,
    kString,
    kNumber,
    kBool,
    kNil,
    kLParen,
    kRParen,
    kPipe,
    kDeclare,
    kAssign,
    kComma,
  };
  Kind kind = Kind::kEnd;
  std::size_t offset = 0;
  std::string text;  // name (fields without the dot), decoded string, number, punctuation
  bool space_before = false;
};

// Text between actions (trim markers applied), or one action's tokens ending with kEnd.
// Comments produce no piece.
struct Piece {
  bool is_action = false;
  std::size_t offset = 0;
  std::string text;
  std::vector<Token> tokens;
};

struct SyntaxProblem {
  std::size_t offset = 0;
  std::string message;
};

// Splits `text` into pieces as Go's lexer does with `<<` `>>` delimiters. False on error.
bool LexTemplate(std::string_view text, std::vector<Piece>* pieces, SyntaxProblem* problem);
// How a token looked in the source, for messages.
std::string TokenText(const Token& token);

// --- Values and fmt (query_template_fmt.cc) ---

struct Value {
  // kMissing: Go's invalid reflect.Value (a missing map key, nil). Prints "<no value>" as
  // an action's result and "<nil>" through fmt.
  enum class Kind : uint8_t { kMissing, kBool, kInt, kString, kList, kMap, kRoot };
  Kind kind = Kind::kMissing;
  bool boolean = false;
  int64_t integer = 0;
  std::string string;
  const std::vector<std::string>* list = nullptr;           // borrowed from the data
  const std::map<std::string, std::string>* map = nullptr;  // borrowed from the data

  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value String(std::string s);
};

// The data a template runs with: exactly one of the pointers is set.
struct RootData {
  TemplateData data = TemplateData::kMetricsQuery;
  const TemplateValues* metrics_query = nullptr;
  const GroupResourceValues* group_resource = nullptr;
  // The named field (Value() when there is none).
  Value Field(std::string_view name) const;
};

// Go's truth(): false, 0, "", empty collections and nil are false; a struct is true.
bool Truth(const Value& v);
// Go's name of the value's type ("string", "[]string", ...).
const char* GoTypeName(Value::Kind kind, TemplateData data);
// fmt's %<verb> of v, verb one of s d v q, no flags: Go's output including %!verb(...).
std::string Format(char verb, const Value& v, const RootData& root);
// fmt.Sprint and fmt.Sprintln of the arguments.
std::string Sprint(const std::vector<Value>& args, bool line, const RootData& root);
// Whether a printf format uses only %s %d %v %q %% without flags or widths; else false
// with the reason in *error.
bool CheckFormat(const std::string& format, std::string* error);
// fmt.Sprintf with the verbs above. False (with *error) for another verb.
bool Sprintf(const std::string& format, const std::vector<Value>& args, const RootData& root,
             std::string* out, std::string* error);

// --- Positions ---

// The 1-based line and byte column of `offset` within `text`.
void Locate(std::string_view text, std::size_t offset, int* line, int* column);
// "offset N (line L, column C)".
std::string DescribeOffset(std::string_view text, std::size_t offset);

Result<std::shared_ptr<const Tree>> ParseTree(std::string_view text, TemplateData data,
                                              TemplateSyntaxError* error);

}  // namespace sextant::scaling::template_internal

#endif  // SEXTANT_SCALING_QUERY_TEMPLATE_INTERNAL_H_
