#!/usr/bin/env bash
# Builds drserver, hvagent and drctl and installs them to $PREFIX/bin
# (default /usr/local) with the docs, for the systemd units in deploy/.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
bash tools/install-deps.sh
bazel build --noshow_progress //server:drserver //hvagent:hvagent //cli:drctl
BIN=$(bazel info bazel-bin 2>/dev/null)
install -d "$PREFIX/bin" "$PREFIX/share/doc/hvdr"
install -m 0755 "$BIN/server/drserver" "$BIN/hvagent/hvagent" "$BIN/cli/drctl" "$PREFIX/bin/"
install -m 0644 README.md docs/*.md "$PREFIX/share/doc/hvdr/"
echo "installed drserver, hvagent, drctl to $PREFIX/bin"
