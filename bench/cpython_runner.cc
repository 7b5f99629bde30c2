// The CPython column: runs cpython_baseline.py once per repetition as a subprocess and parses
// its RESULT line. The script implements the scenarios itself (multiprocessing queues can only
// be shared by Python processes it starts).
#include <cstdlib>
#include <memory>
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
  CpythonRunner(std::string python, std::string script, std::string unavailable)
      : python_(std::move(python)),
        script_(std::move(script)),
        unavailable_(std::move(unavailable)) {}

  std::string name() const override { return "cpython"; }
  bool Supports(Scenario s) const override { return s != Scenario::kS5; }

  absl::StatusOr<Sample> Run(Scenario scenario, const Params& p) override {
    if (!unavailable_.empty()) return absl::UnavailableError(unavailable_);
    std::vector<std::string> argv = {python_, script_, ScenarioName(scenario)};
    auto arg = [&argv](const char* flag, int64_t v) {
      argv.push_back(flag);
      argv.push_back(absl::StrCat(v));
    };
    switch (scenario) {
      case Scenario::kS1:
        arg("--messages", p.s1_messages);
        arg("--payload", static_cast<int64_t>(p.small_payload));
        arg("--maxsize", p.s1_maxsize);
        break;
      case Scenario::kS2:
        arg("--messages", p.s2_messages);
        arg("--payload", static_cast<int64_t>(p.large_payload));
        arg("--maxsize", p.s2_maxsize);
        break;
      case Scenario::kS3:
        arg("--messages", p.s3_roundtrips);
        arg("--warmup", p.s3_warmup);
        arg("--payload", static_cast<int64_t>(p.small_payload));
        arg("--maxsize", p.s1_maxsize);
        arg("--client-cpu", p.s3_client_cpu);
        arg("--server-cpu", p.s3_server_cpu);
        break;
      case Scenario::kS4:
        arg("--messages", p.s4_messages);
        arg("--payload", static_cast<int64_t>(p.small_payload));
        arg("--maxsize", p.s4_maxsize);
        arg("--producers", p.s4_producers);
        arg("--consumers", p.s4_consumers);
        break;
      case Scenario::kS5:
        return absl::UnimplementedError("S5 measures typed_channel only");
    }
    absl::StatusOr<CommandResult> run = RunCommand(argv, absl::Now() + p.run_timeout);
    if (!run.ok()) return run.status();
    for (absl::string_view line : absl::StrSplit(run->output, '\n')) {
      if (!absl::ConsumePrefix(&line, "RESULT ")) continue;
      if (!absl::StrContains(line, "\"ok\": true")) {
        return absl::InternalError(absl::StrCat("cpython_baseline.py: ", line));
      }
      Sample sample;
      const bool parsed = scenario == Scenario::kS3 ? JsonNumber(line, "p50_us", &sample.p50_us) &&
                                                          JsonNumber(line, "p99_us", &sample.p99_us)
                                                    : JsonNumber(line, "value", &sample.value);
      if (!parsed) return absl::InternalError(absl::StrCat("unparseable result: ", line));
      return sample;
    }
    return absl::InternalError(absl::StrCat("cpython_baseline.py exited with code ", run->exit_code,
                                            " and no RESULT line; output: ", Tail(run->output)));
  }

 private:
  std::string python_;
  std::string script_;
  std::string unavailable_;
};

}  // namespace

std::unique_ptr<Runner> MakeCpythonRunner(std::string python, std::string script,
                                          std::string unavailable_reason) {
  return std::make_unique<CpythonRunner>(std::move(python), std::move(script),
                                         std::move(unavailable_reason));
}

}  // namespace bench
