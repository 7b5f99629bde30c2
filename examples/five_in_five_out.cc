// Tutorial 2 (five in, five out): five input processes each put "<pid>(put):<time>" into a
// Queue(3), started one second apart, so the fourth and fifth block in Put until the five output
// processes start and each get (and print) one item.
//
//   def inputQ(queue):
//     info = str(os.getpid()) + '(put):' + str(time.asctime())
//     queue.put(info)
//   def outputQ(queue):
//     info = queue.get()
//     print ('%s%s\033[32m%s\033[0m'%(str(os.getpid()), '(get):',info))
//   queue = multiprocessing.Queue(3)
//   for i in range(5):
//     process = multiprocessing.Process(target=inputQ,args=(queue,))
//     time.sleep(1)
//     process.start()
//     record1.append(process)
//   for i in range(5): ... Process(target=outputQ ...) ... record2.append(process)
//   for p in record1: p.join()
//   for p in record2: p.join()
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;

int InputQ(channel::Queue<demo::Job>& queue) {
  const std::string info = absl::StrCat(getpid(), "(put):", examples::AscTime());
  channel::Builder<demo::Job> job = examples::MakeJob(info);
  if (absl::Status s = queue.Put(job); !s.ok()) return Fail("put", s);
  return 0;
}

int OutputQ(channel::Queue<demo::Job>& queue) {
  absl::StatusOr<channel::Message<demo::Job>> info = queue.Get();
  if (!info.ok()) return Fail("get", info.status());
  examples::Print(
      absl::StrFormat("%d(get):\033[32m%s\033[0m", getpid(), (*info)->getPayload().cStr()));
  return 0;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  channel::QueueOptions options;
  options.maxsize = 3;
  absl::StatusOr<channel::Queue<demo::Job>> queue = channel::Queue<demo::Job>::Create(options);
  if (!queue.ok()) return Fail("create", queue.status());

  std::vector<channel::Process> record1;  // input processes
  std::vector<channel::Process> record2;  // output processes
  for (int i = 0; i < 5; ++i) {
    channel::Process& process = record1.emplace_back([&queue] { return InputQ(*queue); });
    examples::Sleep(absl::Seconds(1));
    if (absl::Status s = process.Start(); !s.ok()) return Fail("start", s);
  }
  for (int i = 0; i < 5; ++i) {
    channel::Process& process = record2.emplace_back([&queue] { return OutputQ(*queue); });
    if (absl::Status s = process.Start(); !s.ok()) return Fail("start", s);
  }
  const int failed = examples::JoinAll(record1);
  return examples::JoinAll(record2) | failed;
}
