// Runs every example binary with --sleep_scale=0.01 and checks that it prints what the tutorial
// says it prints. Each run is bounded (run_example.h) at 20 s; twelve examples fit in the medium
// size's 300 s, so Bazel never has to kill the test and orphan an example.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "examples/run_example.h"

namespace {

using ::examples::CountLinesWith;
using ::examples::ExpectCleanExit;
using ::examples::Result;
using ::examples::RunExample;

// What follows `marker` on each line that has it, sorted: ItemsAfter(run, " 吃 ") is what was
// eaten.
std::vector<std::string> ItemsAfter(const Result& run, const std::string& marker) {
  std::vector<std::string> items;
  for (const std::string& line : run.lines) {
    const size_t at = line.find(marker);
    if (at != std::string::npos) items.push_back(line.substr(at + marker.size()));
  }
  std::sort(items.begin(), items.end());
  return items;
}

// name0, name1, ... name<count-1> for each name, sorted.
std::vector<std::string> Items(const std::vector<std::string>& names, int count) {
  std::vector<std::string> items;
  for (const std::string& name : names) {
    for (int i = 0; i < count; ++i) items.push_back(absl::StrCat(name, i));
  }
  std::sort(items.begin(), items.end());
  return items;
}


TEST(ExamplesTest, DataIsolation) {
  const Result run = RunExample("data_isolation");
  ExpectCleanExit(run);
  EXPECT_EQ(std::multiset<std::string>(run.lines.begin(), run.lines.end()),
            (std::multiset<std::string>{"子进程 (child) 0", "主进程 (main) 100"}))
      << run.out;
}

TEST(ExamplesTest, QueueBasics) {
  const Result run = RunExample("queue_basics");
  ExpectCleanExit(run);
  EXPECT_EQ(run.out,
            "队列已经满了 (queue is full)\n"
            "full() = true\n"
            "qsize() = 3\n"
            "3\n3\n3\n"
            "队列已经空了 (queue is empty)\n"
            "empty() = true\n");
}

TEST(ExamplesTest, ChildPut) {
  const Result run = RunExample("child_put");
  ExpectCleanExit(run);
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  EXPECT_TRUE(absl::StartsWith(run.lines[0], "['")) << run.out;
  EXPECT_TRUE(absl::EndsWith(run.lines[0], "', 'from earth', 'hello']")) << run.out;
}

TEST(ExamplesTest, FiveInFiveOut) {
  const Result run = RunExample("five_in_five_out");
  ExpectCleanExit(run);
  ASSERT_EQ(run.lines.size(), 5u) << run.out;
  std::set<std::string> getters, putters;
  for (const std::string& line : run.lines) {
    // <pid>(get):\033[32m<pid>(put):<asctime>\033[0m
    const std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar("(:"));
    ASSERT_GE(parts.size(), 4u) << line;
    EXPECT_TRUE(absl::StartsWith(parts[1], "get)")) << line;
    EXPECT_TRUE(absl::StartsWith(parts[3], "put)")) << line;
    getters.insert(parts[0]);
    putters.insert(parts[2]);
  }
  EXPECT_EQ(getters.size(), 5u) << run.out;  // five output processes, one item each
  EXPECT_EQ(putters.size(), 5u) << run.out;  // from five input processes
}

TEST(ExamplesTest, NoEndSignal) {
  const Result run = RunExample("no_end_signal");
  ExpectCleanExit(run);
  const std::vector<std::string> baozi = Items({"包子"}, 10);
  EXPECT_EQ(ItemsAfter(run, " 生产了 "), baozi) << run.out;
  EXPECT_EQ(ItemsAfter(run, " 吃 "), baozi) << run.out;
  EXPECT_EQ(CountLinesWith(run, "主 (main)"), 1) << run.out;
  ASSERT_FALSE(run.lines.empty());
  EXPECT_TRUE(absl::StrContains(run.lines.back(), "would block here forever")) << run.out;
}

TEST(ExamplesTest, ProducerEndSignal) {
  const Result run = RunExample("producer_end_signal");
  ExpectCleanExit(run);
  const std::vector<std::string> baozi = Items({"包子"}, 10);
  EXPECT_EQ(ItemsAfter(run, " 生产了 "), baozi) << run.out;
  EXPECT_EQ(ItemsAfter(run, " 吃 "), baozi) << run.out;
  EXPECT_EQ(CountLinesWith(run, "主 (main)"), 1) << run.out;
}

TEST(ExamplesTest, MainEndSignal) {
  const Result run = RunExample("main_end_signal");
  ExpectCleanExit(run);
  const std::vector<std::string> baozi = Items({"包子"}, 2);
  EXPECT_EQ(ItemsAfter(run, " 生产了 "), baozi) << run.out;
  EXPECT_EQ(ItemsAfter(run, " 吃 "), baozi) << run.out;
  // Main sends the end signal after joining the producer, and prints 主 after that.
  const auto main_line = std::find(run.lines.begin(), run.lines.end(), "主 (main)");
  ASSERT_NE(main_line, run.lines.end()) << run.out;
  EXPECT_EQ(std::count_if(main_line, run.lines.end(),
                          [](const std::string& l) { return absl::StrContains(l, "生产了"); }),
            0)
      << run.out;
}

TEST(ExamplesTest, ShutdownSignal) {
  const Result run = RunExample("shutdown_signal");
  ExpectCleanExit(run);
  const std::vector<std::string> food = Items({"包子", "骨头"}, 3);
  EXPECT_EQ(ItemsAfter(run, " 生产了 "), food) << run.out;
  EXPECT_EQ(ItemsAfter(run, " 吃 "), food) << run.out;  // nothing put before Shutdown is lost
  EXPECT_EQ(CountLinesWith(run, "主 (main)"), 1) << run.out;
}

// Drives the epoll server: both queues' jobs are served (each once), the timer ticks between
// them, and the server stops watching each queue when it is shut down and empty.
TEST(ExamplesTest, EpollServer) {
  const Result run = RunExample("epoll_server", {"--sleep_scale=0.05"});
  ExpectCleanExit(run);
  EXPECT_EQ(ItemsAfter(run, "server: orders "), Items({"order"}, 6)) << run.out;
  EXPECT_EQ(ItemsAfter(run, "server: refunds "), Items({"refund"}, 4)) << run.out;
  EXPECT_GE(CountLinesWith(run, "server: tick "), 1) << run.out;
  EXPECT_EQ(CountLinesWith(run, "server: closed "), 2) << run.out;
}

TEST(ExamplesTest, ManyProducers) {
  const Result run = RunExample("many_producers");
  ExpectCleanExit(run);
  const std::vector<std::string> food = Items({"包子", "骨头", "泔水"}, 2);
  EXPECT_EQ(ItemsAfter(run, " 生产了 "), food) << run.out;
  EXPECT_EQ(ItemsAfter(run, " 吃 "), food) << run.out;
  EXPECT_EQ(CountLinesWith(run, "主 (main)"), 1) << run.out;
}

TEST(ExamplesTest, JoinableQueue) {
  const Result run = RunExample("joinable_queue");
  ExpectCleanExit(run);
  const std::vector<std::string> food = Items({"包子", "骨头", "泔水"}, 10);
  EXPECT_EQ(ItemsAfter(run, " 生产了 "), food) << run.out;
  EXPECT_EQ(ItemsAfter(run, " 吃 "), food) << run.out;
  // The producers' Join() returned only when all 30 were eaten, and main printed 主 after
  // joining the producers: it is the last line.
  ASSERT_FALSE(run.lines.empty());
  EXPECT_EQ(run.lines.back(), "主 (main)") << run.out;
}

TEST(ExamplesTest, Demo) {
  const Result run = RunExample("demo", {});
  ExpectCleanExit(run);
  EXPECT_EQ(CountLinesWith(run, "total: 148933 primes below 2000000"), 1) << run.out;
  EXPECT_EQ(CountLinesWith(run, "results.qsize() = 40"), 1) << run.out;
  EXPECT_EQ(CountLinesWith(run, "IsEmpty"), 1) << run.out;
}

}  // namespace
