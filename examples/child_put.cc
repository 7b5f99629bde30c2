// Tutorial 2 (child puts, parent gets): a child process puts a demo::Greeting — the tutorial's
// list [time.asctime(), 'from earth', 'hello'] — and the parent gets and prints it.
//
//   def f(q):
//     q.put([time.asctime(), 'from earth', 'hello'])
//   q = Queue()
//   p = Process(target=f, args=(q,))
//   p.start()
//   print(q.get())
//   p.join()
#include "absl/strings/str_format.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int F(channel::Queue<demo::Greeting>& q) {
  channel::Builder<demo::Greeting> greeting;
  greeting.root().setTime(examples::AscTime());
  greeting.root().setOrigin("from earth");
  greeting.root().setText("hello");
  if (absl::Status s = q.Put(greeting); !s.ok()) return Fail("put", s);
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<channel::Queue<demo::Greeting>> q = channel::Queue<demo::Greeting>::Create();
  if (!q.ok()) return Fail("create", q.status());
  channel::Process p([&q] { return F(*q); });
  if (absl::Status s = p.Start(); !s.ok()) return Fail("start", s);

  absl::StatusOr<channel::Message<demo::Greeting>> greeting = q->Get();
  if (!greeting.ok()) return Fail("get", greeting.status());
  examples::Print(absl::StrFormat("['%s', '%s', '%s']", (*greeting)->getTime().cStr(),
                                  (*greeting)->getOrigin().cStr(), (*greeting)->getText().cStr()));
  return examples::JoinAll({&p});
}
