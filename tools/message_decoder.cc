#include "tools/message_decoder.h"

#include <string.h>

#include <map>

#include <capnp/dynamic.h>
#include <capnp/schema-parser.h>
#include <kj/exception.h>
#include <kj/filesystem.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "channel/internal/wire/capnp_codec.h"
#include "schema/demo.capnp.h"

namespace channelctl {

struct MessageDecoder::Schemas {
  kj::Own<kj::Filesystem> fs = kj::newDiskFilesystem();
  capnp::SchemaParser parser;
  std::vector<kj::Own<const kj::ReadableDirectory>> dirs;  // import paths, kept open
  std::map<uint64_t, capnp::StructSchema> structs;

  // `schema` and the structs nested in it, at any depth.
  void AddStructs(const capnp::ParsedSchema& schema) {
    if (schema.getProto().isStruct()) structs.emplace(schema.getProto().getId(), schema.asStruct());
    for (const capnp::ParsedSchema& nested : schema.getAllNested()) AddStructs(nested);
  }
};

MessageDecoder::MessageDecoder() : schemas_(std::make_unique<Schemas>()) {
  for (capnp::StructSchema s :
       {capnp::Schema::from<demo::Job>(), capnp::Schema::from<demo::Greeting>(),
        capnp::Schema::from<demo::Small>(), capnp::Schema::from<demo::Shapes>()}) {
    schemas_->structs.emplace(s.getProto().getId(), s);
  }
}

MessageDecoder::~MessageDecoder() = default;

absl::Status MessageDecoder::AddSchemaFile(const std::string& path,
                                           const std::vector<std::string>& import_paths) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    const kj::ReadableDirectory& root = schemas_->fs->getRoot();
    const kj::PathPtr cwd = schemas_->fs->getCurrentPath();
    std::vector<const kj::ReadableDirectory*> imports;
    std::vector<std::string> dirs = import_paths;
    // Where `capnp compile` looks by default: "/capnp/c++.capnp" and friends live there.
    for (const char* standard : {"/usr/local/include", "/usr/include"}) {
      if (root.exists(kj::Path::parse(standard + 1))) dirs.push_back(standard);
    }
    for (const std::string& dir : dirs) {
      schemas_->dirs.push_back(root.openSubdir(cwd.evalNative(dir)));
      imports.push_back(schemas_->dirs.back().get());
    }
    schemas_->AddStructs(schemas_->parser.parseFromDirectory(
        root, cwd.evalNative(path), kj::arrayPtr(imports.data(), imports.size())));
  });
  KJ_IF_MAYBE(e, error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use schema ", path, ": ", e->getDescription().cStr()));
  }
  return absl::OkStatus();
}

bool MessageDecoder::Knows(uint64_t type_id) const {
  return schemas_->structs.count(type_id) != 0;
}

std::string MessageDecoder::Decode(uint64_t type_id, absl::string_view message) const {
  channel::internal::Payload payload;
  payload.Reserve(message.size());
  payload.bytes = message.size();
  memcpy(payload.words.get(), message.data(), message.size());
  absl::StatusOr<channel::internal::OpenedPayload> opened =
      channel::internal::OpenPayload(payload);
  if (!opened.ok()) return absl::StrCat("(not a valid message: ", opened.status().message(), ")");
  std::string text;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    if (Knows(type_id)) {
      capnp::StructSchema schema = schemas_->structs.at(type_id);
      text = kj::str(opened->root.as<capnp::DynamicStruct>(schema)).cStr();  // one line
      return;
    }
    const size_t data = opened->root.getDataSection().size();
    const size_t pointers = opened->root.getPointerSection().size();
    text = absl::StrFormat("(no schema: a struct with %d data bytes and %d pointers; first bytes",
                           data, pointers);
    for (size_t i = 0; i < message.size() && i < 32; ++i) {
      absl::StrAppendFormat(&text, " %02x", static_cast<unsigned char>(message[i]));
    }
    text += ")";
  });
  KJ_IF_MAYBE(e, error) {
    return absl::StrCat("(cannot decode: ", e->getDescription().cStr(), ")");
  }
  return text;
}

}  // namespace channelctl
