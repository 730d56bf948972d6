#!/usr/bin/env bash
# Installs every build and test dependency of Inhouse from Debian 12 packages.
# The one place where dependencies are listed; README, Makefile and .ci/run call it.
# Versions are pinned by Debian 12 (bookworm) package names; see README's dependency table.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev          # libFuzzer + sanitizer runtimes
  libomp-dev                        # OpenMP for clang builds (FAISS needs it at link time)
  libgtest-dev libgmock-dev         # unit tests
  libbenchmark-dev                  # benchmarks
  libcli11-dev                      # command line
  nlohmann-json3-dev                # JSON
  libpcre2-dev                      # pre-tokenizer regexes (Unicode properties, JIT)
  libicu-dev                        # Unicode normalisation (WordPiece NFD, case folding)
  libhwy-dev                        # Highway: SIMD kernels with run-time dispatch (tensor)
  libsqlite3-dev                    # the data directory's database (WAL)
  libsodium-dev                     # Argon2id secret hashes, random ids, keyed digests (auth)
  libjwt-dev                        # HS256 access tokens (auth)
  libcpp-httplib-dev libssl-dev     # HTTP/HTTPS server (server)
  libtomlplusplus-dev               # the server's TOML configuration
  libyaml-cpp-dev                   # Markdown front matter (kb)
  libfaiss-dev libopenblas-dev      # vector index: exact inner product and HNSW (kb)
  libpoppler-cpp-dev                # PDF text extraction (kb)
  libgumbo-dev                      # HTML parsing (kb)
  libzstd-dev                       # document versions and cold-tier archives, compressed (kb)
  libdtl-dev                        # line diffs between document versions (kb)
  libpq-dev postgresql              # shared users/roles/clients/audit for replicas (db); tests run a throwaway server
  sqlite3-doc                       # benchmark corpus: SQLite's public-domain HTML documentation (kb)
  nodejs                            # tests: the real openai / ollama npm clients (npm below)
  python3 python3-aiohttp           # tests: auth, rate-limit and load clients; server benchmark
  prometheus                        # tests: a real Prometheus scrapes /metrics (and promtool lints it)
  openssl curl jq                   # tests: self-signed TLS certificate, curl checks, perf-report.sh
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs ships npm separately; NodeSource's nodejs bundles it (and conflicts with it).
command -v npm >/dev/null 2>&1 || dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -q nodesource ||
  missing+=(npm)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the client tests, pinned by tests/server/clients/package-lock.json.
clients="$(dirname "$0")/../tests/server/clients"
stamp="$clients/node_modules/.inhouse-installed-lock.json"
if ! cmp -s "$clients/package-lock.json" "$stamp" 2>/dev/null; then
  echo "install-deps: npm ci in tests/server/clients"
  npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error
  cp "$clients/package-lock.json" "$stamp"
fi
