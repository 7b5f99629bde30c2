// Collected results, and their presentation: the Markdown table (with typed_channel's ratio to
// each baseline and the targets), the notes under it, and the JSON file.
#ifndef BENCH_REPORT_H_
#define BENCH_REPORT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/scenarios.h"

namespace bench {

// All repetitions of one scenario on one system. A cell with any failed repetition is reported
// as missing (null), with the first reason.
struct Cell {
  std::vector<Sample> samples;
  std::string error;
  bool ok() const { return error.empty() && !samples.empty(); }
  // Median over repetitions of one field of Sample.
  double Median(double Sample::*field) const;
};

class Results {
 public:
  void Add(Scenario s, const std::string& system, const absl::StatusOr<Sample>& sample);
  // Null when the scenario did not run on that system, or a repetition failed.
  const Cell* Get(Scenario s, const std::string& system) const;
  const std::map<std::pair<Scenario, std::string>, Cell>& cells() const { return cells_; }

 private:
  std::map<std::pair<Scenario, std::string>, Cell> cells_;
};

std::string FormatTable(const Results& results, const Params& params, int reps);
// Per-repetition values and the reasons for missing cells.
std::string FormatNotes(const Results& results);
std::string FormatJson(const Results& results);

}  // namespace bench

#endif  // BENCH_REPORT_H_
