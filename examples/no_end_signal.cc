// Tutorial 3 (生产者消费者模型, producer/consumer without an end signal): the producer makes 10
// 包子 and exits; the consumer loops on get() and, once the queue is drained, waits forever — the
// Python program never ends. Here the consumer waits with a timeout instead, says that it would
// have hung forever, and exits, so the program ends.
//
//   def consumer(q):
//     while True:
//       res=q.get()
//       time.sleep(random.randint(1,3))
//       print('%s 吃 %s' %(os.getpid(),res))
//   def producer(q):
//     for i in range(10):
//       time.sleep(random.randint(1,3))
//       res='包子%s' %i
//       q.put(res)
//       print('%s 生产了 %s' %(os.getpid(),res))
//   q=Queue()
//   p1=Process(target=producer,args=(q,))
//   c1=Process(target=consumer,args=(q,))
//   p1.start()
//   c1.start()
//   print('主')
#include "absl/strings/str_format.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

// Longer than any pause between two of the producer's items (at most 3 s, scaled), with slack
// for a loaded machine: silence this long means nothing more is coming.
absl::Duration Silence() { return examples::Scaled(absl::Seconds(3)) + absl::Seconds(2); }

int Consumer(channel::Queue<demo::Job>& q) {
  for (;;) {
    absl::StatusOr<channel::Message<demo::Job>> res = q.Get(Silence());
    if (channel::IsEmpty(res.status())) {
      examples::Print(absl::StrFormat(
          "%d 卡在 q.get() (stuck in get): no item for %s and no end signal will ever come. "
          "The Python consumer would block here forever; this one gives up and exits.",
          getpid(), absl::FormatDuration(Silence())));
      return 0;
    }
    if (!res.ok()) return Fail("get", res.status());
    examples::Eat(res->reader());
  }
}

int Producer(channel::Queue<demo::Job>& q) {
  if (absl::Status s = examples::Produce(q, "包子", 10); !s.ok()) return Fail("produce", s);
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p1([&q] { return Producer(*q); });  // 生产者们:即厨师们 (producers: cooks)
  channel::Process c1([&q] { return Consumer(*q); });  // 消费者们:即吃货们 (consumers: eaters)
  if (absl::Status s = examples::StartAll({&p1, &c1}); !s.ok()) return Fail("start", s);
  examples::Print("主 (main)");
  return examples::JoinAll({&p1, &c1});
}
