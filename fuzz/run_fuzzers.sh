#!/usr/bin/env bash
# Builds the fuzz targets with --config=fuzz (clang + libFuzzer + ASan/UBSan) and fuzzes each for
# FUZZ_SECONDS seconds (default 30), starting from its seed corpus. Exits non-zero if any target
# crashed, leaked, timed out (-timeout=10 per input) or ran out of memory (-rss_limit_mb=2048).
#
#   fuzz/run_fuzzers.sh [TARGET...]          default: every target in //fuzz
#   FUZZ_SECONDS=60 fuzz/run_fuzzers.sh
#   BAZEL_STARTUP_OPTS="--output_base=/path" fuzz/run_fuzzers.sh   (a private Bazel server)
#   FUZZ_NO_SUPPRESSIONS=1  also fail on the known bugs listed in fuzz/ubsan_known_bugs.supp
#   FUZZ_OUT=/some/dir   where work corpora, logs and crash artifacts go (default: a temp dir,
#                        kept if anything failed)
# Extra libFuzzer flags can be passed in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-jobs=2 -workers=2").
# Target-specific knobs (see each target's banner), e.g. QUEUE_FILE_FUZZ_RAW_LOCKS=1, are
# passed through the environment.
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 2

seconds=${FUZZ_SECONDS:-30}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_fuzz payload_fuzz queue_file_fuzz)
read -r -a startup <<<"${BAZEL_STARTUP_OPTS:-}"
bazel=(./bazelw "${startup[@]}")

labels=()
for t in "${targets[@]}"; do labels+=("//fuzz:$t"); done
echo "=== building ${labels[*]} with --config=fuzz"
"${bazel[@]}" build --config=fuzz "${labels[@]}" || exit 2
bin=$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null) || exit 2

out=${FUZZ_OUT:-$(mktemp -d /tmp/typed_channel_fuzz.XXXXXX)}
mkdir -p "$out"
# UBSan reports are failures too, except known library bugs listed in ubsan_known_bugs.supp
# (FUZZ_NO_SUPPRESSIONS=1: report those as well). ASan: leaks are reported at exit of each run.
supp="suppressions=$PWD/fuzz/ubsan_known_bugs.supp:"
[ "${FUZZ_NO_SUPPRESSIONS:-0}" = 1 ] && supp=
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-${supp}halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  work="$out/$t/corpus"
  mkdir -p "$work" "$out/$t/artifacts"
  echo "=== fuzzing $t for ${seconds}s (log: $out/$t/log)"
  # The seed corpus is read-only input; new inputs go to the work corpus.
  # shellcheck disable=SC2086
  "$bin/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$out/$t/artifacts/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
      "$work" "fuzz/corpus/$t" >"$out/$t/log" 2>&1
  rc=$?
  stats=$(grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$out/$t/log" |
          sed 's/^stat:://' | tr '\n' ' ')
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+" "$out/$t/log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    summary+=("$(printf '%-16s ok      %s %s' "$t" "$cov" "$stats")")
  else
    failed=$((failed + 1))
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
