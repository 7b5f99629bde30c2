// Tutorial 3 (main sends the end signal): the end signal need not come from the producer; main
// can send it, but only after the producer has finished, so main joins the producer first.
//
//   def producer(q):
//     for i in range(2):
//       ... q.put(res) ...
//   p1.start()
//   c1.start()
//   p1.join()
//   q.put(None) #发送结束信号
//   print('主')
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int Producer(channel::Queue<demo::Job>& q) {
  if (absl::Status s = examples::Produce(q, "包子", 2); !s.ok()) return Fail("produce", s);
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p1([&q] { return Producer(*q); });
  channel::Process c1([&q] { return examples::ConsumeUntilEndOfStream(*q); });
  if (absl::Status s = examples::StartAll({&p1, &c1}); !s.ok()) return Fail("start", s);
  if (int failed = examples::JoinAll({&p1}); failed != 0) return failed;
  // 发送结束信号 (send the end signal)
  channel::Builder<demo::Job> end = examples::MakeEndOfStream();
  if (absl::Status s = q->Put(end); !s.ok()) return Fail("put", s);
  examples::Print("主 (main)");
  return examples::JoinAll({&c1});
}
