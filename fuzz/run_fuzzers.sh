#!/usr/bin/env bash
# Builds the fuzz targets with --config=fuzz (clang + libFuzzer + ASan/UBSan) and fuzzes each for
# FUZZ_SECONDS seconds (default 30), starting from its seed corpus. Exits non-zero if any target
# crashed, leaked, reported undefined behaviour, timed out (-timeout=10 per input) or ran out of
# memory (-rss_limit_mb=2048); exit code 2 if the build failed.
#
#   fuzz/run_fuzzers.sh [TARGET...]          default: every cc_test in //fuzz
#   FUZZ_SECONDS=60 fuzz/run_fuzzers.sh
#   BAZEL_STARTUP_OPTS="--output_base=/path" fuzz/run_fuzzers.sh   (a private Bazel server)
#   FUZZ_BAZEL_FLAGS="--config=ci --symlink_prefix=/"   extra flags for the `bazel build`
#   FUZZ_OUT=/some/dir   where work corpora, logs and crash artifacts go (default: a temp dir,
#                        kept if anything failed). Also written there, for scripts (.ci/run):
#                        `targets` (the targets to fuzz, one a line, before building) and
#                        `results` ("TARGET ok" or "TARGET FAILED", one line per target fuzzed).
# Extra libFuzzer flags can be passed in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-jobs=2 -workers=2").
# Target-specific knobs (see each target's banner), e.g. QUEUE_FILE_FUZZ_RAW_LOCKS=1, are
# passed through the environment.
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 2

seconds=${FUZZ_SECONDS:-30}
read -r -a startup <<<"${BAZEL_STARTUP_OPTS:-}"
read -r -a build_flags <<<"${FUZZ_BAZEL_FLAGS:-}"
bazel=(./bazelw "${startup[@]}")
out=${FUZZ_OUT:-$(mktemp -d /tmp/typed_channel_fuzz.XXXXXX)}
mkdir -p "$out"
: >"$out/results"
# Before any target ran (no target / build failed): exit 2, keeping $out only if FUZZ_OUT named it.
setup_failed() {
  echo "run_fuzzers: $1" >&2
  [ -n "${FUZZ_OUT:-}" ] || rm -rf "$out"
  exit 2
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every fuzz target is a cc_test in //fuzz (see fuzz/BUILD).
  mapfile -t targets < <("${bazel[@]}" query 'tests(//fuzz:all)' 2>/dev/null |
                         sed -n 's|^//fuzz:||p' | sort)
  [ ${#targets[@]} -gt 0 ] || setup_failed "bazel query found no fuzz targets in //fuzz"
fi
printf '%s\n' "${targets[@]}" >"$out/targets"

labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:$t"); done
echo "=== building ${labels[*]} with --config=fuzz"
"${bazel[@]}" build --config=fuzz "${build_flags[@]}" "${labels[@]}" || setup_failed "build failed"
bin=$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null) || setup_failed "bazel info failed"

# Every UBSan report is a failure. ASan: leaks are reported at exit of each run.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  work="$out/$t/corpus"
  mkdir -p "$work" "$out/$t/artifacts" "$out/$t/tmp"
  echo "=== fuzzing $t for ${seconds}s (log: $out/$t/log)"
  # The seed corpus is read-only input; new inputs go to the work corpus. TMPDIR: what a target
  # killed mid-input (e.g. by -timeout) leaves behind stays in $out.
  # shellcheck disable=SC2086
  TMPDIR="$out/$t/tmp" "$bin/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$out/$t/artifacts/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
      "$work" "fuzz/corpus/$t" >"$out/$t/log" 2>&1
  rc=$?
  stats=$(grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$out/$t/log" |
          sed 's/^stat:://' | tr '\n' ' ' | tr -s ' ')
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+" "$out/$t/log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    summary+=("$(printf '%-16s ok      %s %s' "$t" "$cov" "$stats")")
    echo "$t ok" >>"$out/results"
  else
    failed=$((failed + 1))
    echo "$t FAILED" >>"$out/results"
    summary+=("$(printf '%-16s FAILED  rc=%d %s (artifacts: %s)' "$t" "$rc" "$cov" "$out/$t/artifacts")")
    grep -E "^==[0-9]+==ERROR|^SUMMARY|deadly signal|fuzz invariant|threw|timeout after|out-of-memory" \
        "$out/$t/log" | head -5 | sed 's/^/    /'
  fi
done

echo "=== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "$failed" -eq 0 ] && [ -z "${FUZZ_OUT:-}" ]; then rm -rf "$out"; fi
[ "$failed" -eq 0 ] || echo "$failed target(s) failed; logs and artifacts in $out"
[ "$failed" -eq 0 ]
