"""bench/server/bench_client.py — aggregate decode throughput of a running `inhouse serve` at
several numbers of concurrent streams (run by scripts/bench-server.sh, which starts the server).

Each stream sends `--requests` streamed /v1/completions requests one after another (temperature 0,
fixed max_tokens, its own prompt, the same for all its requests). Before the timed sets every
stream's prompt is run once (max_tokens 1) so that it sits in a slot's KV cache: the timed requests
then prefill a single token and the numbers measure decode, which is what batching changes.
(`--cold-prompts` skips that: each set then also pays for prefilling every prompt, which with a
synthetic model's vocabulary is ~90 tokens each and dominates short requests.) For each concurrency
the whole set is repeated `--reps` times and the median repetition is reported: aggregate tok/s =
completion tokens of all streams / wall-clock time of the set; per-request tok/s = median over
requests of tokens / (request end - request start), queueing and prompt included (token arrival
times are not used: a fast model's deltas arrive in bursts); TTFT = median time to the first token.
Prints a Markdown table on stdout.
"""
import argparse
import asyncio
import json
import statistics
import sys
import time

import aiohttp


async def one_request(session, url, model, prompt, max_tokens):
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.monotonic()
    first = None
    usage = None
    async with session.post(url + "/v1/completions", json=body) as r:
        if r.status != 200:
            raise RuntimeError("HTTP %d: %s" % (r.status, (await r.text())[:300]))
        async for line in r.content:
            if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            if chunk["choices"] and chunk["choices"][0]["text"] and first is None:
                first = time.monotonic()
    end = time.monotonic()
    tokens = usage["completion_tokens"] if usage else 0
    ttft = (first - start) if first else float("nan")
    return tokens, ttft, tokens / (end - start)


def stream_prompt(i):
    return "Story %d: tell me a long story about a dragon and a knight." % i


async def prime(url, model, streams):
    """Runs each stream's prompt once, one after another, so each is cached in its own slot."""
    async with aiohttp.ClientSession() as session:
        for i in range(streams):
            await one_request(session, url, model, stream_prompt(i), 1)


async def run_set(url, model, streams, requests, max_tokens):
    """`streams` concurrent streams of `requests` requests each; returns (tokens, wall, ttfts, rates)."""
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        results = []

        async def stream(i):
            for _ in range(requests):
                results.append(await one_request(session, url, model, stream_prompt(i), max_tokens))

        start = time.monotonic()
        await asyncio.gather(*(stream(i) for i in range(streams)))
        wall = time.monotonic() - start
    tokens = sum(r[0] for r in results)
    return tokens, wall, [r[1] for r in results], [r[2] for r in results]


def median(xs):
    xs = [x for x in xs if x == x]  # drop NaN
    return statistics.median(xs) if xs else float("nan")


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", default="1,4,8")
    ap.add_argument("--requests", type=int, default=2, help="requests per stream")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cold-prompts", action="store_true", help="do not cache the prompts first")
    args = ap.parse_args()

    concurrency = [int(x) for x in args.concurrency.split(",")]
    await run_set(args.url, args.model, 1, 1, 8)  # warm-up: page in the weights
    if not args.cold_prompts:
        await prime(args.url, args.model, max(concurrency))
    rows = []
    for c in concurrency:
        reps = []
        for _ in range(args.reps):
            tokens, wall, ttfts, rates = await run_set(args.url, args.model, c, args.requests, args.max_tokens)
            reps.append((tokens / wall, tokens, wall, median(ttfts), median(rates)))
        reps.sort()
        agg, tokens, wall, ttft, rate = reps[len(reps) // 2]  # the median repetition
        rows.append((c, tokens, wall, agg, [r[0] for r in reps], rate, ttft))
        print("  %d streams: %.1f tok/s aggregate (reps: %s)" % (c, agg, ", ".join("%.1f" % r[0] for r in reps)),
              file=sys.stderr)

    base = rows[0][3]
    print("| streams | tokens | wall s | aggregate tok/s (median of %d) | min-max | per-request tok/s | "
          "TTFT ms | vs %d stream%s |" % (args.reps, rows[0][0], "" if rows[0][0] == 1 else "s"))
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c, tokens, wall, agg, all_aggs, rate, ttft in rows:
        print("| %d | %d | %.2f | %.1f | %.1f-%.1f | %.1f | %.0f | %.2fx |"
              % (c, tokens, wall, agg, min(all_aggs), max(all_aggs), rate, ttft * 1000, agg / base))


if __name__ == "__main__":
    asyncio.run(main())
