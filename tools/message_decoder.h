// MessageDecoder: turns a queue item's bytes into text for `channelctl peek`.
//
// A Cap'n Proto message does not carry its schema, and a queue file records only its message
// type's 64-bit id and display name. So an item can be decoded only with a schema the tool has:
// the schemas compiled into channelctl (schema/demo.capnp), or .capnp files given on the command
// line (--schema, parsed at run time with capnp's own parser). Any other item is shown by its
// structure (data and pointer words of the root struct) and its first bytes in hex.
//
// Bytes come from a queue file, so they are untrusted: every message is validated by the
// library's decoder (channel/internal/wire/capnp_codec.h) before it is read, and kj exceptions
// are caught here.
#ifndef TOOLS_MESSAGE_DECODER_H_
#define TOOLS_MESSAGE_DECODER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace channelctl {

class MessageDecoder {
 public:
  MessageDecoder();
  ~MessageDecoder();

  // Parses a .capnp file (and what it imports, looked up in `import_paths` and next to it).
  // kInvalidArgument with capnp's diagnostic if it does not parse.
  absl::Status AddSchemaFile(const std::string& path, const std::vector<std::string>& import_paths);

  // Whether a schema for `type_id` is known.
  bool Knows(uint64_t type_id) const;

  // Cap'n Proto text form of `message` read as `type_id` (one line), or, without its schema or
  // for a message that does not validate, a description that says so.
  std::string Decode(uint64_t type_id, absl::string_view message) const;

 private:
  struct Schemas;
  std::unique_ptr<Schemas> schemas_;
};

}  // namespace channelctl

#endif  // TOOLS_MESSAGE_DECODER_H_
