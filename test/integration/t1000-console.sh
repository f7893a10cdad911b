#!/bin/bash
# The web console (ui/, served at /ui/ by t9kfs meta serve): a real server
# on loopback TCP, a fixture made with the CLI (a dataset with a tag, a
# CSV, JSON, an image, a directory of more than a page, a diff of more
# than a page, names and metadata that are markup; runs recorded by
# `t9kfs run` on exp-* branches; 200 commits with params and metrics),
# then curl for the HTTP side (401 without a token or login, the cookie's
# flags, CSRF, headers, ranges, bad input, --ui-public-read, `t9kfs ui`)
# and Debian's headless Chromium, driven by puppeteer-core
# (test/ui/console.test.mjs), for what each view shows: compared with the
# CLI's --json output, deep links, sorting and the best values, charts
# drawn (pixels), keyboard navigation, nothing of the markup run, and no
# error in the browser's console. Screenshots of each view are kept in
# build/console/ (the README's picture).
. "$(dirname "$0")/lib.sh"

# ---- the browser: Debian's chromium-headless-shell and puppeteer-core ----

loud_skip() {
	{
		echo "################################################################"
		echo "# SKIPPED: $TEST_NAME, the web console's browser test, did not run:"
		echo "#   $*"
		echo "# (scripts/install-deps.sh installs chromium-headless-shell, nodejs, npm)"
		echo "################################################################"
	} >&2
	skip_all "$*"
}
BROWSER=$(command -v chromium-headless-shell || true)
[ -n "$BROWSER" ] || loud_skip "no chromium-headless-shell"
command -v node >/dev/null && command -v npm >/dev/null || loud_skip "no node or npm"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' ||
	loud_skip "node $(node --version) is older than 18"
# puppeteer-core at the version of test/ui/package-lock.json, once, into
# the git-ignored build/ (never a browser download: it drives Debian's).
MODULES=$("$TOP/test/ui/install.sh" 2>"$TEST_DIR/npm.log") ||
	loud_skip "npm could not install puppeteer-core: $(grep -m1 -i err "$TEST_DIR/npm.log" || tail -n 1 "$TEST_DIR/npm.log")"
SHOTS="$TOP/build/console"

# ---- the servers ----

# serve NAME PORT [ARGS...]: a server on 127.0.0.1:PORT and a unix socket,
# its database in NAME-db, the store shared by both.
serve() {
	local name=$1 port=$2
	shift 2
	rm -f "$TEST_DIR/$name.addr"
	"$T9KFS_BIN" meta serve --db "$TEST_DIR/$name-db" --store "$TEST_DIR/store" \
		--listen "127.0.0.1:$port" --listen "unix:$TEST_DIR/$name.sock" --token-file "$TEST_DIR/token" \
		--addr-file "$TEST_DIR/$name.addr" "$@" 2>>"$TEST_DIR/$name.log" &
	echo $! >"$TEST_DIR/$name.pid"
	test_wait 20 grep -qs "^127.0.0.1:$port$" "$TEST_DIR/$name.addr"
}
stop() {
	local pid
	pid=$(cat "$TEST_DIR/$1.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
test_cleanup stop main
test_cleanup stop public
test_cleanup env -u T9KFS_SERVER -u T9KFS_TOKEN "$T9KFS_BIN" server stop

read -r PORT PUBLIC_PORT <<<"$(free_ports 2)"
serve main "$PORT" || { cat "$TEST_DIR/main.log"; exit 1; }
BASE="http://127.0.0.1:$PORT"
PUBLIC="http://127.0.0.1:$PUBLIC_PORT"
export T9KFS_SERVER=$BASE T9KFS_TOKEN
T9KFS_TOKEN=$(cat "$TEST_DIR/token")
API="$BASE/api/v1"
AUTH="Authorization: Bearer $T9KFS_TOKEN"
code() { curl -s -o /dev/null -w "%{http_code}" "$@"; }

# ---- the fixture ----

XSS_MSG='v2 <script>window.__xss=1</script> & <img src=x onerror="window.__xss=1">'
XSS_AUTHOR='<b onmouseover="window.__xss=1">mallory</b>'
XSS_FILE='<img src=x onerror=window.__xss=1>.txt'
XSS_KEY='<svg onload=window.__xss=1>'
XSS_VALUE='<script>window.__xss=2</script>'

# id_of REPO@REF: the full commit id.
id_of() {
	t9kfs log --json -n 1 "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["commits"][0]["id"])'
}

# FUSE for `t9kfs run` (root, /dev/fuse, fusermount3); else the run
# records are written with the CLI, in the same layout.
can_run() {
	[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null &&
		{ exec 9<>/dev/fuse; } 2>/dev/null && exec 9>&-
}

# run_or_record BRANCH LR LOSSES ACCS: a run on models@BRANCH that reads
# data@v1:train, with params lr and epochs and a metric history.
run_or_record() {
	local branch=$1 lr=$2 losses=$3 accs=$4
	t9kfs branch create "models@$branch" --from main >/dev/null
	if can_run; then
		mkdir -p "$TEST_DIR/mnt/$branch-in" "$TEST_DIR/mnt/$branch-out"
		t9kfs run --data "data@v1:train=$TEST_DIR/mnt/$branch-in" \
			--output "models@$branch=$TEST_DIR/mnt/$branch-out" --param lr="$lr" --param epochs=3 \
			-e "LOSSES=$losses" -e "ACCS=$accs" -- sh "$TEST_DIR/job.sh" "$TEST_DIR/mnt/$branch-in" \
			>"$TEST_DIR/run-$branch.log" 2>&1 || { cat "$TEST_DIR/run-$branch.log"; return 1; }
	else
		local i=0 l a D1
		D1=$(id_of data@v1)
		: >rec.jsonl
		set -- $accs
		for l in $losses; do
			i=$((i + 1)) a=$1
			shift
			echo "{\"step\": $i, \"loss\": $l, \"acc\": $a}" >>rec.jsonl
		done
		t9kfs put rec.jsonl "models@$branch:.t9kfs/metrics.jsonl" >/dev/null &&
			t9kfs commit "models@$branch" -m "run $branch: sh job.sh" --meta run.id="$branch" \
				--meta run.status=ok --meta run.exit_code=0 --meta "input.0=data@$D1:train" \
				--meta param.lr="$lr" --meta param.epochs=3 --meta metric.loss="$l" \
				--meta metric.acc="$a" >/dev/null
	fi
}

test_expect_success 'setup: a dataset with a tag and a diff, runs on exp-*, 200 commits with params and metrics' '
	mkdir -p src/train src/docs src/many &&
	printf "alpha\nbeta <b>bold</b>\n" >src/train/a.txt && echo b >src/train/b.txt &&
	head -c 3000000 /dev/urandom >src/train/big.bin &&
	printf "name,score,note\nann,0.91,\"x, y\"\nbob,0.85,plain\n" >src/docs/table.csv &&
	printf "{\"lr\": 0.1, \"layers\": [64, 32], \"note\": \"<b>not bold</b>\"}\n" >src/docs/config.json &&
	printf "<html><script>window.__xss=1</script><img src=x onerror=\"window.__xss=1\"></html>\n" >src/docs/evil.html &&
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>window.__xss=1</script></svg>\n" >src/docs/evil.svg &&
	printf "the file named like markup\n" >"src/docs/$XSS_FILE" &&
	/usr/bin/python3 -c "
import struct, zlib
raw = b\"\".join(b\"\\0\" + bytes([200, 30, 30]) * 40 for _ in range(30))
def chunk(t, d): return struct.pack(\">I\", len(d)) + t + d + struct.pack(\">I\", zlib.crc32(t + d))
open(\"src/docs/red.png\", \"wb\").write(b\"\\x89PNG\\r\\n\\x1a\\n\" + chunk(b\"IHDR\", struct.pack(\">IIBBBBB\", 40, 30, 8, 2, 0, 0, 0)) + chunk(b\"IDAT\", zlib.compress(raw)) + chunk(b\"IEND\", b\"\"))
" &&
	for i in $(seq -w 0 1099); do echo "$i" >src/many/f$i; done &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m "data v1" --meta source=fixture >/dev/null &&
	t9kfs tag create data@v1 --from main >/dev/null &&
	mkdir -p v2/many2 && for i in $(seq -w 0 549); do echo "$i" >v2/many2/g$i; done &&
	t9kfs import v2 data@main >/dev/null &&
	echo changed >a2 && t9kfs put a2 data@main:train/a.txt >/dev/null &&
	t9kfs rm data@main:train/b.txt >/dev/null && t9kfs put a2 data@main:train/c.txt >/dev/null &&
	T9KFS_AUTHOR="$XSS_AUTHOR" t9kfs commit data@main -m "$XSS_MSG" --meta "$XSS_KEY=$XSS_VALUE" \
		--meta "param.note=$XSS_VALUE" >/dev/null &&
	t9kfs repo create models >/dev/null &&
	cat >job.sh <<-\EOF &&
	# a training job: reads its data, writes a model and metrics
	set -e
	ls "$1" >"$T9KFS_OUTPUT/inputs.txt"
	i=0; set -- $ACCS
	for l in $LOSSES; do
		i=$((i + 1)); echo "{\"step\": $i, \"loss\": $l, \"acc\": $1}" >>"$T9KFS_METRICS"; shift
	done
	echo model >"$T9KFS_OUTPUT/model.bin"
	EOF
	run_or_record exp-a 0.1 "0.9 0.5 0.31" "0.5 0.7 0.81" &&
	run_or_record exp-b 0.01 "0.8 0.4 0.25" "0.55 0.75 0.86" &&
	run_or_record exp-c 0.3 "1.2 0.9 0.7" "0.4 0.5 0.6" &&
	t9kfs log --json -n 1 models@exp-a | grep -q "\"run.status\": \"ok\"" &&
	t9kfs branch create models@sweep --from main >/dev/null &&
	for i in $(seq 200); do
		curl -sf -o /dev/null -H "$AUTH" -X POST "$API/repos/models/branches/sweep/commits" \
			-d "{\"message\": \"sweep $i\", \"author\": \"sweeper\", \"allow_empty\": true, \"meta\": {\"param.lr\": \"0.$i\", \"param.epochs\": \"3\", \"metric.loss\": \"$((1000 - i))e-3\", \"metric.acc\": \"0.$((i / 3))\"}}" ||
			return 1
	done
'
can_run && say "# runs recorded by t9kfs run" || say "# t9kfs run needs FUSE here: run records written with the CLI"

test_expect_success 'expected values from the CLI (--json)' '
	t9kfs log --json models@sweep >log-sweep.json &&
	t9kfs diff --json data@v1 data@main >diff.json &&
	t9kfs compare --json "models@exp-*" >compare-glob.json &&
	t9kfs compare --json models@sweep~20..sweep >compare-last.json &&
	t9kfs log --json data@main >log-data.json &&
	t9kfs log --json models@main >log-models.json &&
	for r in data models; do
		t9kfs branch list $r --json >branches-$r.json && t9kfs tag list $r --json >tags-$r.json || return 1
	done &&
	id_of models@exp-a >run-a.id && id_of data@v1 >v1.id && id_of data@main >main.id &&
	XSS_MSG="$XSS_MSG" XSS_AUTHOR="$XSS_AUTHOR" XSS_FILE="$XSS_FILE" XSS_KEY="$XSS_KEY" XSS_VALUE="$XSS_VALUE" \
	/usr/bin/python3 - <<-\PY
	import json, os, stat
	def load(f): return json.load(open(f))
	def files(root):
	    n = b = 0
	    for d, dirs, fs in os.walk(root):
	        for f in fs:
	            n += 1
	            b += os.path.getsize(os.path.join(d, f))
	    return n, b
	E = os.environ
	log_sweep = load("log-sweep.json")["commits"]
	diff = load("diff.json")["changes"]
	cg = load("compare-glob.json")
	# data@main: src with the v2 changes
	n1, b1 = files("src")
	n2, b2 = files("v2")
	size_a, size_b, size_c = os.path.getsize("src/train/a.txt"), os.path.getsize("src/train/b.txt"), os.path.getsize("a2")
	repos = []
	for r in ("data", "models"):
	    log = load(f"log-{r}.json")["commits"]
	    repos.append({"name": r, "branches": len(load(f"branches-{r}.json")["refs"]),
	                  "tags": len(load(f"tags-{r}.json")["refs"]), "last": log[0]["message"].split("\n")[0]})
	repos[0]["files"] = n1 + n2
	repos[0]["bytes"] = b1 + b2 - size_a + size_c - size_b + size_c
	repos[1]["files"] = 0
	repos[1]["bytes"] = 0
	train = sorted(os.listdir("src/train"))
	def mode(p): return format(stat.S_IMODE(os.stat(p).st_mode), "o")
	# main: a.txt and c.txt are a2, b.txt is gone
	local = {n: "src/train/" + n for n in train if n != "b.txt"}
	local["a.txt"] = local["c.txt"] = "a2"
	tree_train = [[n, "file", os.path.getsize(p), mode(p)] for n, p in sorted(local.items())]
	big = open("src/train/big.bin", "rb").read()
	s = 0
	for x in big: s = (s * 31 + x) % 1000000007
	run_a = next(c for c in cg if c["ref"] == "exp-a")
	xss_commit = load("log-data.json")["commits"][0]
	keys_all = sorted(set(k for c in cg for k in c["meta"] if k.startswith(("param.", "metric."))))
	changed = [k for k in keys_all if len(set(c["meta"].get(k, "") for c in cg)) > 1]
	curves = [[m, len(cg)] for m in ("acc", "loss")]
	json.dump({
	    "repos": repos,
	    "tree_train": tree_train,
	    "tree_root": sorted(["train", "docs", "many", "many2"]),
	    "train_v1_names": train,
	    "many_count": 1100,
	    "many_names": sorted(os.listdir("src/many")),
	    "a_txt": open("a2").read(),
	    "csv_rows": [["name", "score", "note"], ["ann", "0.91", "x, y"], ["bob", "0.85", "plain"]],
	    "config_json": json.load(open("src/docs/config.json")),
	    "big_size": len(big), "big_sum": s,
	    "log_sweep": [c["id"] for c in log_sweep],
	    "log_sweep_head": [{"id": c["id"], "msg": c["message"].split("\n")[0], "author": c["author"],
	                        "keys": sorted(c["meta"], key=lambda k: (0 if k.startswith("param.") else 1 if k.startswith("metric.") else 2, k))[:6]}
	                       for c in log_sweep[:3]],
	    "run_a": {"id": run_a["commit"],
	              "params": sorted([k[6:], v] for k, v in run_a["meta"].items() if k.startswith("param.")),
	              "metrics": sorted([k[7:], v] for k, v in run_a["meta"].items() if k.startswith("metric.")),
	              "input_commit": open("v1.id").read().strip()},
	    "models_branches": sorted(r["name"][7:] for r in load("branches-models.json")["refs"]),
	    "diff": [[c["path"], c["change"]] for c in diff],
	    "diff_totals": [sum(c["change"] == k for c in diff) for k in ("added", "removed", "modified")],
	    "compare_glob": [{"ref": c["ref"], "commit": c["commit"], "meta": c["meta"]} for c in cg],
	    "compare_last": [{"ref": c["ref"], "commit": c["commit"], "meta": c["meta"]} for c in load("compare-last.json")],
	    "compare_changed": changed,
	    "curves": curves,
	    "xss_message": E["XSS_MSG"], "xss_author": xss_commit["author"], "xss_commit": xss_commit["id"],
	    "xss_meta": sorted([k, v] for k, v in xss_commit["meta"].items() if not k.startswith(("param.", "metric."))),
	    "xss_file": E["XSS_FILE"], "xss_file_content": "the file named like markup\n",
	    "xss_param_value": E["XSS_VALUE"],
	    "evil_html": open("src/docs/evil.html").read(),
	}, open("expect.json", "w"), indent=1)
	PY
'

test_expect_success 'a copy for a second server, with --ui-public-read' '
	stop main && cp -a "$TEST_DIR/main-db" "$TEST_DIR/public-db" &&
	serve main "$PORT" && serve public "$PUBLIC_PORT" --ui-public-read &&
	grep -q "can be read without the token" "$TEST_DIR/public.log"
'

test_expect_success 'HTTP: 401 without a token or a login; the console files and health need none' '
	test "$(code "$API/repos")" = 401 &&
	curl -s -D h -o body "$API/repos" && grep -qi "^www-authenticate: Bearer" h &&
	grep -q "\"unauthorized\"" body &&
	test "$(code -H "Authorization: Bearer wrong" "$API/repos")" = 401 &&
	test "$(code -b "t9kfs_session=$(printf %064d 7)" "$API/repos")" = 401 &&
	curl -s -b "t9kfs_session=$(printf %064d 7)" "$API/repos" | grep -q "log in again" &&
	for p in repos/data/summary repos/data/tree repos/data/history "repos/data/file?path=train/a.txt" \
		"repos/data/changes?to=main" "repos/models/compare?glob=exp-*" repos/data/refinfo; do
		test "$(code "$API/$p")" = 401 || { echo "$p"; return 1; }
	done &&
	test "$(code "$API/health")" = 200 &&
	test "$(code "$BASE/ui/")" = 200 && test "$(code "$BASE/ui/r/data/tree/main/train")" = 200 &&
	test "$(code "$BASE/ui/static/app.js")" = 200 && test "$(code -I "$BASE/ui/")" = 200 &&
	curl -s -D h -o /dev/null "$BASE/" && grep -q "^HTTP/1.1 302" h && grep -qi "^location: /ui/" h &&
	curl -s "$API/session" | grep -q "\"authenticated\":false"
'

test_expect_success 'HTTP: the login cookie is HttpOnly and SameSite=Strict; changes with it need the header and this origin' '
	tok="{\"token\": \"$T9KFS_TOKEN\"}" &&
	test "$(code -X POST -d "$tok" "$API/session")" = 403 &&
	test "$(code -X POST -H "X-T9kfs-Request: 1" -d "{\"token\": \"wrong\"}" "$API/session")" = 401 &&
	test "$(code -X POST -H "X-T9kfs-Request: 1" -H "Origin: http://evil.example" -d "$tok" "$API/session")" = 403 &&
	test "$(code -X POST -H "X-T9kfs-Request: 1" -H "Sec-Fetch-Site: cross-site" -d "$tok" "$API/session")" = 403 &&
	curl -s -D h -c jar -H "X-T9kfs-Request: 1" -H "Origin: $BASE" -X POST -d "$tok" "$API/session" >out &&
	grep -i "^set-cookie:" h >cookie &&
	grep -q "t9kfs_session=[0-9a-f]\{64\};" cookie && grep -q "; HttpOnly" cookie &&
	grep -q "; SameSite=Strict" cookie && grep -q "; Path=/;" cookie && ! grep -q "$T9KFS_TOKEN" cookie &&
	grep -q "\"authenticated\":true" out &&
	test "$(code -b jar "$API/repos")" = 200 &&
	curl -s -b jar "$API/session" | grep -q "\"via\":\"cookie\"" &&
	test "$(code -b jar -X POST -d "{\"name\": \"c1\"}" "$API/repos")" = 403 &&
	test "$(code -b jar -X POST -H "X-T9kfs-Request: 1" -H "Origin: http://evil.example" -d "{\"name\": \"c1\"}" "$API/repos")" = 403 &&
	test "$(code -b jar -X POST -H "X-T9kfs-Request: 1" -H "Sec-Fetch-Site: same-site" -d "{\"name\": \"c1\"}" "$API/repos")" = 403 &&
	test "$(code -b jar "$API/repos/c1")" = 404 &&
	test "$(code -b jar -X POST -H "X-T9kfs-Request: 1" -H "Origin: $BASE" -d "{\"name\": \"c1\"}" "$API/repos")" = 201 &&
	test "$(code -b jar -X DELETE -H "X-T9kfs-Request: 1" "$API/repos/c1")" = 204 &&
	test "$(code -H "$AUTH" -X POST -d "{\"name\": \"c2\"}" "$API/repos")" = 201 &&
	test "$(code -H "$AUTH" -X DELETE "$API/repos/c2")" = 204 &&
	curl -s -D h -b jar -X DELETE -H "X-T9kfs-Request: 1" "$API/session" >/dev/null &&
	grep -q "^HTTP/1.1 204" h && grep -qi "^set-cookie: t9kfs_session=;.*Max-Age=0" h &&
	test "$(code -b jar "$API/repos")" = 401
'

test_expect_success 'HTTP: a policy and nosniff on every reply; no inline script; file bytes in types that never run' '
	curl -s -D h -o page "$BASE/ui/r/data/tree/main" &&
	grep -qi "^content-type: text/html" h && grep -qi "^x-content-type-options: nosniff" h &&
	grep -qi "^content-security-policy: default-src .none.; script-src .self.; style-src .self.;" h &&
	grep -qi "frame-ancestors .none." h && ! grep -qi "unsafe" h && grep -qi "^x-frame-options: DENY" h &&
	test "$(grep -o "<script[^>]*>" page)" = "<script type=\"module\" src=\"/ui/static/app.js\">" &&
	! grep -qi " style=\| on[a-z]*=" page &&
	curl -s -D h -o /dev/null -H "$AUTH" "$API/repos" && grep -qi "^content-type: application/json" h &&
	grep -qi "^x-content-type-options: nosniff" h && grep -qi "^content-security-policy: .*sandbox" h &&
	grep -qi "^cache-control: no-store" h &&
	for f in docs/evil.html:text/plain docs/evil.svg:text/plain docs/red.png:image/png docs/table.csv:text/plain; do
		curl -s -D h -o /dev/null -H "$AUTH" "$API/repos/data/file?path=${f%%:*}" &&
		grep -qi "^content-type: ${f#*:}" h && grep -qi "^x-content-type-options: nosniff" h &&
		grep -qi "^content-security-policy: .*sandbox" h || { echo "$f"; cat h; return 1; }
	done &&
	curl -s -D h -o got -H "$AUTH" "$API/repos/data/file?path=train/big.bin&download=1" &&
	cmp got src/train/big.bin && grep -qi "^content-type: application/octet-stream" h &&
	grep -qi "^content-disposition: attachment; filename=\"big.bin\"" h &&
	curl -s -D h -o /dev/null -H "$AUTH" "$API/repos/data/file?path=docs/%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D1%3E.txt" &&
	grep -qi "^content-disposition: inline; filename=\"_img src_x onerror_window.__xss_1_.txt\"; filename\*=UTF-8..%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D1%3E.txt" h
'

test_expect_success 'HTTP: ranges of a file of several chunks, ETag, 416' '
	get() { curl -s -D h -o got -H "$AUTH" "$@"; } &&
	get -H "Range: bytes=100-199" "$API/repos/data/file?path=train/big.bin" &&
	grep -q "^HTTP/1.1 206" h && grep -qi "^content-range: bytes 100-199/3000000" h &&
	head -c 200 src/train/big.bin | tail -c 100 | cmp - got &&
	get -H "Range: bytes=900000-2100000" "$API/repos/data/file?path=train/big.bin" &&
	head -c 2100001 src/train/big.bin | tail -c 1200001 | cmp - got &&
	get -H "Range: bytes=-10" "$API/repos/data/file?path=train/big.bin" && tail -c 10 src/train/big.bin | cmp - got &&
	get -H "Range: bytes=2999990-" "$API/repos/data/file?path=train/big.bin" && tail -c 10 src/train/big.bin | cmp - got &&
	get -H "Range: bytes=5-1,7-8" "$API/repos/data/file?path=train/big.bin" && grep -q "^HTTP/1.1 200" h && cmp got src/train/big.bin &&
	test "$(code -H "$AUTH" -H "Range: bytes=3000000-" "$API/repos/data/file?path=train/big.bin")" = 416 &&
	get "$API/repos/data/file?path=train/big.bin" &&
	etag=$(sed -n "s/^[Ee][Tt][Aa][Gg]: \(.*\)\r$/\1/p" h) && test ${#etag} = 66 &&
	test "$(code -H "$AUTH" -H "If-None-Match: $etag" "$API/repos/data/file?path=train/big.bin")" = 304 &&
	get -H "Range: bytes=0-3" "$API/repos/data/file?path=train/a.txt" && test "$(cat got)" = chan
'

test_expect_success 'HTTP: bad input is a 4xx and changes nothing' '
	t9kfs branch list data --json >before &&
	for q in "tree?path=../x" "tree?path=a/%00" "tree?ref=nope" "tree?ref=main~999" "tree?after=a/b" \
		"tree?limit=0" "tree?limit=20000" "tree?path=nope" "history?cursor=zzz" \
		"history?cursor=$(printf %064d 0)" "history?limit=x" "history?ref=nope" "file" "file?path=train" \
		"file?path=nope" "file?path=docs/table.csv/x" "changes" "changes?to=main&after=../a" \
		"changes?from=nope&to=main" "compare" "compare?refs=nope" "compare?glob=zzz*" \
		"compare?refs=main..v1" "compare?branch=main&last=0" "compare?branch=nope" \
		"summary?ref=a%00b" "refinfo?limit=0" "tree?ref=%zz"; do
		c=$(code -H "$AUTH" "$API/repos/data/$q") &&
		case $c in 400|404) ;; *) echo "$q: $c"; return 1 ;; esac
	done &&
	test "$(code -H "$AUTH" "$API/repos/nope/summary")" = 404 &&
	test "$(code -H "$AUTH" "$API/repos/bad%20name/tree")" = 400 &&
	test "$(code -H "$AUTH" -X POST "$API/repos/data/tree")" = 405 &&
	test "$(code -X POST "$BASE/ui/")" = 405 && test "$(code -X DELETE "$BASE/ui/r/x")" = 405 &&
	test "$(code "$BASE/ui/static/nope.js")" = 404 &&
	test "$(code -X PUT -H "X-T9kfs-Request: 1" "$API/session")" = 405 &&
	test "$(code -X POST -H "X-T9kfs-Request: 1" -d "not json" "$API/session")" = 400 &&
	test "$(code -X POST -H "X-T9kfs-Request: 1" -d "{\"token\": 5}" "$API/session")" = 400 &&
	t9kfs branch list data --json >after && test_cmp before after &&
	test "$(code "$API/health")" = 200
'

test_expect_success 'public read: GETs of the repositories need nothing; changes and the rest still need the token' '
	PAPI=$PUBLIC/api/v1 &&
	test "$(code "$PAPI/repos")" = 200 && test "$(code "$PAPI/repos/data/tree?path=train")" = 200 &&
	test "$(code "$PAPI/repos/data/file?path=train/a.txt")" = 200 &&
	test "$(code -I "$PAPI/repos/data/log")" = 200 &&
	curl -s "$PAPI/session" | grep -q "\"public_read\":true" &&
	test "$(code -X POST -d "{\"name\": \"x\"}" "$PAPI/repos")" = 401 &&
	test "$(code -X DELETE "$PAPI/repos/data")" = 401 &&
	test "$(code -X POST -d "{\"name\": \"b\"}" "$PAPI/repos/data/branches")" = 401 &&
	test "$(code "$PAPI/cache-groups/g")" = 401 &&
	test "$(code -H "Authorization: Bearer wrong" "$PAPI/repos")" = 401 &&
	test "$(code -H "$AUTH" -X POST -d "{\"name\": \"b1\", \"from\": \"main\"}" "$PAPI/repos/data/branches")" = 201 &&
	test "$(code "$API/repos")" = 401
'

cat >"$TEST_DIR/config.json" <<CONF
{"modules": "$MODULES", "browser": "$BROWSER", "base": "$BASE", "publicBase": "$PUBLIC",
 "token": "$T9KFS_TOKEN", "expect": "$TEST_DIR/expect.json", "shots": "$SHOTS"}
CONF

test_expect_success 'the console in Chromium (test/ui/console.test.mjs): views, links, keys, charts, markup' '
	rm -rf "$SHOTS" &&
	timeout 300 node "$TOP/test/ui/console.test.mjs" config.json >browser.out 2>&1 ||
		{ cat browser.out; exit 1; }
'
sed 's/^/# /' "$TEST_DIR/browser.out"

test_expect_success 'charts drawn: pixels at the places of the charts, the colours of the runs in the curves' '
	/usr/bin/python3 "$TOP/test/integration/png-colors.py" "$SHOTS/chart-pcoords.png" >pc &&
	n=$(sed -n "s/.* nonwhite=\([0-9]*\).*/\1/p" pc) && test "$n" -gt 3000 &&
	/usr/bin/python3 "$TOP/test/integration/png-colors.py" "$SHOTS/chart-curves.png" "#4e79a7" "#f28e2b" "#e15759" >cc &&
	n=$(sed -n "s/.* nonwhite=\([0-9]*\).*/\1/p" cc) && test "$n" -gt 3000 &&
	for c in 4e79a7 f28e2b e15759; do
		k=$(sed -n "s/.*#$c=\([0-9]*\).*/\1/p" cc) && test "$k" -gt 50 || { cat pc cc; exit 1; }
	done &&
	for v in login repos tree log commit diff compare compare-charts preview-csv preview-image markup-names public-read; do
		test -s "$SHOTS/$v.png" || { echo "no screenshot of $v"; exit 1; }
	done
'

test_expect_success 't9kfs ui: the console of T9KFS_SERVER, of the local server (started), --open; a console that cannot listen' '
	test "$(t9kfs ui)" = "$BASE/ui/" &&
	test "$(T9KFS_SERVER=$BASE/ t9kfs ui)" = "$BASE/ui/" &&
	test_must_fail env T9KFS_SERVER="unix:$TEST_DIR/main.sock" "$T9KFS_BIN" ui 2>err &&
	grep -q "the console needs the service on TCP" err &&
	url=$(env -u T9KFS_SERVER -u T9KFS_TOKEN "$T9KFS_BIN" ui) &&
	case $url in http://127.0.0.1:*/ui/) ;; *) echo "$url"; exit 1 ;; esac &&
	test "$(code "$url")" = 200 &&
	test "$(code "${url%/ui/}/api/v1/repos")" = 401 &&
	test "$(code -H "Authorization: Bearer $(cat "$T9KFS_HOME/token")" "${url%/ui/}/api/v1/repos")" = 200 &&
	printf "#!/bin/sh\necho \"\$1\" >\"%s/opened\"\n" "$TEST_DIR" >browser.sh && chmod +x browser.sh &&
	test "$(env -u T9KFS_SERVER BROWSER=$TEST_DIR/browser.sh "$T9KFS_BIN" ui --open)" = "$url" &&
	test "$(cat opened)" = "$url" &&
	env -u T9KFS_SERVER "$T9KFS_BIN" server stop >/dev/null &&
	test_must_fail env -u T9KFS_SERVER T9KFS_UI_LISTEN=off "$T9KFS_BIN" ui 2>err &&
	grep -q "no TCP address for the console" err &&
	env -u T9KFS_SERVER "$T9KFS_BIN" server stop >/dev/null &&
	env -u T9KFS_SERVER -u T9KFS_TOKEN T9KFS_UI_LISTEN=10.255.255.1:9 "$T9KFS_BIN" repo list >/dev/null &&
	grep -q "no web console on 10.255.255.1:9" "$T9KFS_HOME/server.log" &&
	test_must_fail env -u T9KFS_SERVER "$T9KFS_BIN" ui 2>err && grep -q "could not be bound" err &&
	env -u T9KFS_SERVER "$T9KFS_BIN" server stop >/dev/null &&
	test_must_fail "$T9KFS_BIN" ui extra 2>err && test_must_fail "$T9KFS_BIN" ui --nope 2>err
'

test_expect_success 'the servers stop cleanly and logged no sanitizer report and no internal error' '
	stop main && stop public &&
	! grep -l "ERROR: \(Address\|Leak\)Sanitizer\|runtime error:" "$TEST_DIR"/*.log &&
	! grep " 500 " "$TEST_DIR"/main.log "$TEST_DIR"/public.log
'

test_done
