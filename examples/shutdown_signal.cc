// Tutorial 3, with Shutdown instead of an end signal: main joins the producers, then shuts the
// queue down. Every consumer gets what is left and then kCancelled (IsShutDown) instead of
// blocking: no end-signal message, and no counting of one signal per consumer. This is Python
// 3.13's queue.Queue.shutdown(), which multiprocessing.Queue does not have:
//
//   def consumer(q):
//     while True:
//       try: res=q.get()
//       except queue.ShutDown: break  # 队列已关闭 (the queue was shut down)
//       ...
//   p1.start(); p2.start(); c1.start(); c2.start()
//   p1.join(); p2.join()
//   q.shutdown()
//   print('主')
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int Consumer(channel::Queue<demo::Job>& q) {
  for (;;) {
    absl::StatusOr<channel::Message<demo::Job>> res = q.Get();
    if (channel::IsShutDown(res.status())) return 0;  // shut down, and nothing is left
    if (!res.ok()) return Fail("get", res.status());
    examples::Eat(res->reader());
  }
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p1([&q] { return examples::Produce(*q, "包子", 3).ok() ? 0 : 1; });
  channel::Process p2([&q] { return examples::Produce(*q, "骨头", 3).ok() ? 0 : 1; });
  channel::Process c1([&q] { return Consumer(*q); });
  channel::Process c2([&q] { return Consumer(*q); });
  if (absl::Status s = examples::StartAll({&p1, &p2, &c1, &c2}); !s.ok()) return Fail("start", s);
  if (int failed = examples::JoinAll({&p1, &p2}); failed != 0) return failed;
  // Every item the producers put is in the queue (they flushed before exiting): the consumers
  // still get all of them, and only then see the queue shut down.
  if (absl::Status s = q->Shutdown(); !s.ok()) return Fail("shutdown", s);
  examples::Print("主 (main)");
  return examples::JoinAll({&c1, &c2});
}
