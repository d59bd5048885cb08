#include "clients/cpp/form_type_file.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "clients/cpp/form_client.h"
#include "common/strings.h"

namespace utpost::client {
namespace {

using google::protobuf::FieldDescriptor;

absl::Status Invalid(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", common::Av(key));
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// `node` as the JSON value of a message of type `type`, guided by the descriptor, so that a
// YAML scalar becomes what the field needs (a choice "1" stays a string, "true" a bool).
absl::StatusOr<std::string> MessageJson(const YAML::Node& node,
                                        const google::protobuf::Descriptor& type,
                                        const std::string& path);

absl::StatusOr<std::string> ScalarJson(const YAML::Node& node, const FieldDescriptor& field,
                                       const std::string& path) {
  if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
    if (field.message_type()->full_name() == "utpost.v1.OrganisationId" && node.IsScalar()) {
      absl::StatusOr<v1::OrganisationId> id = OrganisationFromIdentifier(node.Scalar());
      if (!id.ok()) return Invalid(path, id.status().message());
      return id->has_norwegian_org_number()
                 ? absl::StrCat(
                       "{\"norwegian_org_number\": ", JsonQuote(id->norwegian_org_number()), "}")
                 : absl::StrCat("{\"danish_cvr\": ", JsonQuote(id->danish_cvr()), "}");
    }
    if (!node.IsMap()) return Invalid(path, "must be a map");
    return MessageJson(node, *field.message_type(), path);
  }
  if (!node.IsScalar()) return Invalid(path, "must be a single value");
  const std::string& text = node.Scalar();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      if (text == "true" || text == "false") return text;
      return Invalid(path, "must be true or false");
    case FieldDescriptor::CPPTYPE_ENUM: {
      // Short names: "text" for FIELD_KIND_TEXT.
      const google::protobuf::EnumDescriptor& e = *field.enum_type();
      std::string name = absl::AsciiStrToUpper(text);
      if (e.FindValueByName(name) == nullptr) {
        const std::string& first = e.value(0)->name();  // FIELD_KIND_UNSPECIFIED
        name = absl::StrCat(first.substr(0, first.rfind('_') + 1), name);
      }
      const google::protobuf::EnumValueDescriptor* v = e.FindValueByName(name);
      if (v == nullptr || v->number() == 0) {
        std::string known;
        for (int i = 1; i < e.value_count(); ++i) {
          const std::string& n = e.value(i)->name();
          absl::StrAppend(&known, i == 1 ? "" : ", ",
                          absl::AsciiStrToLower(n.substr(e.value(0)->name().rfind('_') + 1)));
        }
        return Invalid(path, absl::StrCat("unknown value '", text, "' (one of ", known, ")"));
      }
      return JsonQuote(v->name());
    }
    default:
      // Strings, and numbers quoted: the JSON parser takes both, and checks the range.
      return JsonQuote(text);
  }
}

absl::StatusOr<std::string> MessageJson(const YAML::Node& node,
                                        const google::protobuf::Descriptor& type,
                                        const std::string& path) {
  std::string json = "{";
  bool first = true;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    const FieldDescriptor* field = type.FindFieldByName(key);
    const std::string here = Child(path, key);
    if (field == nullptr) return Invalid(here, "unknown key");
    std::string value;
    if (field->is_repeated()) {
      if (!entry.second.IsSequence()) return Invalid(here, "must be a list");
      value = "[";
      for (size_t i = 0; i < entry.second.size(); ++i) {
        absl::StatusOr<std::string> item =
            ScalarJson(entry.second[i], *field, absl::StrCat(here, "[", i, "]"));
        if (!item.ok()) return item.status();
        absl::StrAppend(&value, i == 0 ? "" : ", ", *item);
      }
      value += "]";
    } else {
      absl::StatusOr<std::string> v = ScalarJson(entry.second, *field, here);
      if (!v.ok()) return v.status();
      value = *std::move(v);
    }
    absl::StrAppend(&json, first ? "" : ", ", JsonQuote(key), ": ", value);
    first = false;
  }
  return json + "}";
}

absl::StatusOr<std::string> ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<v1::FormType> ParseFormType(std::string_view text,
                                           const std::filesystem::path& base_dir,
                                           std::string_view default_certificate_pem) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not YAML: ", e.what()));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("a form type file is a map");
  std::string certificate(default_certificate_pem);
  if (const YAML::Node c = root["encryption_certificate"]; c) {
    if (!c.IsScalar()) return Invalid("encryption_certificate", "must be a file path");
    std::filesystem::path p = c.Scalar();
    if (p.is_relative()) p = base_dir / p;
    absl::StatusOr<std::string> pem = ReadAll(p);
    if (!pem.ok()) return Invalid("encryption_certificate", pem.status().message());
    certificate = *std::move(pem);
    root.remove("encryption_certificate");
  }
  absl::StatusOr<std::string> json = MessageJson(root, *v1::FormType::descriptor(), "");
  if (!json.ok()) return json.status();
  v1::FormType form_type;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto s = google::protobuf::util::JsonStringToMessage(*json, &form_type, options); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("form type: ", std::string(s.message())));
  }
  if (form_type.encryption_certificate_pem().empty()) {
    form_type.set_encryption_certificate_pem(certificate);
  }
  return form_type;
}

absl::StatusOr<v1::FormType> ReadFormTypeFile(const std::filesystem::path& path,
                                              std::string_view default_certificate_pem) {
  absl::StatusOr<std::string> text = ReadAll(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<v1::FormType> form_type =
      ParseFormType(*text, path.parent_path(), default_certificate_pem);
  if (!form_type.ok()) {
    return absl::Status(form_type.status().code(),
                        absl::StrCat(path.string(), ": ", form_type.status().message()));
  }
  return form_type;
}

}  // namespace utpost::client
