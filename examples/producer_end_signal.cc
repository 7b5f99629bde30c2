// Tutorial 3 (the producer sends the end signal): after its 10 包子 the producer puts one more
// item, the end signal, and the consumer stops when it gets it. Python's signal is None; ours is
// the endOfStream variant of demo::Job's union (see examples::ConsumeUntilEndOfStream).
//
//   def producer(q):
//     for i in range(10):
//       ... q.put(res) ...
//     q.put(None) #发送结束信号
//   p1=Process(target=producer,args=(q,))
//   c1=Process(target=consumer,args=(q,))
//   p1.start()
//   c1.start()
//   print('主')
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int Producer(channel::Queue<demo::Job>& q) {
  if (absl::Status s = examples::Produce(q, "包子", 10); !s.ok()) return Fail("produce", s);
  // 发送结束信号 (send the end signal)
  channel::Builder<demo::Job> end = examples::MakeEndOfStream();
  if (absl::Status s = q.Put(end); !s.ok()) return Fail("put", s);
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p1([&q] { return Producer(*q); });
  channel::Process c1([&q] { return examples::ConsumeUntilEndOfStream(*q); });
  if (absl::Status s = examples::StartAll({&p1, &c1}); !s.ok()) return Fail("start", s);
  examples::Print("主 (main)");
  return examples::JoinAll({&p1, &c1});
}
