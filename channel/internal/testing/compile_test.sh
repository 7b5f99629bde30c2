#!/usr/bin/env bash
# compile_test.sh SNIPPET [MACRO=EXPECTED_DIAGNOSTIC ...] (see compile_test.bzl).
set -uo pipefail
snippet="$1"
shift
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
cxx=(g++ -std=c++17 -fsyntax-only -I"$root" "$root/$snippet")
failures=0

if ! out=$("${cxx[@]}" 2>&1); then
  echo "FAIL: the snippet does not compile as is (the negative cases would prove nothing):"
  echo "$out"
  exit 1
fi
echo "ok: $snippet compiles"

for case in "$@"; do
  macro="${case%%=*}"
  expected="${case#*=}"
  if out=$("${cxx[@]}" -D"$macro" 2>&1); then
    echo "FAIL: -D$macro compiled; it must not"
    failures=$((failures + 1))
  elif [[ "$out" != *"$expected"* ]]; then
    echo "FAIL: -D$macro failed, but without \"$expected\":"
    echo "$out" | head -30
    failures=$((failures + 1))
  else
    echo "ok: -D$macro does not compile: \"$expected\""
  fi
done
exit $((failures > 0))
