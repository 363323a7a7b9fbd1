#!/usr/bin/env bash
# make bench: every benchmark under test/bench/, one after the other (each starts
# and stops its own servers). Prints their figures; asserts nothing. About 40
# minutes, most of it generating the million invoices of search.sh.
#   bash test/bench/run-all.sh [NAME...]     (default: ingest delivery gateway processor search)
set -uo pipefail
cd "$(dirname "$0")"
names=("$@"); [ ${#names[@]} -eq 0 ] && names=(ingest delivery gateway processor search)
rc=0
for n in "${names[@]}"; do
  echo "=== bench $n ($(date -u +%H:%M:%S))"
  bash "./$n.sh" || { echo "=== bench $n: exit $?"; rc=1; }
done
exit $rc
