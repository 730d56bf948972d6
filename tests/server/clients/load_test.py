"""tests/server/clients/load_test.py — load test of a running `inhouse serve --parallel 4`
(INHOUSE_URL, model "plain"): 16 concurrent streaming clients for a bounded time (4 rounds of
5 s). Checks: every request is answered — its SSE stream well framed and ending in [DONE], or
a 503 with the uniform error body when the queue is full (counted and printed); greedy outputs
equal the same prompt run alone; no connection is reset before a response; resident memory (inhouse_resident_memory_bytes) does not grow
across rounds; a client that disconnects mid-stream gets its generation cancelled (busy slots
back to 0). No timing assertions: deadlines only bound how long we wait.
Run by run-tests.sh load.
"""
import asyncio
import json
import os
import sys
import time

import aiohttp

URL = os.environ["INHOUSE_URL"]
BUSY_URL = os.environ.get("INHOUSE_BUSY_URL")  # a server with one slot and one queue place
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "16"))
ROUNDS = int(os.environ.get("LOAD_ROUNDS", "4"))
ROUND_SECONDS = float(os.environ.get("LOAD_ROUND_SECONDS", "5"))
MAX_TOKENS = 16
PROMPTS = ["Once upon a time", "The quick brown fox", "In the beginning", "Hello, my name is",
           "It was a dark and stormy night", "1, 2, 3,"]
TIMEOUT = aiohttp.ClientTimeout(total=300)
MiB = 1 << 20

passed = []
failures = []


def check(ok, what):
    if ok:
        print("ok -", what)
        passed.append(what)
    else:
        print("not ok -", what)
        failures.append(what)


class Outcome:
    def __init__(self, kind, text="", finish=None, detail=""):
        self.kind = kind  # "done", "busy" (503), "reset" (no response at all) or "broken"
        self.text, self.finish, self.detail = text, finish, detail


def parse_sse(raw):
    """Checks the framing of a /v1/completions stream; returns (text, finish, problem)."""
    if not raw.endswith("\n\n"):
        return "", None, "stream does not end with a blank line"
    datas = []
    for event in raw[:-2].split("\n\n"):
        lines = event.split("\n")
        if all(line.startswith(":") for line in lines):
            continue  # keep-alive comment
        if len(lines) != 1 or not lines[0].startswith("data: "):
            return "", None, "bad event %r" % event[:80]
        datas.append(lines[0][len("data: "):])
    if not datas or datas[-1] != "[DONE]" or datas.count("[DONE]") != 1:
        return "", None, "stream does not end with exactly one [DONE]"
    text, finish, ids = "", None, set()
    for d in datas[:-1]:
        try:
            chunk = json.loads(d)
        except ValueError:
            return "", None, "event is not JSON: %r" % d[:80]
        if "error" in chunk:
            return "", None, "error event %r" % d[:200]
        ids.add(chunk["id"])
        choice = chunk["choices"][0]
        if finish is not None:
            return "", None, "text after finish_reason"
        text += choice["text"]
        finish = choice["finish_reason"]
    if len(ids) != 1:
        return "", None, "%d different ids in one stream" % len(ids)
    if finish not in ("stop", "length"):
        return "", None, "finish_reason %r" % finish
    return text, finish, ""


async def stream_completion(session, prompt):
    body = {"model": "plain", "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True}
    try:
        r = await session.post(URL + "/v1/completions", json=body)
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as e:
        # No response at all: the connection was refused or reset before any byte came back.
        return Outcome("reset", detail="%s: %s" % (type(e).__name__, e))
    except asyncio.TimeoutError as e:
        return Outcome("broken", detail="timeout before the response: %s" % e)
    try:
        async with r:
            raw = (await r.read()).decode("utf-8")
            if r.status == 503:
                err = json.loads(raw).get("error", {})
                if err.get("code") == 503 and isinstance(err.get("message"), str):
                    return Outcome("busy")
                return Outcome("broken", detail="503 without the uniform body: %r" % raw[:200])
            if r.status != 200:
                return Outcome("broken", detail="HTTP %d: %r" % (r.status, raw[:200]))
            if not r.headers.get("Content-Type", "").startswith("text/event-stream"):
                return Outcome("broken", detail="content type %r" % r.headers.get("Content-Type"))
    except (aiohttp.ClientError, asyncio.TimeoutError, UnicodeDecodeError, ValueError) as e:
        return Outcome("broken", detail="%s: %s" % (type(e).__name__, e))
    text, finish, problem = parse_sse(raw)
    return Outcome("broken", detail=problem) if problem else Outcome("done", text, finish)


async def metrics(session):
    async with session.get(URL + "/metrics") as r:
        text = await r.text()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def wait_idle(session, deadline_s):
    """Polls /metrics until no slot is busy and nothing is queued; returns seconds waited or None."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        m = await metrics(session)
        if m.get("inhouse_busy_slots") == 0 and m.get("inhouse_queue_length") == 0:
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    return None


async def baseline(session):
    """Each prompt alone: the greedy answers the loaded server must reproduce."""
    expected = {}
    for p in PROMPTS:
        o = await stream_completion(session, p)
        check(o.kind == "done", "alone: %r answered (%s)" % (p, o.detail or o.finish))
        expected[p] = o.text
    return expected


async def load_round(session, expected, counts, mismatches):
    deadline = time.monotonic() + ROUND_SECONDS

    async def worker(i):
        n = 0
        while time.monotonic() < deadline:
            prompt = PROMPTS[(i + n) % len(PROMPTS)]
            n += 1
            o = await stream_completion(session, prompt)
            counts[o.kind] = counts.get(o.kind, 0) + 1
            if o.kind in ("broken", "reset"):
                print("  %s (%r): %s" % ("broken stream" if o.kind == "broken" else "no response", prompt, o.detail))
            elif o.kind == "done" and o.text != expected[prompt]:
                mismatches.append((prompt, expected[prompt], o.text))
            elif o.kind == "busy":
                await asyncio.sleep(0.2)

    await asyncio.gather(*(worker(i) for i in range(CLIENTS)))


# Greedy, this prompt runs to max_tokens without meeting EOS. Sanitized builds are ~20x slower.
LONG = {"model": "plain", "prompt": "Tell me a long story.", "temperature": 0,
        "max_tokens": 200 if os.environ.get("INHOUSE_SANITIZED") else 1000}


async def time_to_the_end(session):
    """Runs LONG to the end; returns seconds (greedy: it runs to max_tokens, not EOS)."""
    start = time.monotonic()
    async with session.post(URL + "/v1/completions", json=LONG) as r:
        body = await r.json()
    took = time.monotonic() - start
    check(r.status == 200 and body["choices"][0]["finish_reason"] == "length",
          "reference: the long request runs to max_tokens (%d tokens in %.1f s)"
          % (body.get("usage", {}).get("completion_tokens", -1), took))
    return took


async def disconnect_mid_stream(session, full_s):
    """Opens LONG as a stream, reads a few events and drops the connection: the generation must be
    cancelled, so the slot is free long before the request could have run to its end."""
    conn = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=conn) as own:
        r = await own.post(URL + "/v1/completions", json=dict(LONG, stream=True))
        check(r.status == 200, "long stream started")
        events = 0
        async for line in r.content:
            if line.startswith(b"data: "):
                events += 1
                if events == 3:
                    break
        busy = (await metrics(session)).get("inhouse_busy_slots", 0)
        r.close()  # drops the connection mid-stream
    waited = await wait_idle(session, 60)
    check(waited is not None and waited < full_s,
          "streaming client disconnects: generation cancelled (busy while streaming: %d; slot free %.2f s "
          "after the disconnect; running to the end takes %.1f s)" % (busy, waited if waited is not None else -1, full_s))


async def disconnect_while_waiting(session, full_s):
    """The same for a non-streaming request whose client gives up: the server notices the closed
    connection in the kernel's TCP table (cpp-httplib 0.11 does not tell handlers) and cancels."""
    try:
        async with session.post(URL + "/v1/completions", json=LONG, timeout=aiohttp.ClientTimeout(total=0.3)) as r:
            await r.read()
    except asyncio.TimeoutError:
        pass
    waited = await wait_idle(session, 60)
    cancelled = waited is not None and waited < full_s / 2
    check(cancelled, "non-streaming client disconnects: generation cancelled (slot free %.2f s after; the "
              "end takes %.1f s)" % (waited if waited is not None else -1, full_s))


async def queue_full(session):
    """6 long requests at once against 1 slot + 1 queue place: the ones that do not fit get the
    uniform 503 with Retry-After, the others complete (how many of each depends on timing)."""
    async def one():
        async with session.post(BUSY_URL + "/v1/completions", json=dict(LONG, max_tokens=LONG["max_tokens"] // 2)) as r:
            return r.status, r.headers.get("Retry-After"), await r.text()

    results = await asyncio.gather(*(one() for _ in range(6)))
    statuses = sorted(r[0] for r in results)
    check(set(statuses) == {200, 503}, "queue full: some answered, the rest refused with 503 (%s)" % statuses)
    for status, retry_after, text in results:
        if status == 503:
            err = json.loads(text)["error"]
            check(err["code"] == 503 and "queue" in err["message"] and retry_after is not None
                  and err.get("retry_after") == int(retry_after),
                  "503 has the uniform body and Retry-After (%s, Retry-After %s)" % (text, retry_after))
            break


async def main():
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=0)) as session:
        expected = await baseline(session)
        before = await metrics(session)
        rss = []
        counts, mismatches = {}, []
        for round_no in range(ROUNDS):
            round_counts = {}
            await load_round(session, expected, round_counts, mismatches)
            idle = await wait_idle(session, 60)
            check(idle is not None, "round %d: the server drains to idle" % (round_no + 1))
            m = await metrics(session)
            rss.append(m["inhouse_resident_memory_bytes"])
            print("  round %d: %s, RSS %.1f MiB" % (round_no + 1, round_counts, rss[-1] / MiB))
            for k, v in round_counts.items():
                counts[k] = counts.get(k, 0) + v
        after = await metrics(session)

        answered = counts.get("done", 0) + counts.get("busy", 0)
        print("  %d clients, %d rounds of %.0f s: %d streams completed, %d answered 503 (queue full), "
              "%d broken, %d connections reset before any response" % (
                  CLIENTS, ROUNDS, ROUND_SECONDS, counts.get("done", 0), counts.get("busy", 0),
                  counts.get("broken", 0), counts.get("reset", 0)))
        check(answered > 0 and counts.get("broken", 0) == 0,
              "every response is complete: [DONE] or a uniform 503, no broken stream")
        # The server raises the listen backlog after binding (Debian's cpp-httplib uses 5), so a
        # burst of new connections is queued, not reset.
        check(counts.get("reset", 0) == 0,
                  "no connection reset before a response (%d reset)" % counts.get("reset", 0))
        check(counts.get("done", 0) >= CLIENTS, "at least one completed stream per client")
        for prompt, want, got in mismatches[:5]:
            print("  mismatch for %r:\n    alone:  %r\n    loaded: %r" % (prompt, want, got))
        check(not mismatches, "greedy outputs under load equal the prompt run alone (%d differ)" % len(mismatches))
        # Memory: the first round warms allocators and slot buffers up; later rounds must not keep
        # growing. Allow 20% or 16 MiB of noise over the first round.
        limit = rss[0] + max(16 * MiB, 0.2 * rss[0])
        rss_text = ", ".join("%.1f" % (r / MiB) for r in rss)
        if os.environ.get("INHOUSE_SANITIZED"):
            print("  resident memory across rounds (MiB): %s; not bounded under a sanitizer (quarantine)" % rss_text)
        else:
            check(max(rss[1:] or rss) <= limit,
                  "resident memory bounded across rounds (MiB: %s, limit %.1f)" % (rss_text, limit / MiB))
        generated = after.get('inhouse_generated_tokens_total{model="plain"}', 0) - \
            before.get('inhouse_generated_tokens_total{model="plain"}', 0)
        check(generated >= counts.get("done", 0), "generated tokens counted in /metrics (%d)" % generated)
        full_s = await time_to_the_end(session)
        await disconnect_mid_stream(session, full_s)
        await disconnect_while_waiting(session, full_s)
        if BUSY_URL:
            await queue_full(session)
        status = 0
        async with session.get(URL + "/health") as r:
            status = r.status
        check(status == 200, "the server is healthy at the end")
    print("%d passed, %d failed" % (len(passed), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
