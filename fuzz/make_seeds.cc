// Writes the seed corpora of the fuzz targets (checked in under fuzz/corpus/). Re-run after a
// wire or file format change:
//   ./bazelw run //fuzz:make_seeds -- $PWD/fuzz/corpus
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <capnp/message.h>

#include "channel/channel.h"
#include "channel/internal/wire/capnp_codec.h"
#include "channel/internal/wire/crc32c.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/shm/shared_state.h"
#include "channel/internal/shm/slab.h"
#include "schema/demo.capnp.h"

namespace {

using channel::internal::FrameHeader;
using channel::internal::FrameKind;

std::string g_out;

void Save(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = g_out + "/" + target;
  mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  printf("%s/%s: %zu bytes\n", target.c_str(), name.c_str(), bytes.size());
}

std::string Serialize(capnp::MessageBuilder& b) {
  auto segments = channel::internal::SegmentsOf(b);
  if (!segments.ok()) abort();
  std::string out(channel::internal::SerializedBytes(*segments), '\0');
  channel::internal::WriteSegments(*segments, &out[0]);
  return out;
}

std::string JobPayload(uint64_t id, const std::string& text, size_t data_bytes = 0,
                       bool multi_segment = false) {
  capnp::MallocMessageBuilder b(multi_segment ? 1 : 1024,
                                multi_segment ? capnp::AllocationStrategy::FIXED_SIZE
                                              : capnp::AllocationStrategy::GROW_HEURISTICALLY);
  auto job = b.initRoot<demo::Job>();
  job.setId(id);
  job.setProducer("seed");
  if (text.empty()) {
    job.setEndOfStream();
  } else {
    job.setPayload(text);
  }
  if (data_bytes > 0) {
    auto d = job.initData(data_bytes);
    for (size_t i = 0; i < data_bytes; ++i) d[i] = static_cast<uint8_t>(i);
  }
  return Serialize(b);
}

std::string SmallPayload(uint64_t id) {
  capnp::MallocMessageBuilder b;
  auto s = b.initRoot<demo::Small>();
  s.setId(id);
  s.initData(48);
  return Serialize(b);
}

std::string Frame(FrameKind kind, uint64_t seq, const std::string& payload = "") {
  FrameHeader h;
  h.kind = kind;
  h.seq = seq;
  h.payload_bytes = static_cast<uint32_t>(payload.size());
  h.payload_crc = channel::internal::Crc32c(payload.data(), payload.size());
  std::string out(channel::internal::kFrameHeaderBytes, '\0');
  channel::internal::EncodeHeader(h, &out[0]);
  return out + payload;
}
std::string Item(uint64_t seq, const std::string& payload) {
  return Frame(FrameKind::kItem, seq, payload);
}

void FrameSeeds() {
  Save("frame_fuzz", "three_items",
       Item(1, JobPayload(1, "one")) + Item(2, JobPayload(2, "two")) +
           Item(3, JobPayload(3, "", 64)));
  Save("frame_fuzz", "tombstone_then_item",
       Frame(FrameKind::kTombstone, 2) + Item(3, JobPayload(3, "after a tombstone")));
  Save("frame_fuzz", "item_tombstone_items",
       Item(1, JobPayload(1, "x")) + Frame(FrameKind::kTombstone, 3) + Item(4, JobPayload(4, "y")) +
           Item(5, JobPayload(5, "z")));
  Save("frame_fuzz", "garbage_between",
       "garbage!" + Item(1, JobPayload(1, "a")) + "junk bytes" + Item(2, JobPayload(2, "b")));
  const std::string big = Item(1, JobPayload(1, "torn", 200));
  Save("frame_fuzz", "torn_then_item", big.substr(0, 40) + Item(2, JobPayload(2, "whole")));
  Save("frame_fuzz", "multi_segment", Item(1, JobPayload(7, "many segments", 100, true)));
  std::string smalls;
  for (uint64_t i = 1; i <= 5; ++i) smalls += Item(i, SmallPayload(i));
  Save("frame_fuzz", "small_items", smalls);
  Save("frame_fuzz", "duplicate_seq",
       Item(1, JobPayload(1, "a")) + Item(1, JobPayload(1, "a")) + Item(2, JobPayload(2, "b")));
}

void PayloadSeeds() {
  Save("payload_fuzz", "job", JobPayload(1, "hello"));
  Save("payload_fuzz", "job_data", JobPayload(2, "", 256));
  Save("payload_fuzz", "multi_segment", JobPayload(3, "segments", 64, true));
  Save("payload_fuzz", "small", SmallPayload(4));
  capnp::MallocMessageBuilder empty;
  empty.initRoot<demo::Small>();
  Save("payload_fuzz", "empty_struct", Serialize(empty));
  // Hostile: a root struct whose one pointer is a list claiming 2^29 - 1 zero-sized elements
  // (List(Void); a struct list of 0 data words / 0 pointers). OpenPayload once accepted them
  // (hostile_input_test, defect 8); it must refuse them.
  for (const bool void_list : {true, false}) {
    uint64_t w[4] = {};
    w[0] = uint64_t{void_list ? 2u : 3u} << 32;  // one segment of 2 or 3 words
    w[1] = uint64_t{1} << 48;                      // root: struct, 0 data words, 1 pointer
    if (void_list) {
      w[2] = 1 | (uint64_t{(1u << 29) - 1} << 35);  // list, element size VOID
    } else {
      w[2] = 1 | (uint64_t{7} << 32);        // list, INLINE_COMPOSITE, 0 words of content
      w[3] = uint64_t{(1u << 29) - 1} << 2;  // tag: that many structs of 0 data / 0 pointers
    }
    Save("payload_fuzz",
         void_list ? "hostile_void_list_amplified" : "hostile_empty_structs_amplified",
         std::string(reinterpret_cast<const char*>(w), void_list ? 24 : 32));
  }
}

std::string ReadPrefix(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string out(bytes, '\0');
  in.read(&out[0], static_cast<std::streamsize>(bytes));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// A named queue made by CreateNamed, holding `items` items in its staging (they are drained
// there when the last handle closes); returns the file's bytes up to the end of the items.
template <typename Q>
std::string NamedQueueFile(const std::string& name, size_t max_message_bytes, int items) {
  channel::QueueOptions options;
  options.max_message_bytes = max_message_bytes;
  {
    auto q = Q::CreateNamed(name, options);
    if (!q.ok()) {
      fprintf(stderr, "%s\n", q.status().ToString().c_str());
      abort();
    }
    for (int i = 0; i < items; ++i) {
      capnp::MallocMessageBuilder b;
      auto job = b.initRoot<demo::Job>();
      job.setId(static_cast<uint64_t>(i + 1));
      job.setPayload("queued item");
      if (!q->Put(b).ok()) abort();
    }
  }
  const std::string path = std::string(getenv("TYPED_CHANNEL_DIR")) + "/" + name + ".queue";
  const std::string head = ReadPrefix(path, sizeof(channel::internal::SharedQueue));
  channel::internal::SharedHeader h;
  memcpy(&h, head.data(), sizeof h);
  const auto* q = reinterpret_cast<const channel::internal::SharedQueue*>(head.data());
  const uint64_t tail = q->reader.tail;
  std::string file = ReadPrefix(path, h.staging_offset + tail);
  if (Q::Unlink(name).ok()) {
  }
  return file;
}

// Rewrites a queue file's header for the non-persistent layout (a small staging area), which
// Attach also accepts, so the fuzz harness can extend a short input to the full size.
std::string SmallLayout(std::string file) {
  channel::internal::SharedHeader h;
  memcpy(&h, file.data(), sizeof h);
  h.staging_capacity = channel::internal::StagingCapacity(h.max_message_bytes, false);
  h.slab_offset = h.staging_offset + h.staging_capacity;
  h.total_bytes = h.slab_offset +
                  channel::internal::SlabGeometryFor(h.maxsize, h.max_message_bytes).total_bytes();
  h.header_crc =
      channel::internal::Crc32c(&h, offsetof(channel::internal::SharedHeader, header_crc));
  memcpy(&file[0], &h, sizeof h);
  return file;
}

// Adds a slab item (channel/internal/shm/slab.h) to a small-layout queue file: a 40 KiB message in
// block 0, queued with the next seq, and its reference frame at the end of staging. Returns the
// file's bytes up to the end of that message.
std::string WithSlabItem(const std::string& file) {
  namespace ci = channel::internal;
  ci::SharedHeader h;
  memcpy(&h, file.data(), sizeof h);
  const ci::SlabGeometry geometry = ci::SlabGeometryFor(h.maxsize, h.max_message_bytes);
  const std::string message = JobPayload(99, "in the slab", 40 << 10);
  if (geometry.blocks == 0 || message.size() > geometry.block_bytes) abort();
  // An aligned, full-size copy of the layout, to use the library's own types on.
  std::unique_ptr<char, decltype(&free)> layout(
      static_cast<char*>(aligned_alloc(4096, (h.total_bytes + 4095) / 4096 * 4096)), &free);
  memset(layout.get(), 0, h.total_bytes);
  memcpy(layout.get(), file.data(), file.size());
  auto* q = reinterpret_cast<ci::SharedQueue*>(layout.get());
  ci::Slab slab(q);
  const std::optional<uint32_t> block = slab.Claim(0);
  if (!block.has_value()) abort();
  memcpy(slab.Data(*block), message.data(), message.size());
  const uint64_t seq = q->writer.next_seq;
  std::string ref(ci::kSlabRefBytes, '\0');
  ci::Slab::EncodeRef(*block, message.size(), &ref[0]);
  slab.MarkQueued(ref.data(), 0, seq);
  FrameHeader fh;
  fh.kind = FrameKind::kSlabItem;
  fh.seq = seq;
  fh.payload_bytes = ci::kSlabRefBytes;
  fh.payload_crc = ci::Crc32c(ref.data(), ref.size());
  char* at = q->staging() + q->reader.tail;
  ci::EncodeHeader(fh, at);
  memcpy(at + ci::kFrameHeaderBytes, ref.data(), ref.size());
  q->reader.tail += ci::kFrameHeaderBytes + ci::kSlabRefBytes;
  q->writer.next_seq = seq + 1;
  q->writer.done_seq = seq;
  q->accounts.ledger.items += 1;
  q->accounts.ledger.unfinished += 1;
  const size_t end = static_cast<size_t>(slab.Data(*block) - layout.get()) + message.size();
  return std::string(layout.get(), end);
}

void QueueFileSeeds() {
  char templ[] = "/tmp/make_seeds.XXXXXX";
  if (mkdtemp(templ) == nullptr) abort();
  setenv("TYPED_CHANNEL_DIR", templ, 1);
  using JobQueue = channel::Queue<demo::Job>;
  Save("queue_file_fuzz", "named_default_with_items",
       NamedQueueFile<JobQueue>("a", 64 << 20, 3));
  Save("queue_file_fuzz", "small_layout_with_items",
       SmallLayout(NamedQueueFile<JobQueue>("b", 4096, 3)));
  Save("queue_file_fuzz", "small_layout_empty",
       SmallLayout(NamedQueueFile<JobQueue>("c", 4096, 0)));
  Save("queue_file_fuzz", "small_layout_joinable",
       SmallLayout(NamedQueueFile<channel::JoinableQueue<demo::Job>>("d", 4096, 1)));
  Save("queue_file_fuzz", "small_layout_with_slab_item",
       WithSlabItem(SmallLayout(NamedQueueFile<JobQueue>("e", 64 << 10, 1))));
  rmdir(templ);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds OUTPUT_DIR\n");
    return 2;
  }
  g_out = argv[1];
  mkdir(g_out.c_str(), 0755);
  FrameSeeds();
  PayloadSeeds();
  QueueFileSeeds();
  return 0;
}
