#!/usr/bin/env bash
# Cross-compiles the Windows COM layer of the WMI backend with mingw-w64:
# the portable WmiSession code, ComWmiSession and the wmi_probe program.
#   hvagent/wmi/build-windows.sh OUT_DIR
# Produces OUT_DIR/wmi_probe.exe (statically linked).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: build-windows.sh OUT_DIR}
mkdir -p "$out"
x86_64-w64-mingw32-g++-posix -std=c++17 -O2 -Wall -Wextra -Werror \
  -Wno-missing-field-initializers -Wno-cast-function-type \
  -I. \
  hvagent/wmi/wmi_session.cc hvagent/wmi/com_wmi_session.cc hvagent/wmi/wmi_probe.cc \
  -static -lwbemuuid -lole32 -loleaut32 -luuid \
  -o "$out/wmi_probe.exe"
echo "built $out/wmi_probe.exe"
