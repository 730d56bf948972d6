# tests/server/clients/curl_test.sh — sourced by run-tests.sh (suite "curl") with SERVER_URL set
# to a server whose max_body_bytes is 4096: SSE framing on the wire, request size limits, the
# uniform JSON error body for unknown routes, malformed JSON and wrong field types.

URL=$SERVER_URL

echo "# GET /health"
request GET "$URL/health"
expect_eq "health status" "$STATUS" 200
expect_eq "health body" "$(jget "$BODY" 'j["status"]')" ok

echo "# SSE framing of a streamed chat completion"
post_json "$URL/v1/chat/completions" \
  '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":12,"temperature":0,
    "stream":true,"stream_options":{"include_usage":true}}' -N
expect_eq "stream status" "$STATUS" 200
expect_contains "stream content type" "$(grep -i '^content-type:' <<<"$HEADERS")" "text/event-stream"
# Every event is one "data: ..." line (or a ": comment") followed by a blank line; the last is
# [DONE]; all but [DONE] are JSON chunks.
sse_report=$("$PYTHON" - "$CLIENTS_WORK/body" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8")
problems = []
if not raw.endswith("\n\n"):
    problems.append("stream does not end with a blank line")
events = [e for e in raw.split("\n\n") if e]
datas = []
for e in events:
    lines = e.split("\n")
    if all(l.startswith(":") for l in lines):
        continue  # keep-alive comment
    if len(lines) != 1 or not lines[0].startswith("data: "):
        problems.append("bad event %r" % e[:80])
        continue
    datas.append(lines[0][len("data: "):])
if not datas or datas[-1] != "[DONE]":
    problems.append("last event is not [DONE]")
chunks = []
for d in datas[:-1]:
    try:
        chunks.append(json.loads(d))
    except ValueError:
        problems.append("event is not JSON: %r" % d[:80])
if datas.count("[DONE]") != 1:
    problems.append("[DONE] appears %d times" % datas.count("[DONE]"))
ids = {c.get("id") for c in chunks}
if len(ids) != 1:
    problems.append("chunks carry %d different ids" % len(ids))
if chunks and chunks[0]["choices"][0]["delta"].get("role") != "assistant":
    problems.append("first chunk does not carry the assistant role")
finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
if finishes not in (["stop"], ["length"]):
    problems.append("finish reasons %r" % finishes)
if not chunks or chunks[-1]["choices"] != [] or "usage" not in chunks[-1]:
    problems.append("last chunk is not the usage chunk")
print("; ".join(problems) if problems else "ok %d events" % len(datas))
PY
) || true
expect_contains "SSE framing" "$sse_report" "ok "

echo "# SSE framing of /api/v1/chat and NDJSON framing of /api/chat"
post_json "$URL/api/v1/chat" '{"prompt":"Hi","max_tokens":6,"temperature":0,"stream":true}' -N
expect_eq "/api/v1/chat stream status" "$STATUS" 200
last_event=$(grep '^data: ' "$CLIENTS_WORK/body" | tail -n 1 | sed 's/^data: //') || true
expect_eq "/api/v1/chat last event is done" "$(jget "$last_event" 'j["done"]')" true
post_json "$URL/api/chat" '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"options":{"num_predict":6}}' -N
expect_eq "/api/chat stream status" "$STATUS" 200
ndjson_report=$("$PYTHON" - "$CLIENTS_WORK/body" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
if lines[-1] != "":
    print("does not end with a newline"); sys.exit()
parts = [json.loads(l) for l in lines[:-1]]
done = [p["done"] for p in parts]
print("ok" if done and done[-1] and not any(done[:-1]) else "done flags %r" % done)
PY
) || true
expect_eq "/api/chat NDJSON framing" "$ndjson_report" ok

echo "# 413 for bodies over max_body_bytes (4096)"
head -c 8192 /dev/zero | tr '\0' 'a' >"$CLIENTS_WORK/big.txt"
{ printf '{"model":"chat","prompt":"'; cat "$CLIENTS_WORK/big.txt"; printf '"}'; } >"$CLIENTS_WORK/big.json"
request POST "$URL/v1/completions" -H 'Content-Type: application/json' --data-binary "@$CLIENTS_WORK/big.json"
expect_error "oversized body" "$STATUS" "$BODY" 413
# Chunked request bodies are refused before they are read (411), so the size limit cannot be
# bypassed without a Content-Length.
request POST "$URL/v1/completions" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
  --data-binary "@$CLIENTS_WORK/big.json"
expect_error "chunked body" "$STATUS" "$BODY" 411 "Content-Length"
post_json "$URL/v1/completions" '{"model":"plain","prompt":"a small body still works","max_tokens":2}'
expect_eq "small body after the big ones" "$STATUS" 200

echo "# 404 with a JSON body for unknown routes"
request GET "$URL/v1/nope"
expect_error "GET unknown route" "$STATUS" "$BODY" 404
expect_contains "404 content type" "$(grep -i '^content-type:' <<<"$HEADERS")" "application/json"
post_json "$URL/api/nothing/here" '{}'
expect_error "POST unknown route" "$STATUS" "$BODY" 404

request GET "$URL/v1/chat/completions"
if [[ "$STATUS" == 404 || "$STATUS" == 405 ]]; then pass "GET on a POST route: $STATUS"; else fail "GET on a POST route: $STATUS"; fi
expect_eq "GET on a POST route: error.code" "$(jget "$BODY" 'j["error"]["code"]')" "$STATUS"

echo "# malformed JSON -> 400 naming the problem"
post_json "$URL/v1/chat/completions" '{"model": "chat", "messages": ['
expect_error "truncated JSON" "$STATUS" "$BODY" 400 "not valid JSON"
post_json "$URL/api/generate" 'model=plain&prompt=hi'
expect_error "form body instead of JSON" "$STATUS" "$BODY" 400 "not valid JSON"
post_json "$URL/v1/completions" '["model", "plain"]'
expect_error "JSON array instead of object" "$STATUS" "$BODY" 400 "JSON object"
request POST "$URL/v1/embeddings" -H 'Content-Type: application/json' --data-binary ''
expect_error "empty body" "$STATUS" "$BODY" 400 "JSON"
# A POST with neither Content-Length nor Transfer-Encoding is answered at once with 411 (not after
# the 60 s read timeout, holding a connection thread).
request POST "$URL/v1/embeddings" --max-time 5
expect_error "POST without Content-Length" "$STATUS" "$BODY" 411 "Content-Length"

echo "# wrong field types -> 400 naming the field"
post_json "$URL/v1/chat/completions" '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":"ten"}'
expect_error "max_tokens as a string" "$STATUS" "$BODY" 400 "max_tokens"
post_json "$URL/v1/chat/completions" '{"model":"chat","messages":"Hi"}'
expect_error "messages as a string" "$STATUS" "$BODY" 400 "messages"
post_json "$URL/v1/chat/completions" '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"temperature":"hot"}'
expect_error "temperature as a string" "$STATUS" "$BODY" 400 "temperature"
post_json "$URL/v1/chat/completions" '{"model":"chat","messages":[{"role":"user","content":"Hi"}],"stream":"yes"}'
expect_error "stream as a string" "$STATUS" "$BODY" 400 "stream"
post_json "$URL/v1/completions" '{"model":7,"prompt":"Hi"}'
expect_error "model as a number" "$STATUS" "$BODY" 400 "model"
post_json "$URL/v1/completions" '{"model":"plain","prompt":"Hi","stop":[1,2]}'
expect_error "stop as numbers" "$STATUS" "$BODY" 400 "stop"
post_json "$URL/api/generate" '{"model":"plain","prompt":5}'
expect_error "/api/generate prompt as a number" "$STATUS" "$BODY" 400 "prompt"
post_json "$URL/api/generate" '{"model":"plain","prompt":"Hi","options":{"num_predict":"many"}}'
expect_error "/api/generate num_predict as a string" "$STATUS" "$BODY" 400 "num_predict"
post_json "$URL/v1/embeddings" '{"model":"embed","input":5}'
expect_error "/v1/embeddings input as a number" "$STATUS" "$BODY" 400 "input"
post_json "$URL/api/v1/chat" '{"prompt":["Hi"]}'
expect_error "/api/v1/chat prompt as an array" "$STATUS" "$BODY" 400 "prompt"

echo "# the server still answers after all that"
request GET "$URL/health"
expect_eq "health after the bad requests" "$STATUS" 200

checks_done
