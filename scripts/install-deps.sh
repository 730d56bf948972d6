#!/usr/bin/env bash
# Installs every build and test dependency of Inhouse from Debian 12 packages.
# The one place where dependencies are listed; README, Makefile and .ci/run call it.
# Versions are pinned by Debian 12 (bookworm) package names; see README's dependency table.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev          # libFuzzer + sanitizer runtimes
  libgtest-dev libgmock-dev         # unit tests
  libbenchmark-dev                  # benchmarks
  libcli11-dev                      # command line
  nlohmann-json3-dev                # JSON
  libpcre2-dev                      # pre-tokenizer regexes (Unicode properties, JIT)
  libicu-dev                        # Unicode normalisation (WordPiece NFD, case folding)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
