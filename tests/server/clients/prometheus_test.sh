# tests/server/clients/prometheus_test.sh — sourced by run-tests.sh (suite "prometheus") with
# SERVER_URL set: `promtool check metrics` accepts /metrics, and Debian's Prometheus server,
# scraping the inhouse server every second, reports the target up and can query its series.

URL=$SERVER_URL
HOSTPORT=${URL#http://}

echo "# /metrics is valid Prometheus text exposition"
post_json "$URL/v1/chat/completions" '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}'
expect_eq "a completion before scraping" "$STATUS" 200
request GET "$URL/metrics"
expect_eq "GET /metrics" "$STATUS" 200
expect_contains "metrics content type" "$(grep -i '^content-type:' <<<"$HEADERS")" "text/plain; version=0.0.4"
cp "$CLIENTS_WORK/body" "$CLIENTS_WORK/metrics.txt"
# promtool exits non-zero only on parse errors; its lint findings are printed for the log.
if lint=$(promtool check metrics <"$CLIENTS_WORK/metrics.txt" 2>&1); then
  pass "promtool check metrics${lint:+ (lint: $(tr '\n' ' ' <<<"$lint"))}"
else
  fail "promtool check metrics: $lint"
fi
for series in inhouse_requests_total inhouse_busy_slots inhouse_resident_memory_bytes \
    inhouse_time_to_first_token_seconds_bucket inhouse_generated_tokens_total; do
  if grep -q "^$series" "$CLIENTS_WORK/metrics.txt"; then pass "exposes $series"; else fail "no $series in /metrics"; fi
done

echo "# Prometheus scrapes the server"
PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
cat >"$CLIENTS_WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: inhouse
    static_configs:
      - targets: ["$HOSTPORT"]
YAML
promtool check config "$CLIENTS_WORK/prometheus.yml" >/dev/null 2>&1 ||
  fail "promtool rejects the generated config"
prometheus --config.file="$CLIENTS_WORK/prometheus.yml" --storage.tsdb.path="$CLIENTS_WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$CLIENTS_WORK/prom.log" 2>&1 &
PROM_PID=$!
CLIENTS_PIDS+=("$PROM_PID")

# prom_query PROMQL — prints the first sample's value, or nothing.
prom_query() {
  local out
  out=$(curl -sS --max-time 10 -G "$PROM/api/v1/query" --data-urlencode "query=$1" 2>/dev/null) || return 0
  jget "$out" 'j["data"]["result"][0]["value"][1]' | grep -v '^<' || true
}

# wait_for WHAT PROMQL WANT — polls up to 90 s (startup of Prometheus on a busy machine).
wait_for() {
  local what=$1 query=$2 want=$3 got=""
  for _ in $(seq 1 180); do
    got=$(prom_query "$query")
    if [[ -n "$got" && ( "$want" == "*" || "$got" == "$want" ) ]]; then
      pass "$what ($query = $got)"
      return 0
    fi
    kill -0 "$PROM_PID" 2>/dev/null || break
    sleep 0.5
  done
  fail "$what: $query = '$got' (want $want); prometheus log tail: $(tail -n 5 "$CLIENTS_WORK/prom.log")"
}

wait_for "target up" 'up{job="inhouse"}' 1
targets=$(curl -sS --max-time 10 "$PROM/api/v1/targets" 2>/dev/null || true)
expect_eq "targets API reports health" "$(jget "$targets" 'j["data"]["activeTargets"][0]["health"]')" up
wait_for "inhouse_requests_total is queryable" 'sum(inhouse_requests_total{route="/v1/chat/completions",status="200"})' '*'
wait_for "generated tokens were counted" 'sum(inhouse_generated_tokens_total) > 0' '*'
wait_for "time-to-first-token histogram" 'sum(inhouse_time_to_first_token_seconds_count)' '*'
wait_for "slots gauge" 'inhouse_slots' 1

echo "# shut both down"
stop_server "$PROM_PID"
stop_server "$SERVER_PID"
# start_server logged the inhouse server's stderr to prometheus.log.
expect_contains "inhouse serve stopped on SIGTERM" "$(tail -n 1 "$CLIENTS_WORK/prometheus.log")" "inhouse serve: stopped"

checks_done
