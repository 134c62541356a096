#!/usr/bin/env bash
# One closing line over every module's Surefire reports: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
tests=0; failed=0; skipped=0
for f in */target/surefire-reports/TEST-*.xml; do
  line=$(grep -m1 -o '<testsuite [^>]*>' "$f")
  get() { echo "$line" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  tests=$((tests + $(get tests)))
  failed=$((failed + $(get failures) + $(get errors)))
  skipped=$((skipped + $(get skipped)))
done
echo "Tests: $((tests - failed - skipped)) passed, $failed failed, $skipped skipped"
