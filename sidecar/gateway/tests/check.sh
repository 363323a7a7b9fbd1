#!/usr/bin/env bash
# make check: the unit tests, then the fuzzer for a bounded time ($1 seconds).
# Prints "N passed, N failed" last (the unit tests' counts, plus one for the fuzzer).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
out=$(./tests/unit 2>&1); rc=$?
echo "$out"
passed=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
failed=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
passed=${passed:-0}; failed=${failed:-1}
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
work=$(mktemp -d)
echo "fuzzing route matching, ids, headers and problem JSON for ${seconds}s ..."
if ./fuzz/fuzz_request -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
     "$work" fuzz/corpus > "$work.log" 2>&1; then
  tail -n 3 "$work.log" | sed 's/^/  /'
  echo "ok - fuzzer ran ${seconds}s without a finding"
  passed=$((passed + 1))
else
  # the sanitizer's report (what and where), then libFuzzer's reproducer lines
  sed -n '/ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error\|deadly signal/,/^SUMMARY/p' "$work.log" | head -n 40
  tail -n 8 "$work.log"
  echo "not ok - fuzzer found a problem (input saved as crash-* in $(pwd))"
  failed=$((failed + 1))
fi
rm -rf "$work" "$work.log"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
