// Tutorial 2 (队列, the queue's methods): Queue(3); three puts fill it; put_nowait on a full
// queue fails (队列已经满了); full(); three gets; get_nowait on an empty queue fails
// (队列已经空了); empty(). Single process.
//
//   q=Queue(3)
//   q.put(3); q.put(3); q.put(3)
//   try: q.put_nowait(3)
//   except: print('队列已经满了')
//   print(q.full())
//   print(q.get()); print(q.get()); print(q.get())
//   try: q.get_nowait(3)
//   except: print('队列已经空了')
//   print(q.empty())
#include "absl/strings/str_cat.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;
using examples::Print;

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  channel::QueueOptions options;
  options.maxsize = 3;
  absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Create(options);
  if (!q.ok()) return Fail("create", q.status());

  // The tutorial's item is the number 3; ours is a demo::Job whose id is 3. Put serializes it
  // at once, so one builder serves all the puts.
  channel::Builder<demo::Job> three;
  three.root().setId(3);
  for (int i = 0; i < 3; ++i) {
    if (absl::Status s = q->Put(three); !s.ok()) return Fail("put", s);
  }
  // A fourth q->Put(three) would block here until someone gets an item: forever, in this
  // program. PutNowait does not block; on a full queue it returns kResourceExhausted (IsFull).
  if (absl::Status s = q->PutNowait(three); channel::IsFull(s)) {
    Print("队列已经满了 (queue is full)");
  } else if (!s.ok()) {
    return Fail("put_nowait", s);
  }
  Print(absl::StrCat("full() = ", q->full() ? "true" : "false"));
  Print(absl::StrCat("qsize() = ", q->qsize()));

  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<channel::Message<demo::Job>> item = q->Get();
    if (!item.ok()) return Fail("get", item.status());
    Print(absl::StrCat((*item)->getId()));
  }
  // Likewise a fourth Get() would block; GetNowait returns kUnavailable (IsEmpty) instead.
  if (absl::StatusOr<channel::Message<demo::Job>> item = q->GetNowait();
      channel::IsEmpty(item.status())) {
    Print("队列已经空了 (queue is empty)");
  } else if (!item.ok()) {
    return Fail("get_nowait", item.status());
  }
  Print(absl::StrCat("empty() = ", q->empty() ? "true" : "false"));
  return 0;
}
