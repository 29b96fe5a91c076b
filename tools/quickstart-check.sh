#!/usr/bin/env bash
# Runs the README's main-job command (tools/demo.sh) and checks that its
# output shows a completed failover and a clean shutdown.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 600 bash tools/demo.sh >"$log" 2>&1
rc=$?
if [ "$rc" != 0 ]; then cat "$log"; echo "quickstart-check: tools/demo.sh exited $rc"; exit 1; fi
for want in "plans/demo-site version 1" "test-failover" ": succeeded (13 succeeded" ".reverse" \
  "report: " "refused (7) 32769" "demo: done"; do
  grep -q "$want" "$log" || { cat "$log"; echo "quickstart-check: no \"$want\" in the output"; exit 1; }
done
echo "quickstart-check: ok"
