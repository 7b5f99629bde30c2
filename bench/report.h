// Collected results, and their presentation: the Markdown table (typed_channel's ratio to each
// other system, median and worst repetition pair, CPU per message, the targets), the notes
// under it, and the JSON file.
#ifndef BENCH_REPORT_H_
#define BENCH_REPORT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/harness.h"
#include "bench/scenarios.h"

namespace bench {

// All repetitions of one scenario on one system, in order (repetition i of every system ran in
// the same round). A cell with any failed repetition is reported as missing (null), with the
// first reason.
struct Cell {
  std::vector<Sample> samples;
  std::string error;
  bool ok() const { return error.empty() && !samples.empty(); }
  std::vector<double> Values(double Sample::*field) const;
  // Median over repetitions of one field of Sample.
  double Median(double Sample::*field) const;
};

class Results {
 public:
  void Add(const std::string& scenario, const std::string& system,
           const absl::StatusOr<Sample>& sample);
  // Null when the scenario did not run on that system, or a repetition failed.
  const Cell* Get(const std::string& scenario, const std::string& system) const;
  // The cell whether or not it failed; null when the scenario did not run on that system.
  const Cell* Find(const std::string& scenario, const std::string& system) const;
  bool Attempted(const std::string& scenario, const std::string& system) const {
    return Find(scenario, system) != nullptr;
  }
  // Every system with a result, the known ones in the table's column order, others after.
  std::vector<std::string> Systems() const;

 private:
  std::map<std::pair<std::string, std::string>, Cell> cells_;
};

// What the run was measured on and in.
struct RunInfo {
  std::string machine;
  std::string loadavg_before;
  std::string loadavg_after;
  Regime regime_start;
  Regime regime_end;
  int reps = 1;
  bool zeromq_shared_window = true;  // --zeromq_window
};

std::string FormatTable(const Results& results, const std::vector<ScenarioDef>& scenarios,
                        const RunInfo& info);
// Per-repetition values (and CPU per message) and the reasons for missing cells.
std::string FormatNotes(const Results& results, const std::vector<ScenarioDef>& scenarios);
std::string FormatJson(const Results& results, const std::vector<ScenarioDef>& scenarios,
                       const RunInfo& info);

}  // namespace bench

#endif  // BENCH_REPORT_H_
