// Validation of label keys and values as k8s.io/apimachinery pkg/util/validation does it
// (IsQualifiedName, IsValidLabelValue, IsDNS1123Subdomain), with upstream's exact problem
// texts, and the field.Invalid message shape those problems are reported in.
//
// Used by apiserver/label_selector.cc; usable wherever a label key or value is checked.
// Ownership: pure functions over views; results own their strings.
// Thread safety: pure functions, safe from any thread.
// Errors: the *Errors functions return the list of problems, empty when the input is valid.
#ifndef SEXTANT_APISERVER_LABEL_VALIDATION_H_
#define SEXTANT_APISERVER_LABEL_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

namespace sextant::apiserver {

// validation.IsQualifiedName: an optional DNS-subdomain prefix and '/', then a name of at
// most 63 characters of [-A-Za-z0-9_.], starting and ending alphanumeric. Messages such as
// "name part must be no more than 63 characters".
std::vector<std::string> QualifiedNameErrors(std::string_view value);

// validation.IsValidLabelValue: empty, or at most 63 characters in the name-part format.
std::vector<std::string> LabelValueErrors(std::string_view value);

// validation.IsDNS1123Subdomain: at most 253 characters; dot-separated labels of
// [-a-z0-9], each starting and ending alphanumeric.
std::vector<std::string> DnsSubdomainErrors(std::string_view value);

// validation.IsDNS1123Label, as Kubernetes validates namespace names: 1 to 63 characters of
// [-a-z0-9], starting and ending alphanumeric.
bool IsValidNamespaceName(std::string_view value);

// Go's %q: `s` double-quoted with Go escapes; invalid UTF-8 bytes become \xNN, control and
// invisible runes \uNNNN (an approximation of Go's unicode.IsPrint for the latter).
std::string GoQuote(std::string_view s);

// `s` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD, as Go's
// encoding/json shows kube-apiserver's messages to clients. For echoing input in messages.
std::string ToValidUtf8(std::string_view s);

// field.Invalid(field, value, detail).Error(): "<field>: Invalid value: <value>: <detail>",
// where `rendered_value` is already formatted (GoQuote for a string).
std::string InvalidValueMessage(std::string_view field, std::string_view rendered_value,
                                std::string_view detail);

}  // namespace sextant::apiserver

#endif  // SEXTANT_APISERVER_LABEL_VALIDATION_H_
