#!/usr/bin/env bash
# Cross-compiles the WMI COM layer with mingw-w64 and runs its probe under
# Wine, checking the results (run by tools/test.sh):
#   1. ROOT\CIMV2: the probe reads Win32_OperatingSystem through
#      ComWmiSession (the COM plumbing works);
#   2. root\virtualization\v2: Wine has no Hyper-V provider, so the probe
#      must report WBEM_E_INVALID_NAMESPACE as 32777 and exit 3.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/hvdr-windows.XXXXXX)
trap 'rm -rf "$out"' EXIT
export WINEPREFIX="$out/wineprefix" WINEDEBUG=-all

fail() { echo "windows-check: FAILED: $*"; exit 1; }

hvagent/wmi/build-windows.sh "$out" || fail "mingw-w64 build"
file "$out/wmi_probe.exe" 2>/dev/null | grep -q "PE32+" || [ -s "$out/wmi_probe.exe" ] || fail "no .exe"

timeout 300 wine "$out/wmi_probe.exe" 'ROOT\CIMV2' >"$out/cimv2.txt" 2>"$out/cimv2.err"
rc=$?
[ "$rc" = 0 ] || { cat "$out/cimv2.txt" "$out/cimv2.err"; fail "probe on ROOT\\CIMV2 exited $rc"; }
grep -q '^object Win32_OperatingSystem' "$out/cimv2.txt" || fail "no Win32_OperatingSystem object"
grep -q '^  Caption = ' "$out/cimv2.txt" || fail "no Caption property"
echo "windows-check: ROOT\\CIMV2: $(grep '^  Caption = ' "$out/cimv2.txt" | head -1 | sed 's/^  //')"

timeout 120 wine "$out/wmi_probe.exe" 'root\virtualization\v2' >"$out/hv.txt" 2>"$out/hv.err"
rc=$?
[ "$rc" = 3 ] || { cat "$out/hv.txt"; fail "probe on root\\virtualization\\v2 exited $rc, want 3"; }
grep -q 'WBEM_E_INVALID_NAMESPACE' "$out/hv.txt" || fail "no WBEM_E_INVALID_NAMESPACE"
grep -q '^result: 32777 System is not available' "$out/hv.txt" || fail "no 32777"
echo "windows-check: root\\virtualization\\v2: $(grep '^result' "$out/hv.txt")"
echo "windows-check: ok"
