# tests/server/clients/lib.sh — sourced by run-tests.sh and scripts/bench-server.sh: starting
# `inhouse serve` on a free port, waiting until it listens, and stopping everything this shell
# started (by pid) when it exits.

CLIENTS_PIDS=()
CLIENTS_WORK=""

# A private scratch directory, removed (after the started processes are stopped) on exit.
clients_init() {
  CLIENTS_WORK=$(mktemp -d "${TMPDIR:-/tmp}/inhouse-clients.XXXXXX")
  trap clients_cleanup EXIT
  trap 'exit 130' INT TERM
}

clients_cleanup() {
  local pid
  for pid in "${CLIENTS_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CLIENTS_PIDS[@]}"; do
    # Give each process up to 10 s to stop cleanly, then kill it.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  CLIENTS_PIDS=()
  # A sanitizer report in any server's log fails the suite, whatever the clients saw.
  local reports=""
  if [[ -n "$CLIENTS_WORK" ]]; then
    reports=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' \
      "$CLIENTS_WORK"/*.log 2>/dev/null || true)
  fi
  if [[ -n "$reports" ]]; then
    echo "FAIL: sanitizer reports in the server logs:" >&2
    for f in $reports; do
      echo "== $f" >&2
      head -n 60 "$f" >&2
    done
  fi
  if [[ -n "$CLIENTS_WORK" && -z "${KEEP_WORK:-}" ]]; then rm -rf "$CLIENTS_WORK"; fi
  if [[ -n "$reports" ]]; then exit 1; fi
}

# start_server NAME ARGS... — runs `inhouse serve --port 0 ARGS...` with its stderr in
# $CLIENTS_WORK/NAME.log; sets SERVER_URL (http[s]://HOST:PORT) and SERVER_PID. Fails, showing
# the log, if the server exits or does not listen within 120 s (model loading on a busy machine).
start_server() {
  local name=$1
  shift
  local log="$CLIENTS_WORK/$name.log"
  : >"$log"  # exists before the background job opens it: the loop below reads it at once
  "$INHOUSE" serve --port 0 "$@" >"$CLIENTS_WORK/$name.out" 2>"$log" &
  SERVER_PID=$!
  CLIENTS_PIDS+=("$SERVER_PID")
  SERVER_URL=""
  for _ in $(seq 1 1200); do
    SERVER_URL=$(sed -n 's|.*listening on \(https\{0,1\}://[^ ]*\).*|\1|p' "$log" | head -n 1) || true
    [[ -n "$SERVER_URL" ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "FAIL: inhouse serve ($name) exited before listening:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "FAIL: inhouse serve ($name) did not listen within 120 s:" >&2
  cat "$log" >&2
  return 1
}

# stop_server PID — SIGTERM, then wait for it to exit (inhouse serve stops on SIGTERM).
stop_server() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# A TCP port nobody listens on right now (for servers without a --port 0, like prometheus).
free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- checks for the shell suites ---------------------------------------------------------------

CHECKS_PASSED=0
CHECKS_FAILED=0

pass() {
  CHECKS_PASSED=$((CHECKS_PASSED + 1))
  echo "ok - $1"
}

fail() {
  CHECKS_FAILED=$((CHECKS_FAILED + 1))
  echo "not ok - $1"
}

expect_eq() {  # expect_eq WHAT GOT WANT
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

expect_contains() {  # expect_contains WHAT TEXT PART
  if [[ "$2" == *"$3"* ]]; then pass "$1"; else fail "$1: '$2' does not contain '$3'"; fi
}

# jget JSON EXPR — evaluates the Python expression EXPR with j = the parsed JSON; prints strings
# as they are and anything else as JSON; prints <not json> or <missing> when it cannot.
jget() {
  "$PYTHON" -c '
import json, sys
try:
    j = json.loads(sys.argv[1])
except ValueError:
    print("<not json>"); sys.exit()
try:
    v = eval(sys.argv[2])
except (KeyError, IndexError, TypeError):
    print("<missing>"); sys.exit()
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# expect_error WHAT STATUS BODY WANT_STATUS [MESSAGE_PART] — an HTTP error with the uniform body
# {"error": {"code": WANT_STATUS, "message": "...MESSAGE_PART..."}}.
expect_error() {
  local what=$1 status=$2 body=$3 want=$4 part=${5:-}
  expect_eq "$what: HTTP status" "$status" "$want"
  expect_eq "$what: error.code" "$(jget "$body" 'j["error"]["code"]')" "$want"
  local message
  message=$(jget "$body" 'j["error"]["message"]')
  if [[ "$message" == "<"* || -z "$message" ]]; then
    fail "$what: no error.message in $body"
  elif [[ -n "$part" ]]; then
    expect_contains "$what: error.message" "$message" "$part"
  else
    pass "$what: error.message '$message'"
  fi
}

# known_bug WHAT OK-COMMAND... — a check that documents a reported server bug: it is printed as
# "not ok ... # TODO" while the bug is there, "ok ... (known bug fixed: make it a plain check)"
# once it is gone, and never fails the suite.
known_bug() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what (known bug fixed: turn this into a plain check)"; else echo "not ok - $what # TODO known bug"; fi
}

# Prints the closing line ctest's log and CI read, and fails the suite when a check failed.
checks_done() {
  echo "$CHECKS_PASSED passed, $CHECKS_FAILED failed"
  [[ $CHECKS_FAILED -eq 0 ]]
}

# request METHOD URL [CURL ARGS...] — sets STATUS (000 when no HTTP answer), BODY, HEADERS and
# CURL_RC (curl's exit status: 60 = certificate not trusted, 7 = connection refused).
request() {
  local method=$1 url=$2
  shift 2
  CURL_RC=0
  STATUS=$(curl -sS -X "$method" -o "$CLIENTS_WORK/body" -D "$CLIENTS_WORK/headers" -w '%{http_code}' \
    --max-time 120 "$@" "$url" 2>"$CLIENTS_WORK/curl.err") || CURL_RC=$?
  BODY=$(cat "$CLIENTS_WORK/body" 2>/dev/null || true)
  HEADERS=$(tr -d '\r' <"$CLIENTS_WORK/headers" 2>/dev/null || true)
}

post_json() {  # post_json URL JSON [CURL ARGS...]
  local url=$1 json=$2
  shift 2
  request POST "$url" -H 'Content-Type: application/json' --data-binary "$json" "$@"
}
