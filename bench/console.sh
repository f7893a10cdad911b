#!/usr/bin/env bash
# The web console's first paint: a logged-in Chromium (Debian's headless
# shell, driven by puppeteer-core: test/ui/console.bench.mjs) opens a deep
# link in a fresh tab, and we time navigation start to the painted frame
# after the view is drawn, for the log of a branch of 10,000 commits (its
# first page, and its 200th by cursor) and a directory of 100,000 entries.
# The release server on tmpfs; commits made through the API, the directory
# by import. Target: under 500 ms. The sizes are the same at both scales.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_scale
bench_runs
bench_tmpdir
bench_t9kfs
bench_need node npm chromium-headless-shell curl
modules=$("$BENCH_ROOT/test/ui/install.sh") || bench_die "npm could not install puppeteer-core (test/ui/install.sh)"
commits=10000
entries=100000
target=500
d=$BENCH_TMP/console
mkdir -p "$d"
results=$(bench_results_file console)
bench_machine_json >>"$results"

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$T9KFS" meta serve --db "$d/db" --store "file://$d/store" --listen "127.0.0.1:$port" \
	--token-file "$d/token" --addr-file "$d/addr" 2>"$d/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$BENCH_TMP"' EXIT
for _ in $(seq 100); do [ -s "$d/addr" ] && break; sleep 0.1; done
[ -s "$d/addr" ] || bench_die "the server did not start: $(cat "$d/server.log")"
base=http://127.0.0.1:$port
token=$(cat "$d/token")
export T9KFS_SERVER=$base T9KFS_TOKEN=$token

bench_log "console: $commits commits (through the API)"
"$T9KFS" repo create history >/dev/null
/usr/bin/python3 - "$port" "$token" "$commits" <<'PY'
import http.client, json, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    body = json.dumps({"message": f"step {i}", "author": "bench", "allow_empty": True,
                       "meta": {"param.lr": f"{i * 1e-5:.5f}", "metric.loss": f"{1 / (i + 1):.6f}"}})
    c.request("POST", "/api/v1/repos/history/branches/main/commits", body,
              {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit(f"commit {i}: HTTP {r.status}")
PY
bench_log "console: a directory of $entries entries (import)"
mkdir -p "$d/src/big"
/usr/bin/python3 - "$d/src/big" "$entries" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], f"f{i:06d}.txt"), "w") as f:
        f.write(f"{i}\n")
PY
"$T9KFS" repo create files >/dev/null
"$T9KFS" import "$d/src" files@main -m "$entries files" >/dev/null
rm -rf "$d/src"

cat >"$d/config.json" <<CONF
{"modules": "$modules", "browser": "$(command -v chromium-headless-shell)", "base": "$base",
 "token": "$token", "runs": $BENCH_RUNS, "views": [
  {"name": "log", "url": "/ui/r/history/log/main"},
  {"name": "log_page_200", "url": "/ui/r/history/log/main", "repo": "history", "cursorPages": 199},
  {"name": "tree", "url": "/ui/r/files/tree/main/big"}]}
CONF
bench_log "console: first paint in Chromium, $BENCH_RUNS runs a view"
node "$BENCH_ROOT/test/ui/console.bench.mjs" "$d/config.json" >>"$results" ||
	bench_die "the browser benchmark failed"

median_of() { # VIEW FIELD
	grep "\"view\":\"$1\"" "$results" | bench_json_get "$2" | bench_median | awk '{printf "%.0f", $1}'
}
row() { # VIEW TITLE
	local ms ready all rows
	ms=$(median_of "$1" painted_ms)
	ready=$(median_of "$1" ready_ms)
	all=$(median_of "$1" all_ms)
	rows=$(grep "\"view\":\"$1\"" "$results" | head -n 1 | bench_json_get all_rows)
	bench_summary "$results" "console first paint: $2" ms lower "t9kfs:t9kfs=$ms" "limit:target=$target"
	echo "| console, first paint of $2 (Chromium, deep link, logged in) | $ms ms (view ready at $ready ms; all $rows rows at $all ms) | target $target ms | $(bench_div "$ms" "$target") of the target |"
}
row log "the log of a branch of $commits commits"
row log_page_200 "page 200 of that log (commits 9,951-10,000, by cursor)"
row tree "a directory of $entries entries (first 1,000 shown)"
