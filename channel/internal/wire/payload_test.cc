// Unit tests of Payload (payload.h): the per-thread cache of small buffers. Leaks (a cached
// buffer not freed at thread exit) show up in the ASan run, which checks for them at exit.
#include "channel/internal/wire/payload.h"

#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace channel {
namespace internal {
namespace {

TEST(PayloadTest, SmallBuffersAreRecycledOnTheThreadThatFreesThem) {
  Payload a;
  a.Reserve(80);
  ASSERT_NE(a.words, nullptr);
  EXPECT_EQ(a.capacity, kSmallPayloadBytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.words.get()) % 8, 0u);
  const uint64_t* first = a.words.get();
  a = Payload();  // freed into this thread's cache
  Payload b;
  b.Reserve(kSmallPayloadBytes);
  EXPECT_EQ(b.words.get(), first) << "taken back from the cache";
}

TEST(PayloadTest, ReserveKeepsABufferThatIsLargeEnoughAndReplacesOneThatIsNot) {
  Payload p;
  p.Reserve(64);
  const uint64_t* small = p.words.get();
  p.Reserve(kSmallPayloadBytes);
  EXPECT_EQ(p.words.get(), small);
  p.Reserve(kSmallPayloadBytes + 8);
  EXPECT_NE(p.words.get(), small);
  EXPECT_EQ(p.capacity, kSmallPayloadBytes + 8) << "large buffers are exact";
  p.words[(kSmallPayloadBytes + 8) / 8 - 1] = 1;  // the last word is ours (ASan checks)
}

TEST(PayloadTest, BuffersMayBeFreedOnOtherThreadsAndInBulk) {
  std::vector<Payload> made(100);
  std::thread maker([&] {
    for (Payload& p : made) p.Reserve(16);
  });
  maker.join();  // the maker exits; its buffers are still owned by `made`
  std::thread freer([&] { made.clear(); });  // more than the cache holds: the rest is deleted
  freer.join();  // exits: what it cached is deleted
  Payload p;
  p.Reserve(16);
  EXPECT_NE(p.words, nullptr);
}

TEST(PayloadTest, PlainBuffersAreDeletedNotCached) {
  Payload p;
  p.words.reset(new uint64_t[3]);  // what tests and fuzzers do: default deleter, delete[]
  p.bytes = 24;
  p = Payload();
  Payload q;
  q.Reserve(8);
  EXPECT_EQ(q.capacity, kSmallPayloadBytes);
}

}  // namespace
}  // namespace internal
}  // namespace channel
