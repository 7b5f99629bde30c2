// Tutorial 3 (several producers and consumers): three producers (包子, 骨头, 泔水) make two items
// each and two consumers eat them. Main waits for every producer, then sends one end signal per
// consumer: each consumer stops at the first one it gets.
//
//   p1=Process(target=producer,args=('包子',q))
//   p2=Process(target=producer,args=('骨头',q))
//   p3=Process(target=producer,args=('泔水',q))
//   c1=Process(target=consumer,args=(q,))
//   c2=Process(target=consumer,args=(q,))
//   p1.start(); p2.start(); p3.start(); c1.start()
//   p1.join() #必须保证生产者全部生产完毕,才应该发送结束信号
//   p2.join()
//   p3.join()
//   q.put(None) #有几个消费者就应该发送几次结束信号None
//   q.put(None) #发送结束信号
//   print('主')
//
// (The tutorial forgets c2.start(); its second None is then never taken. We start c2.)
#include <string>

#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int Producer(const std::string& name, channel::Queue<demo::Job>& q) {
  if (absl::Status s = examples::Produce(q, name, 2); !s.ok()) return Fail("produce", s);
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p1([&q] { return Producer("包子", *q); });
  channel::Process p2([&q] { return Producer("骨头", *q); });
  channel::Process p3([&q] { return Producer("泔水", *q); });
  channel::Process c1([&q] { return examples::ConsumeUntilEndOfStream(*q); });
  channel::Process c2([&q] { return examples::ConsumeUntilEndOfStream(*q); });
  if (absl::Status s = examples::StartAll({&p1, &p2, &p3, &c1, &c2}); !s.ok()) {
    return Fail("start", s);
  }
  // 必须保证生产者全部生产完毕,才应该发送结束信号 (all producers must be done first)
  if (int failed = examples::JoinAll({&p1, &p2, &p3}); failed != 0) return failed;
  // 有几个消费者就应该发送几次结束信号 (one end signal per consumer)
  for (int i = 0; i < 2; ++i) {
    channel::Builder<demo::Job> end = examples::MakeEndOfStream();
    if (absl::Status s = q->Put(end); !s.ok()) return Fail("put", s);
  }
  examples::Print("主 (main)");
  return examples::JoinAll({&c1, &c2});
}
