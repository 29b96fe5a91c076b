#!/usr/bin/env bash
# Installs what building and testing needs on Debian 12, only what is missing.
# Safe to run again. Needs root (or sudo) for apt-get and npm -g.
set -euo pipefail

APT_PACKAGES=(
  bazel-bootstrap pkg-config g++ git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsqlite3-dev sqlite3 libgtest-dev libgmock-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libgoogle-perftools-dev libssl-dev
  ca-certificates libcap2-bin openssl
  clang-14 libclang-rt-14-dev
)
# Extra packages by feature; callers ask for them with flags.
WINDOWS_PACKAGES=(g++-mingw-w64-x86-64-posix wine wine64)
SYSTEMD_PACKAGES=(systemd)
# --config=clang and --config=asan: clang-14, its sanitizer runtimes, and
# llvm-symbolizer for the reports' stacks; clang-format-14 for
# tools/format-check.sh.
CLANG_PACKAGES=(clang-14 libclang-rt-14-dev llvm-14 clang-format-14)

want=("${APT_PACKAGES[@]}")
for arg in "$@"; do
  case "$arg" in
    --windows) want+=("${WINDOWS_PACKAGES[@]}") ;;
    --systemd) want+=("${SYSTEMD_PACKAGES[@]}") ;;
    --clang) want+=("${CLANG_PACKAGES[@]}") ;;
    *) echo "install-deps: unknown flag $arg (known: --windows --systemd --clang)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm: some images ship Node.js with its own npm (which conflicts with
# Debian's npm package); install Debian's only when there is none.
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
fi

if ! command -v buf >/dev/null 2>&1; then
  echo "install-deps: installing @bufbuild/buf from npm"
  $SUDO npm install -g --silent @bufbuild/buf >/dev/null 2>&1 || $SUDO npm install -g @bufbuild/buf
fi
