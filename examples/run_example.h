// RunExample: runs an example binary from the test's runfiles, bounded, capturing its stdout;
// shared by the tests of examples/ and examples/crawl/ (the README's example).
#ifndef EXAMPLES_RUN_EXAMPLE_H_
#define EXAMPLES_RUN_EXAMPLE_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace examples {

struct Result {
  bool timed_out = false;
  int exit_code = -1;  // -N: killed by signal N
  std::string out;     // stdout
  std::vector<std::string> lines;
};

// Runs examples/<name> with `args`, capturing stdout (stderr goes to the test log). The example
// runs in its own process group, which is killed at `limit` (and afterwards, in case it left a
// child behind).
Result RunExample(const std::string& name, std::vector<std::string> args = {"--sleep_scale=0.01"},
                  absl::Duration limit = absl::Seconds(20));

// How many lines of the run contain `text`.
int CountLinesWith(const Result& run, const std::string& text);

// The example finished by itself, with exit code 0 (a GoogleTest expectation).
void ExpectCleanExit(const Result& run);

}  // namespace examples

#endif  // EXAMPLES_RUN_EXAMPLE_H_
