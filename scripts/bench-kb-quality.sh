#!/usr/bin/env bash
# Retrieval quality of `inhouse kb search` on a labelled question set: recall@k and MRR for the
# vector, keyword and hybrid modes.
#
#   scripts/bench-kb-quality.sh [options] path/to/inhouse
#
# It builds a knowledge base of SQLite's HTML documentation (Debian package sqlite3-doc, public
# domain) in a temporary data directory, asks every question of bench/kb/sqlite-doc-queries.tsv
# in each mode, and scores the hits: a question counts as found when one of its pages (compared
# as paths relative to the documentation folder) is among the top k hits; MRR averages 1/rank of
# the first such hit (0 when none). Needs /usr/bin/python3 (standard library only).
#
# Options:
#   --model FILE      embedding model (default tests/data/models/bert-tiny-q8_0.gguf, a random-
#                     weight model: its vectors mean nothing, so expect chance-level vector recall)
#   --docs DIR        documentation folder (default /usr/share/doc/sqlite3)
#   --queries TSV     question set (default bench/kb/sqlite-doc-queries.tsv)
#   -k N              hits per question (default 10)
#   --modes LIST      comma-separated (default vector,keyword,hybrid)
#   --keep DIR        keep the data directory and raw results in DIR (default: a temp dir, removed)
#   --score-only DIR  only score results saved earlier by --keep (DIR/results/MODE/NNN.json)
#   --check-only      only check the question set against the pages (files exist, evidence matches)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL="$ROOT/tests/data/models/bert-tiny-q8_0.gguf"
DOCS=/usr/share/doc/sqlite3
QUERIES="$ROOT/bench/kb/sqlite-doc-queries.tsv"
K=10
MODES=vector,keyword,hybrid
KEEP=""
SCORE_ONLY=""
CHECK_ONLY=0
BIN=""
PY=/usr/bin/python3
KB=sqlite-docs

die() { echo "bench-kb-quality: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --docs) DOCS=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    -k) K=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --score-only) SCORE_ONLY=$2; shift 2 ;;
    --check-only) CHECK_ONLY=1; shift ;;
    -h|--help) usage 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$BIN" ]] || die "one binary only"; BIN=$1; shift ;;
  esac
done

[[ -x "$PY" ]] || die "$PY not found (Debian's python3 is needed for scoring)"
[[ -f "$QUERIES" ]] || die "question set $QUERIES not found"
[[ "$K" =~ ^[1-9][0-9]*$ ]] || die "-k must be a positive integer"
IFS=, read -r -a MODE_LIST <<< "$MODES"
for m in "${MODE_LIST[@]}"; do
  [[ "$m" == vector || "$m" == keyword || "$m" == hybrid ]] || die "unknown mode '$m'"
done

# ---- the scorer (and question-set checker) --------------------------------------------------
# python3 - check TSV DOCS             → exit 1 when a page is missing or lacks its evidence
# python3 - list TSV                   → one question per line (for the search loop)
# python3 - score TSV DOCS RESULTS K MODES → the table
SCORER=$(cat <<'PYEOF'
import html, json, os, re, sys

def read_queries(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#") or line.startswith("query\t"):
                continue
            cols = line.split("\t")
            if len(cols) != 4:
                sys.exit(f"{path}:{n}: expected 4 tab-separated columns, got {len(cols)}")
            q, pages, kind, evidence = cols
            rows.append({"line": n, "query": q, "pages": [p.strip() for p in pages.split(",") if p.strip()],
                         "kind": kind, "evidence": evidence})
    if not rows:
        sys.exit(f"{path}: no questions")
    return rows

def page_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        s = f.read()
    s = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", s)
    return html.unescape(re.sub(r"<[^>]+>", " ", s))

def check(tsv, docs):
    problems = 0
    for r in read_queries(tsv):
        for p in r["pages"]:
            full = os.path.join(docs, p)
            if not os.path.isfile(full):
                print(f"line {r['line']}: {p} does not exist", file=sys.stderr)
                problems += 1
            elif not re.search(r["evidence"], page_text(full), re.I):
                print(f"line {r['line']}: {p} does not match /{r['evidence']}/", file=sys.stderr)
                problems += 1
    return problems

def relative(hit_path, docs):
    """A hit's path as the question set names pages: relative to docs when inside it."""
    real, base = os.path.realpath(hit_path), os.path.realpath(docs)
    if real.startswith(base + os.sep):
        return os.path.relpath(real, base)
    return os.path.basename(hit_path)

def score(tsv, docs, results, k, modes):
    rows = read_queries(tsv)
    kinds = sorted({r["kind"] for r in rows})
    counts = ", ".join("%d %s" % (sum(r["kind"] == x for r in rows), x) for x in kinds)
    print(f"{len(rows)} questions ({counts}), recall@{k} and MRR@{k}\n")
    header = f"{'mode':<8} {'recall@' + str(k):>9} {'MRR':>6}" + "".join(f" {'recall ' + x:>15}" for x in kinds) + \
             f" {'errors':>7} {'fallback':>9}"
    print(header)
    print("-" * len(header))
    for mode in modes:
        found = rr = errors = fallback = 0
        by_kind = {x: [0, 0] for x in kinds}
        for i, r in enumerate(rows):
            by_kind[r["kind"]][1] += 1
            path = os.path.join(results, mode, f"{i:03d}.json")
            try:
                with open(path, encoding="utf-8") as f:
                    out = json.load(f)
                hits = out["hits"]
            except (OSError, ValueError, KeyError, TypeError):
                errors += 1
                continue
            if out.get("mode", mode) != mode:
                fallback += 1  # e.g. vector asked, keyword used: no embedding model
            expected = set(r["pages"])
            for pos, h in enumerate(hits[:k], 1):
                if relative(str(h.get("path", "")), docs) in expected:
                    found += 1
                    rr += 1.0 / int(h.get("rank", pos))
                    by_kind[r["kind"]][0] += 1
                    break
        n = len(rows)
        line = f"{mode:<8} {found / n:>9.3f} {rr / n:>6.3f}"
        line += "".join(f" {by_kind[x][0] / max(by_kind[x][1], 1):>15.3f}" for x in kinds)
        print(line + f" {errors:>7} {fallback:>9}")
    print(f"\nerrors: questions whose search failed or printed no JSON (counted as misses); "
          f"fallback: answered in another mode")

cmd = sys.argv[1]
if cmd == "check":
    n = check(sys.argv[2], sys.argv[3])
    if n:
        sys.exit(f"{n} problem(s) in the question set")
elif cmd == "list":
    for r in read_queries(sys.argv[2]):
        print(r["query"])
elif cmd == "score":
    score(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6].split(","))
PYEOF
)
py() { "$PY" -c "$SCORER" "$@"; }

if [[ -n "$SCORE_ONLY" ]]; then
  [[ -d "$SCORE_ONLY/results" ]] || die "$SCORE_ONLY/results not found"
  py score "$QUERIES" "$DOCS" "$SCORE_ONLY/results" "$K" "$MODES"
  exit 0
fi

[[ -d "$DOCS" ]] || die "documentation folder $DOCS not found (apt-get install sqlite3-doc)"
py check "$QUERIES" "$DOCS"
if [[ $CHECK_ONLY == 1 ]]; then
  echo "question set OK: $(py list "$QUERIES" | wc -l) questions"
  exit 0
fi

[[ -n "$BIN" ]] || usage 1
[[ -x "$BIN" ]] || die "$BIN is not an executable"
[[ -f "$MODEL" ]] || die "embedding model $MODEL not found"

if [[ -n "$KEEP" ]]; then
  WORK=$KEEP
  mkdir -p "$WORK"
  [[ -z "$(ls -A "$WORK")" ]] || die "--keep folder $WORK is not empty"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
DATA="$WORK/data"
mkdir -p "$DATA" "$WORK/results"

echo "indexing $DOCS with $(basename "$MODEL") ..."
"$BIN" kb create "$KB" --embed-model "$MODEL" --data-dir "$DATA" >/dev/null
"$BIN" kb add "$KB" "$DOCS" --json --data-dir "$DATA" > "$WORK/add.json"
"$PY" - "$WORK/add.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("added %d documents (%d failed, %d skipped), %d chunks in %.1f s"
      % (r["added"], r["failed"], r["skipped"], r["chunks"], r["seconds"]))
for p in r.get("problems", [])[:5]:
    print("  %s: %s: %s" % (p["status"], p["path"], p["message"]))
PYEOF

mapfile -t QUESTIONS < <(py list "$QUERIES")
for mode in "${MODE_LIST[@]}"; do
  mkdir -p "$WORK/results/$mode"
  for i in "${!QUESTIONS[@]}"; do
    out=$(printf '%s/results/%s/%03d.json' "$WORK" "$mode" "$i")
    # A failed search leaves no file; the scorer counts it as an error and a miss.
    if ! "$BIN" kb search "$KB" "${QUESTIONS[$i]}" -k "$K" --mode "$mode" --json --data-dir "$DATA" \
        > "$out.tmp" 2> "$out.err"; then
      echo "  $mode #$i failed: $(head -c 200 "$out.err")" >&2
      rm -f "$out.tmp"
      continue
    fi
    mv "$out.tmp" "$out"
    rm -f "$out.err"
  done
done

echo
py score "$QUERIES" "$DOCS" "$WORK/results" "$K" "$MODES"
