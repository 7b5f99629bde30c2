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
#include <capnp/message.h>

#include "absl/strings/str_format.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int F(channel::Queue<demo::Greeting>& q) {
  capnp::MallocMessageBuilder message;
  demo::Greeting::Builder greeting = message.initRoot<demo::Greeting>();
  greeting.setTime(examples::AscTime());
  greeting.setOrigin("from earth");
  greeting.setText("hello");
  if (absl::Status s = q.Put(message); !s.ok()) return Fail("put", s);
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
