#!/usr/bin/env bash
# The main job: a DR estate on this machine, a failover you can watch.
#  - installs what is missing and builds drserver, hvagent and drctl;
#  - makes a throwaway CA, certificates and tokens (tools/mkcerts.sh);
#  - starts drserver (embedded SQLite) and two hvagents with the simulated
#    Hyper-V: a production site host and a DR site host
#    (deploy/examples/primary-site.textproto, replica-site.textproto), all
#    with TLS: mutual TLS between drserver and the agents, and drctl
#    authenticated by a bearer token (docs/security.md);
#  - registers both hosts, shows the topology, rehearses the site's recovery
#    plan (a test failover of every VM in order, then its cleanup), then
#    runs it for real as a planned failover (the prompt answered, every
#    step shown as it happens, reverse replication last) and prints its
#    report (text, and an HTML page to keep);
#  - shuts everything down cleanly and says where the logs and database are.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash tools/install-deps.sh
echo "== building (first time: a few minutes)"
build_log=$(mktemp)
if ! bazel build --noshow_progress //server:drserver //hvagent:hvagent //cli:drctl >"$build_log" 2>&1; then
  cat "$build_log"
  echo "demo: build failed" >&2
  exit 1
fi
rm -f "$build_log"
BIN=$(bazel info bazel-bin 2>/dev/null)

RUN="$ROOT/.run/demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_port() {  # wait_port FILE
  for _ in $(seq 1 100); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.1
  done
  echo "demo: no port in $1; see the logs in $RUN" >&2
  return 1
}

CERTS="$RUN/certs"
echo "== tools/mkcerts.sh: a throwaway CA, certificates for drserver and both hosts, tokens"
bash tools/mkcerts.sh "$CERTS" --hosts hv-prod-1,hv-dr-1 \
  --tokens dr-admin:admin,dr-operator:operator+plan-author,auditor:viewer >/dev/null
token_of() { awk -v id="$1" '$1 == id { print $2 }' "$CERTS/tokens.txt" >"$CERTS/$1.token"; chmod 600 "$CERTS/$1.token"; }
token_of dr-admin
token_of dr-operator
token_of auditor

start_agent() {  # start_agent NAME SCENARIO
  "$BIN/hvagent/hvagent" --backend=sim --scenario="$2" --state="$RUN/$1.state" \
    --journal="$RUN/$1-journal.db" --listen=127.0.0.1:0 --port_file="$RUN/$1.port" \
    --tls_cert_file="$CERTS/agent-$1.crt" --tls_key_file="$CERTS/agent-$1.key" \
    --tls_ca_file="$CERTS/ca.crt" >"$RUN/$1.log" 2>&1 &
  pids+=($!)
}

echo "== starting two simulated Hyper-V hosts and drserver (logs and database in $RUN)"
start_agent hv-prod-1 deploy/examples/primary-site.textproto
start_agent hv-dr-1 deploy/examples/replica-site.textproto
"$BIN/server/drserver" --db="$RUN/drserver.db" --listen=127.0.0.1:0 --port_file="$RUN/drserver.port" \
  --tls_cert_file="$CERTS/drserver.crt" --tls_key_file="$CERTS/drserver.key" \
  --tls_ca_file="$CERTS/ca.crt" --tokens_file="$CERTS/tokens.json" >"$RUN/drserver.log" 2>&1 &
pids+=($!)
prod_port=$(wait_port "$RUN/hv-prod-1.port")
dr_port=$(wait_port "$RUN/hv-dr-1.port")
export DRCTL_SERVER="127.0.0.1:$(wait_port "$RUN/drserver.port")"
export DRCTL_CA_FILE="$CERTS/ca.crt"
# The operator's token by default; hosts are the admin's.
export DRCTL_TOKEN_FILE="$CERTS/dr-operator.token"
drctl() { "$BIN/cli/drctl" "$@"; }
drctl_admin() { DRCTL_TOKEN_FILE="$CERTS/dr-admin.token" "$BIN/cli/drctl" "$@"; }

echo
echo "== drctl hosts add: production site and DR site"
drctl_admin hosts add hv-prod-1 --site prod --agent "127.0.0.1:$prod_port"
drctl_admin hosts add hv-dr-1 --site dr --agent "127.0.0.1:$dr_port"
echo
echo "== the auditor's token may look, not act: drctl failover is refused (32769)"
if DRCTL_TOKEN_FILE="$CERTS/auditor.token" "$BIN/cli/drctl" failover sql-01 --no-wait; then
  echo "demo: the auditor was allowed to fail over" >&2
  exit 1
fi
echo
echo "== drctl vms list"
drctl vms list
echo
echo "== drctl vms show sql-01 --host hv-dr-1"
drctl vms show sql-01 --host hv-dr-1
echo
echo "== a rehearsal first: the recovery plan of the whole site (deploy/examples/demo-site.plan.textproto)"
drctl plans apply -f deploy/examples/demo-site.plan.textproto
drctl plans validate demo-site --mode test
echo
echo "== drctl plans run demo-site --mode test: test VMs of every VM, in order, production untouched"
drctl plans run demo-site --mode test
echo
echo "== drctl plans run demo-site --mode cleanup-test: the test VMs go"
drctl plans run demo-site --mode cleanup-test
echo
echo "== the whole site next, planned (both sites up): drctl plans run demo-site --mode planned"
echo "   per VM: shut the primary down, prepare (send pending changes), fail over, re-IP, start,"
echo "   wait for the guest heartbeat, reverse replication; the plan first asks whether storage is fenced"
started=$(drctl plans run demo-site --mode planned --no-wait)
echo "$started"
exec_name=$(echo "$started" | head -1 | cut -d: -f1)
for _ in $(seq 120); do
  if drctl plans answer "$exec_name/steps/database.before.storage-fenced" \
    --comment "storage fenced (demo)" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
drctl plans watch "$exec_name"
echo
echo "== drctl plans report (text; also as JSON, and as an HTML page for the audit file)"
drctl plans report "$exec_name" --format text
drctl plans report "$exec_name" --format html -o "$RUN/report.html"
echo "report: $RUN/report.html"
echo
echo "== drctl audit list: who did what (the auditor's refused failover included)"
drctl audit list --limit 8
echo
echo "== drctl jobs list"
drctl jobs list
echo
echo "== shutting down"
cleanup
trap - EXIT
echo "logs:     $RUN/drserver.log $RUN/hv-prod-1.log $RUN/hv-dr-1.log"
echo "database: $RUN/drserver.db"
echo "demo: done"
