# tests/server/clients/tls_test.sh — sourced by run-tests.sh (suite "tls"): a self-signed
# certificate made with the openssl CLI at test time; HTTPS works with curl --cacert (plain
# requests and a streamed completion), an unverified certificate and plain HTTP are refused,
# and a key that does not match the certificate stops the server at startup with a clear error.

TLS=$CLIENTS_WORK/tls
mkdir -p "$TLS"
make_cert() {  # make_cert NAME — NAME.pem / NAME.key for localhost and 127.0.0.1, valid 1 day
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TLS/$1.key" -out "$TLS/$1.pem" 2>"$TLS/$1.openssl.log"
}
make_cert server || { cat "$TLS/server.openssl.log"; fail "openssl could not make a certificate"; }
make_cert other

start_server tls --model "chat=$CHAT_MODEL" --parallel 1 --ctx 256 --threads 1 \
  --tls-cert "$TLS/server.pem" --tls-key "$TLS/server.key"
expect_contains "announces https" "$SERVER_URL" "https://"
URL=$SERVER_URL
PLAIN_URL=${URL/https:/http:}

echo "# HTTPS with the certificate as CA"
request GET "$URL/health" --cacert "$TLS/server.pem"
expect_eq "GET /health over https" "$STATUS" 200
expect_eq "health body over https" "$(jget "$BODY" 'j["status"]')" ok
post_json "$URL/v1/chat/completions" \
  '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0,"stream":true}' \
  -N --cacert "$TLS/server.pem"
expect_eq "streamed completion over https" "$STATUS" 200
expect_eq "stream over https ends with [DONE]" "$(grep '^data: ' "$CLIENTS_WORK/body" | tail -n 1)" "data: [DONE]"
post_json "$URL/v1/chat/completions" '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}' \
  --cacert "$TLS/server.pem" --http1.1 --tlsv1.2
expect_eq "completion over https (TLS 1.2+)" "$STATUS" 200

echo "# refused: unknown CA, another CA, plain HTTP"
request GET "$URL/health"
expect_eq "no --cacert: certificate not trusted (curl exit 60)" "$STATUS/$CURL_RC" 000/60
request GET "$URL/health" --cacert "$TLS/other.pem"
expect_eq "wrong CA: certificate not trusted (curl exit 60)" "$STATUS/$CURL_RC" 000/60
request GET "$PLAIN_URL/health" --max-time 20
if [[ "$STATUS" == 2* || $CURL_RC -eq 7 || $CURL_RC -eq 28 ]]; then
  fail "plain http to the TLS port: status $STATUS, curl exit $CURL_RC ($(cat "$CLIENTS_WORK/curl.err"))"
else
  pass "plain http to the TLS port gets no HTTP answer (status $STATUS, curl exit $CURL_RC)"
fi

echo "# the server still serves TLS after those"
request GET "$URL/health" --cacert "$TLS/server.pem"
expect_eq "GET /health over https again" "$STATUS" 200
stop_server "$SERVER_PID"

echo "# a key that does not match the certificate is refused at startup"
"$INHOUSE" serve --port 0 --model "chat=$CHAT_MODEL" --ctx 256 --threads 1 \
  --tls-cert "$TLS/server.pem" --tls-key "$TLS/other.key" >"$TLS/mismatch.out" 2>"$TLS/mismatch.log" &
mismatch_pid=$!
CLIENTS_PIDS+=("$mismatch_pid")
for _ in $(seq 1 600); do  # it must exit on its own within 60 s
  kill -0 "$mismatch_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$mismatch_pid" 2>/dev/null; then
  fail "mismatched key: the server kept running ($(cat "$TLS/mismatch.log"))"
else
  rc=0
  wait "$mismatch_pid" || rc=$?
  if [[ $rc -ne 0 ]]; then pass "mismatched key: exit status $rc"; else fail "mismatched key: exit status 0"; fi
  expect_contains "mismatched key: the error names TLS" "$(cat "$TLS/mismatch.log")" "TLS"
fi

checks_done
