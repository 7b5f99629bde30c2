// Tutorial 1 (进程之间的数据隔离, data isolation): a child changes a global; the parent's copy
// stays 100, because fork() gives the child its own memory. Prints 子进程 0 and 主进程 100.
//
//   def work():
//     global n
//     n = 0
//     print('子进程',n)
//   n = 100
//   p = Process(target=work)
//   p.start()
//   print('主进程',n)
#include "absl/strings/str_cat.h"
#include "channel/channel.h"
#include "examples/common.h"

using examples::Print;

int n;

int Work() {
  n = 0;
  Print(absl::StrCat("子进程 (child) ", n));
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  n = 100;
  channel::Process p(Work);
  if (absl::Status s = p.Start(); !s.ok()) return examples::Fail("start", s);
  Print(absl::StrCat("主进程 (main) ", n));
  return examples::JoinAll({&p});
}
