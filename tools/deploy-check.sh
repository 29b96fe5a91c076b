#!/usr/bin/env bash
# Checks deploy/ as far as this machine can: the systemd units with
# systemd-analyze verify (against the built binaries), the example
# scenarios by loading each into hvagent, the env files' variables against
# the units that use them. (The PowerShell script needs Windows; it is not
# run here.)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=$(bazel info bazel-bin 2>/dev/null)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "deploy-check: FAILED: $*"; exit 1; }

for unit in deploy/systemd/*.service; do
  sed -e "s|/usr/local/bin/drserver|$BIN/server/drserver|" -e "s|/usr/local/bin/hvagent|$BIN/hvagent/hvagent|" \
    "$unit" >"$tmp/$(basename "$unit")"
done
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$tmp"/*.service 2>&1)
rc=$?
# Outside a booted systemd, verify may complain about the environment
# itself; anything about our units is a failure.
bad=$(echo "$out" | grep -E "$(basename -a "$tmp"/*.service | paste -sd'|')" || true)
[ "$rc" = 0 ] || [ -z "$bad" ] || fail "systemd-analyze verify: $out"
[ -z "$bad" ] || fail "systemd-analyze verify: $bad"
echo "deploy-check: systemd units verify"

for var in $(grep -ohE '\$\{[A-Z_]+\}' deploy/systemd/*.service | tr -d '${}' | sort -u); do
  # systemd sets this one itself (LoadCredential=).
  [ "$var" = CREDENTIALS_DIRECTORY ] && continue
  grep -q "^$var=" deploy/examples/*.env || fail "unit uses \${$var}, no example env file sets it"
done
echo "deploy-check: every variable the units use is set in deploy/examples/*.env"

for s in deploy/examples/*.textproto; do
  # Recovery plans are not scenarios: //plans:example_plans_test checks them.
  case "$s" in *.plan.textproto) continue ;; esac
  timeout 20 "$BIN/hvagent/hvagent" --scenario="$s" --journal=:memory: --listen=127.0.0.1:0 --insecure \
    --port_file="$tmp/port" >"$tmp/agent.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { cat "$tmp/agent.log"; fail "$s does not load"; }
  kill -TERM "$pid"; wait "$pid" || fail "hvagent with $s did not stop cleanly"
  rm -f "$tmp/port"
  echo "deploy-check: $s loads"
done
echo "deploy-check: ok"
