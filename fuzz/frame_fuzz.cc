// Fuzz target: arbitrary bytes arriving on a queue's pipe.
//
// The input is written into the pipe of a fresh anonymous SharedQueue; PipeReader::TryTake is
// called until it has nothing more, first while the writers are (as far as the reader knows)
// still writing (done_seq = 0: incomplete frames are waited for), then once they are all done
// (done_seq = every seq handed out: incomplete frames are torn and skipped). Every payload taken is
// decoded with OpenPayload and read generically. Must never crash, hang or allocate without bound,
// and the reader's shared state must be consistent after every call.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "channel/internal/shm/accounts.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/shm/shared_state.h"
#include "fuzz/fuzz_util.h"

namespace {

using channel::internal::Deadline;
using channel::internal::Payload;
using channel::internal::PipeReader;
using channel::internal::SharedQueue;

constexpr uint64_t kMaxMessageBytes = 1 << 16;

void Drain(SharedQueue* q, PipeReader& reader, size_t input_size) {
  // Each successful take consumes at least one frame header of input.
  const size_t max_takes = input_size / channel::internal::kFrameHeaderBytes + 2;
  for (size_t i = 0;; ++i) {
    Payload payload;
    absl::StatusOr<bool> got = reader.TryTake(Deadline::Never(), &payload);
    if (!got.ok()) channel::fuzz::Fail("TryTake failed with no deadline");
    channel::fuzz::CheckReaderState(q);
    if (!*got) return;
    if (i >= max_takes) channel::fuzz::Fail("more items than frames in the input");
    if (payload.bytes > kMaxMessageBytes) channel::fuzz::Fail("payload over max_message_bytes");
    channel::fuzz::ConsumePayload(payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("frame_fuzz", MFD_CLOEXEC);
  if (fd < 0) abort();
  channel::internal::QueueIdentity identity;
  identity.type_name = "fuzz";
  channel::internal::QueueShape shape;
  shape.max_message_bytes = kMaxMessageBytes;
  absl::StatusOr<channel::internal::SharedMapping> mapping =
      channel::internal::SharedMapping::Create(fd, identity, shape);
  close(fd);
  if (!mapping.ok()) abort();
  SharedQueue* q = mapping->get();
  absl::StatusOr<channel::internal::PipeEnds> pipe = channel::internal::MakePipe();
  if (!pipe.ok()) abort();
  // Never block: write what fits (the pipe is empty, so the first `capacity` bytes do).
  fcntl(pipe->write_fd, F_SETFL, fcntl(pipe->write_fd, F_GETFL) | O_NONBLOCK);
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(pipe->write_fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  // Whatever the input claims, items are accounted as if this many had been put (seqs
  // 1..2^20 handed out; frames with other seqs are garbage to the reader).
  q->accounts.ledger.items = 1 << 20;
  q->accounts.ledger.unfinished = 1 << 20;
  q->writer.next_seq = (uint64_t{1} << 20) + 1;
  {
    PipeReader reader(q, pipe->read_fd);
    q->writer.done_seq = 0;
    Drain(q, reader, written);
    reader.Maintain();
    channel::fuzz::CheckReaderState(q);
    q->writer.done_seq = q->writer.next_seq - 1;
    Drain(q, reader, written);
    // Everything was read: nothing complete may be left behind.
    Payload payload;
    absl::StatusOr<bool> got = reader.TryTake(Deadline::Never(), &payload);
    if (!got.ok() || *got) channel::fuzz::Fail("an item appeared after the reader said none");
  }
  const channel::internal::Ledger l = channel::internal::Accounts(q).Snapshot();
  if (l.read_seq == 0) channel::fuzz::Fail("read_seq wrapped to 0");
  close(pipe->read_fd);
  close(pipe->write_fd);
  return 0;
}
