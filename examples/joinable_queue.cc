// Tutorial 3 (JoinableQueue): three producers put ten items each and then join() the queue,
// which returns once consumers have called task_done() for every item put. The two consumers
// are daemons: when main has joined the producers, everything was eaten, and the consumers —
// still blocked in get() — end with main.
//
//   def consumer(q):
//     while True:
//       res = q.get()
//       time.sleep(random.randint(1, 3))
//       print('%s 吃 %s' % (os.getpid(), res))
//       q.task_done()  # 向q.join()发送一次信号,证明一个数据已经被取走了
//   def producer(name, q):
//     for i in range(10):
//       ... q.put(res) ...
//     q.join()  # 生产完毕，使用此方法进行阻塞，直到队列中所有项目均被处理。
//   q = JoinableQueue()
//   p1 = ...('包子', q); p2 = ...('骨头', q); p3 = ...('泔水', q)
//   c1 = Process(target=consumer, args=(q,)); c2 = ...
//   c1.daemon = True
//   c2.daemon = True
//   p_l = [p1, p2, p3, c1, c2]
//   for p in p_l: p.start()
//   p1.join(); p2.join(); p3.join()
//   print('主')
#include <string>

#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int Consumer(channel::JoinableQueue<demo::Job>& q) {
  for (;;) {
    absl::StatusOr<channel::Message<demo::Job>> res = q.Get();
    if (!res.ok()) return Fail("get", res.status());
    examples::Eat(res->reader());
    // 向q.join()发送一次信号 (tell join() that one more item is done)
    if (absl::Status s = q.TaskDone(); !s.ok()) return Fail("task_done", s);
  }
}

int Producer(const std::string& name, channel::JoinableQueue<demo::Job>& q) {
  if (absl::Status s = examples::Produce(q, name, 10); !s.ok()) return Fail("produce", s);
  // 阻塞，直到队列中所有项目均被处理 (block until every item put has been processed)
  if (absl::Status s = q.Join(); !s.ok()) return Fail("join", s);
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::JoinableQueue<demo::Job>> q = channel::JoinableQueue<demo::Job>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p1([&q] { return Producer("包子", *q); });
  channel::Process p2([&q] { return Producer("骨头", *q); });
  channel::Process p3([&q] { return Producer("泔水", *q); });
  channel::Process c1([&q] { return Consumer(*q); });
  channel::Process c2([&q] { return Consumer(*q); });
  c1.set_daemon(true);
  c2.set_daemon(true);
  if (absl::Status s = examples::StartAll({&p1, &p2, &p3, &c1, &c2}); !s.ok()) {
    return Fail("start", s);
  }
  const int failed = examples::JoinAll({&p1, &p2, &p3});
  examples::Print("主 (main)");
  // Returning ends the daemon consumers (SIGTERM), as Python's daemons end with the main process.
  return failed;
}
