// The CPython column: runs cpython_baseline.py once per repetition as a subprocess and parses
// its RESULT line. The script implements the scenarios itself (multiprocessing queues can only
// be shared by Python processes it starts).
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/harness.h"
#include "bench/scenarios.h"

namespace bench {
namespace {

// The number after "key": in a flat JSON object; false if absent or not a number.
bool JsonNumber(absl::string_view json, absl::string_view key, double* out) {
  const std::string quoted = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(quoted);
  if (at == absl::string_view::npos) return false;
  const std::string rest(json.substr(at + quoted.size()));
  char* end = nullptr;
  *out = strtod(rest.c_str(), &end);
  return end != rest.c_str();
}

std::string Tail(const std::string& text, size_t max_chars = 600) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

class CpythonRunner final : public Runner {
 public:
  CpythonRunner(std::string python, std::string script, std::string unavailable,
                std::set<std::string> scenarios)
      : python_(std::move(python)),
        script_(std::move(script)),
        unavailable_(std::move(unavailable)),
        scenarios_(std::move(scenarios)) {}

  std::string name() const override { return "cpython"; }
  bool Supports(const ScenarioDef& s) const override {
    return s.driver != Driver::kMemory && scenarios_.count(s.name) != 0;
  }

  absl::StatusOr<Sample> Run(const ScenarioDef& def, const Params& p) override {
    if (!unavailable_.empty()) return absl::UnavailableError(unavailable_);
    // The script's modes are named after the scenarios they first served.
    const char* mode = "S1";
    switch (def.driver) {
      case Driver::kOneToOne:
        mode = def.metric == Metric::kGBPerSecond ? "S2" : "S1";
        break;
      case Driver::kPingPong:
        mode = "S3";
        break;
      case Driver::kFanInOut:
        mode = "S4";
        break;
      case Driver::kMemory:
        return absl::UnimplementedError("S5 measures typed_channel only");
    }
    std::vector<std::string> argv = {python_, script_, mode};
    auto arg = [&argv](const char* flag, int64_t v) {
      argv.push_back(flag);
      argv.push_back(absl::StrCat(v));
    };
    arg("--messages", def.messages);
    arg("--payload", static_cast<int64_t>(def.payload_bytes));
    arg("--maxsize", def.maxsize);
    arg("--producers", def.producers);
    arg("--consumers", def.consumers);
    arg("--fresh", def.fresh_messages ? 1 : 0);
    if (def.driver == Driver::kPingPong) {
      arg("--warmup", p.s3_warmup);
      arg("--client-cpu", p.s3_client_cpu);
      arg("--server-cpu", p.s3_server_cpu);
    }
    absl::StatusOr<CommandResult> run = RunCommand(argv, absl::Now() + p.run_timeout);
    if (!run.ok()) return run.status();
    for (absl::string_view line : absl::StrSplit(run->output, '\n')) {
      if (!absl::ConsumePrefix(&line, "RESULT ")) continue;
      if (!absl::StrContains(line, "\"ok\": true")) {
        return absl::InternalError(absl::StrCat("cpython_baseline.py: ", line));
      }
      Sample sample;
      double cpu_s = 0;
      const bool parsed = (def.driver == Driver::kPingPong
                               ? JsonNumber(line, "p50_us", &sample.p50_us) &&
                                     JsonNumber(line, "p99_us", &sample.p99_us)
                               : JsonNumber(line, "value", &sample.value)) &&
                          JsonNumber(line, "cpu_s", &cpu_s);
      if (!parsed) return absl::InternalError(absl::StrCat("unparseable result: ", line));
      const int64_t operations =
          def.driver == Driver::kPingPong ? def.messages + p.s3_warmup : def.messages;
      sample.cpu_us = cpu_s * 1e6 / static_cast<double>(operations);
      return sample;
    }
    return absl::InternalError(absl::StrCat("cpython_baseline.py exited with code ", run->exit_code,
                                            " and no RESULT line; output: ", Tail(run->output)));
  }

 private:
  std::string python_;
  std::string script_;
  std::string unavailable_;
  std::set<std::string> scenarios_;
};

}  // namespace

std::unique_ptr<Runner> MakeCpythonRunner(std::string python, std::string script,
                                          std::string unavailable_reason,
                                          std::set<std::string> scenarios) {
  return std::make_unique<CpythonRunner>(std::move(python), std::move(script),
                                         std::move(unavailable_reason), std::move(scenarios));
}

}  // namespace bench
