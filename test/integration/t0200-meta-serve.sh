#!/bin/bash
# The metadata service over HTTP (meta/API.md) with curl against a real
# `t9kfs meta serve`: auth on every endpoint, repos (pack_size, also via
# `t9kfs repo create`), refs, staging, the chunk index, commit, log, diff,
# merge, revert, bad input (4xx, nothing changed), restarts and kill -9.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed"

SOCK="$TEST_DIR/meta.sock"
URL=http://t9kfs/api/v1
ZERO=0000000000000000000000000000000000000000000000000000000000000000

# Starts the server in the background; its pid goes to server.pid, its
# exit status to server.rc when it ends.
start_server() {
	rm -f "$TEST_DIR/server.rc" "$TEST_DIR/server.pid"
	( "$T9KFS_BIN" meta serve --db "$TEST_DIR/db" --store "$TEST_DIR/store" \
		--listen "unix:$SOCK" --listen 127.0.0.1:0 --token-file "$T9KFS_HOME/token" \
		>"$TEST_DIR/server.log" 2>&1
	  echo $? >"$TEST_DIR/server.rc" ) &
	local pid="" i
	for i in $(seq 150); do
		pid=$(sed -n 's/.*listening on unix:.*(pid \([0-9]*\)).*/\1/p' "$TEST_DIR/server.log")
		if [ -n "$pid" ] && curl -s --unix-socket "$SOCK" "$URL/health" | grep -q '"ok":true'; then
			echo "$pid" >"$TEST_DIR/server.pid"
			return 0
		fi
		[ -e "$TEST_DIR/server.rc" ] && break
		sleep 0.2
	done
	echo "server did not start:"
	cat "$TEST_DIR/server.log"
	return 1
}

# Waits for the server to exit; with "clean", its exit status must be 0
# (a sanitizer report makes it non-zero).
wait_server() {
	local pid i
	pid=$(cat "$TEST_DIR/server.pid")
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$pid" 2>/dev/null || { echo "server $pid did not exit"; return 1; }
	for i in $(seq 50); do
		[ -s "$TEST_DIR/server.rc" ] && break
		sleep 0.1
	done
	if [ "${1:-}" = clean ] && [ "$(cat "$TEST_DIR/server.rc")" != 0 ]; then
		echo "server exited with $(cat "$TEST_DIR/server.rc"):"
		cat "$TEST_DIR/server.log"
		return 1
	fi
}

stop_server() {
	kill -TERM "$(cat "$TEST_DIR/server.pid")" && wait_server clean
}

test_cleanup 'p=$(cat "$TEST_DIR/server.pid") && kill -TERM $p && sleep 2; kill -9 $p'

token() {
	cat "$T9KFS_HOME/token"
}

# api METHOD PATH [curl args]: the reply body in $TEST_DIR/reply, the
# status in $TEST_DIR/code.
api() {
	local method=$1 path=$2
	shift 2
	curl -sS --unix-socket "$SOCK" -X "$method" -o "$TEST_DIR/reply" -w '%{http_code}' \
		-H "Authorization: Bearer $(token)" "$@" "$URL$path" >"$TEST_DIR/code"
}

# expect STATUS METHOD PATH [curl args]
expect() {
	local want=$1
	shift
	api "$@" || return 1
	if [ "$(cat "$TEST_DIR/code")" != "$want" ]; then
		echo "$1 $2: want $want, got $(cat "$TEST_DIR/code"): $(cat "$TEST_DIR/reply")"
		return 1
	fi
}

reply() {
	cat "$TEST_DIR/reply"
}

# The first string value of "key" in the reply (compact JSON).
field() {
	grep -o "\"$1\":\"[^\"]*\"" "$TEST_DIR/reply" | head -n 1 | cut -d'"' -f4
}

# The reply is an error with this code and a message matching a pattern.
error_is() {
	grep -q "^{\"error\":{\"code\":\"$1\",\"message\":\".*$2" "$TEST_DIR/reply" || {
		echo "want error $1 matching '$2', got: $(reply)"
		return 1
	}
}

# A commit of inline files on a branch: commit_files REPO BRANCH MSG PATH=BASE64...
commit_files() {
	local repo=$1 branch=$2 msg=$3 entries="" sep="" pv
	shift 3
	for pv in "$@"; do
		entries="$entries$sep{\"path\":\"${pv%%=*}\",\"entry\":{\"type\":\"file\",\"mode\":420,\"mtime_ns\":1,\"inline\":\"${pv#*=}\"}}"
		sep=,
	done
	expect 200 POST "/repos/$repo/branches/$branch/staging" -d "{\"entries\":[$entries]}" &&
	expect 201 POST "/repos/$repo/branches/$branch/commits" -d "{\"message\":\"$msg\",\"author\":\"t\"}"
}

# A staging batch of n inline files d/f00000...
batch() {
	awk -v n="$1" 'BEGIN {
		printf "{\"entries\":["
		for (i = 0; i < n; i++)
			printf "%s{\"path\":\"d/f%05d\",\"entry\":{\"type\":\"file\",\"inline\":\"eA==\"}}",
			       i ? "," : "", i
		printf "]}"
	}'
}

# Everything a restart must keep: repos, refs and staging, as the API shows them.
snapshot() {
	local r
	api GET /repos && reply
	for r in $(grep -o '"name":"[^"]*"' "$TEST_DIR/reply" | cut -d'"' -f4); do
		api GET "/repos/$r/refs" && reply
		api GET "/repos/$r/branches/main/staging" && reply
	done
	echo
}

test_expect_success 'the server starts with a 0600 token file and socket' '
	start_server &&
	[ "$(stat -c %a "$T9KFS_HOME/token")" = 600 ] &&
	[ "$(stat -c %a "$SOCK")" = 600 ] &&
	[ "$(wc -c <"$T9KFS_HOME/token")" = 65 ] &&
	grep -q "created token file" "$TEST_DIR/server.log" &&
	! grep -rq "$(token)" "$TEST_DIR/db"
'

test_expect_success 'health needs no token; the TCP listener answers too' '
	curl -s --unix-socket "$SOCK" "$URL/health" >h && grep -q "^{\"ok\":true}$" h &&
	addr=$(sed -n "s/.*listening on \(127.0.0.1:[0-9]*\) .*/\1/p" "$TEST_DIR/server.log") &&
	curl -s "http://$addr/api/v1/health" | grep -q "\"ok\":true" &&
	curl -s -H "Authorization: Bearer $(token)" "http://$addr/api/v1/repos" | grep -q "{\"repos\":\[\]}"
'

test_expect_success 'repo create, get, list; default and explicit stores' '
	expect 201 POST /repos -d "{\"name\":\"data\"}" &&
	[ "$(field store)" = "file://$TEST_DIR/store/data" ] &&
	reply | grep -q "\"chunk\":{\"min\":262144,\"avg\":1048576,\"max\":4194304}" &&
	expect 201 POST /repos -d "{\"name\":\"other\",\"store\":\"file://$TEST_DIR/elsewhere\",\"chunk\":{\"min\":4096,\"avg\":16384,\"max\":65536}}" &&
	[ "$(field store)" = "file://$TEST_DIR/elsewhere" ] &&
	expect 200 GET /repos/data && [ "$(field name)" = data ] &&
	expect 200 GET /repos && reply | grep -q "^{\"repos\":\[{\"name\":\"data\".*{\"name\":\"other\"" &&
	expect 409 POST /repos -d "{\"name\":\"data\"}" && error_is exists "already exists" &&
	expect 404 GET /repos/nope && error_is not_found "repository .nope. not found" &&
	expect 400 POST /repos -d "{\"name\":\"x\",\"chunk\":{\"min\":1,\"avg\":3,\"max\":2}}" &&
	expect 404 GET /repos/x
'

test_expect_success 'pack_size: 0 by default on a file:// store, explicit sizes, bad ones are 400' '
	expect 200 GET /repos/data && reply | grep -q "\"pack_size\":0}" &&
	expect 201 POST /repos -d "{\"name\":\"packed\",\"pack_size\":16777216}" &&
	reply | grep -q "\"pack_size\":16777216}" &&
	expect 200 GET /repos/packed && reply | grep -q "\"pack_size\":16777216}" &&
	expect 201 POST /repos -d "{\"name\":\"nopack\",\"pack_size\":0}" &&
	reply | grep -q "\"pack_size\":0}" &&
	expect 400 POST /repos -d "{\"name\":\"px\",\"pack_size\":1048576}" &&
	error_is bad_request "pack size 1048576 is out of range: want 0 (no packs) or 4194304" &&
	expect 400 POST /repos -d "{\"name\":\"px\",\"pack_size\":1073741825}" &&
	error_is bad_request "request body ..pack_size.. is not 0 or a size" &&
	expect 400 POST /repos -d "{\"name\":\"px\",\"pack_size\":-1}" &&
	expect 400 POST /repos -d "{\"name\":\"px\",\"pack_size\":\"16M\"}" &&
	expect 404 GET /repos/px &&
	expect 204 DELETE /repos/packed && expect 204 DELETE /repos/nopack
'

# The t9kfs command against this server.
cli() {
	T9KFS_SERVER="unix:$SOCK" t9kfs "$@"
}

test_expect_success 'repo create --pack-size through the CLI' '
	cli repo create --help >help && grep -q -- "--pack-size SIZE" help &&
	grep -q "16M on an s3:// store, 0 on others" help &&
	cli repo create cli1 --pack-size 32M >out && grep -q "created repository .cli1." out &&
	cli repo create cli2 >/dev/null &&
	cli repo create cli3 --pack-size 0 >/dev/null &&
	cli repo list --json | tr -d " \n" >list &&
	grep -q "\"name\":\"cli1\",\"pack_size\":33554432," list &&
	grep -q "\"name\":\"cli2\",\"pack_size\":0," list &&
	grep -q "\"name\":\"cli3\",\"pack_size\":0," list &&
	test_must_fail cli repo create cli4 --pack-size 1M 2>err &&
	test_one_line_error err "pack size 1048576 is out of range" &&
	test_must_fail cli repo create cli4 --min 1M --avg 2M --max 8M --pack-size 4M 2>err &&
	test_one_line_error err "the largest chunk" &&
	test_must_fail cli repo create cli4 --pack-size 2G 2>err &&
	test_one_line_error err "invalid pack size .2G." &&
	test_must_fail cli repo create cli4 --pack-size lots 2>err &&
	test_one_line_error err "invalid pack size .lots." &&
	! cli repo list | grep -q "^cli4 " &&
	for r in cli1 cli2 cli3; do cli repo delete $r >/dev/null || exit 1; done
'

test_expect_success 'every endpoint refuses a missing or wrong token (401), changing nothing' '
	snapshot >before &&
	while read -r method path; do
		for auth in "" "Authorization: Bearer wrong" "Authorization: Basic $(token)" \
			    "Authorization: Bearer $(token)x"; do
			code=$(curl -s --unix-socket "$SOCK" -o out -w "%{http_code}" -X "$method" \
				-H "$auth" -d "{\"name\":\"evil\",\"message\":\"m\",\"entries\":[],\"old\":null,\"new\":null,\"source\":\"main\",\"target\":\"main\",\"commit\":\"main\"}" \
				"$URL$path") &&
			[ "$code" = 401 ] || { echo "$method $path ($auth): $code"; cat out; exit 1; }
			grep -q "^{\"error\":{\"code\":\"unauthorized\"" out || { cat out; exit 1; }
		done
	done <<-EOF &&
	GET /repos
	POST /repos
	GET /repos/data
	DELETE /repos/data
	GET /repos/data/refs
	PUT /repos/data/refs/branch/main
	GET /repos/data/resolve?ref=main
	POST /repos/data/branches
	DELETE /repos/data/branches/main
	POST /repos/data/tags
	DELETE /repos/data/tags/t
	GET /repos/data/branches/main/staging
	POST /repos/data/branches/main/staging
	DELETE /repos/data/branches/main/staging
	POST /repos/data/branches/main/commits
	GET /repos/data/commits/$ZERO
	GET /repos/data/log
	GET /repos/data/diff?from=main&to=main
	POST /repos/data/merge
	POST /repos/data/branches/main/revert
	GET /repos/data/chunk-index/$ZERO
	POST /repos/data/chunk-index
	GET /cache-groups/pool
	PUT /cache-groups/pool/members/h:1
	DELETE /cache-groups/pool/members/h:1
	GET /no/such/endpoint
	EOF
	curl -s -i --unix-socket "$SOCK" "$URL/repos" | grep -qi "^WWW-Authenticate: Bearer" &&
	snapshot >after && test_cmp before after
'

test_expect_success 'branches and tags: create, refs, resolve, delete' '
	expect 201 POST /repos/data/branches -d "{\"name\":\"exp\",\"from\":\"main\"}" &&
	main=$(field commit) && [ ${#main} = 64 ] &&
	expect 201 POST /repos/data/tags -d "{\"name\":\"v1\",\"target\":\"exp\"}" &&
	[ "$(field commit)" = "$main" ] &&
	expect 200 GET "/repos/data/refs?prefix=branch/" &&
	[ "$(reply)" = "{\"refs\":[{\"name\":\"branch/exp\",\"commit\":\"$main\"},{\"name\":\"branch/main\",\"commit\":\"$main\"}]}" ] &&
	expect 200 GET "/repos/data/resolve?ref=v1" &&
	[ "$(reply)" = "{\"commit\":\"$main\",\"branch\":false}" ] &&
	expect 200 GET "/repos/data/resolve?ref=${main:0:8}" && [ "$(field commit)" = "$main" ] &&
	expect 200 GET "/repos/data/resolve?ref=exp" && reply | grep -q "\"branch\":true" &&
	expect 409 POST /repos/data/branches -d "{\"name\":\"exp\"}" && error_is exists "already exists" &&
	expect 404 POST /repos/data/branches -d "{\"name\":\"x\",\"from\":\"nope\"}" &&
	expect 404 GET "/repos/data/resolve?ref=nope" &&
	expect 400 GET "/repos/data/resolve" && error_is bad_request "ref. is missing" &&
	expect 204 DELETE /repos/data/tags/v1 &&
	expect 404 DELETE /repos/data/tags/v1 &&
	expect 204 DELETE /repos/data/branches/exp &&
	expect 200 GET /repos/data/refs &&
	[ "$(reply)" = "{\"refs\":[{\"name\":\"branch/main\",\"commit\":\"$main\"}]}" ]
'

test_expect_success 'refs move by compare-and-swap only, and never to a missing commit' '
	expect 200 GET "/repos/data/resolve?ref=main" && main=$(field commit) &&
	expect 200 PUT /repos/data/refs/branch/cas -d "{\"old\":null,\"new\":\"$main\"}" &&
	[ "$(reply)" = "{\"name\":\"branch/cas\",\"commit\":\"$main\"}" ] &&
	expect 409 PUT /repos/data/refs/branch/cas -d "{\"old\":null,\"new\":\"$main\"}" &&
	error_is conflict "" &&
	expect 404 PUT /repos/data/refs/tag/bad -d "{\"old\":null,\"new\":\"$(echo $main | tr 0-9a-f 1-9a-f0)\"}" &&
	expect 404 GET "/repos/data/resolve?ref=bad" &&
	expect 400 PUT /repos/data/refs/branch/cas -d "{\"new\":null}" &&
	expect 400 PUT /repos/data/refs/heads/cas -d "{\"old\":null,\"new\":null}" &&
	expect 200 PUT /repos/data/refs/branch/cas -d "{\"old\":\"$main\",\"new\":null}" &&
	[ "$(reply)" = "{\"name\":\"branch/cas\",\"commit\":null}" ] &&
	expect 404 GET "/repos/data/resolve?ref=cas"
'

test_expect_success 'staging an entry whose object is not in the store is 404 and stages nothing' '
	expect 404 POST /repos/data/branches/main/staging -d "{\"entries\":[
		{\"path\":\"ok\",\"removed\":true},
		{\"path\":\"d/b.txt\",\"entry\":{\"type\":\"file\",\"size\":10,\"id\":\"$ZERO\"}}]}" &&
	error_is not_found "cannot stage .d/b.txt.: its object $ZERO is not in the store" &&
	expect 200 GET /repos/data/branches/main/staging &&
	[ "$(reply)" = "{\"entries\":[],\"more\":false}" ]
'

# Here the object of $ZERO exists, as if a writer had uploaded it (the
# server only checks that it is there; nothing reads its bytes).
test_expect_success 'staging: put, list with paging, reset by prefix' '
	mkdir -p "$TEST_DIR/store/data/meta/00" && echo manifest >"$TEST_DIR/store/data/meta/00/$ZERO" &&
	expect 200 POST /repos/data/branches/main/staging -d "{\"entries\":[
		{\"path\":\"d/a.txt\",\"entry\":{\"name\":\"a.txt\",\"type\":\"file\",\"mode\":384,\"size\":5,\"mtime_ns\":7,\"inline\":\"aGVsbG8=\"}},
		{\"path\":\"d/b.txt\",\"entry\":{\"type\":\"file\",\"size\":10,\"id\":\"$ZERO\"}},
		{\"path\":\"d/link\",\"entry\":{\"type\":\"symlink\",\"inline\":\"YS50eHQ=\"}},
		{\"path\":\"e\",\"dir_attrs\":{\"type\":\"dir\",\"mode\":448,\"mtime_ns\":9}},
		{\"path\":\"old\",\"removed\":true}]}" &&
	[ "$(reply)" = "{\"staged\":5}" ] &&
	expect 200 GET "/repos/data/branches/main/staging?limit=2" &&
	[ "$(reply)" = "{\"entries\":[{\"path\":\"d/a.txt\",\"entry\":{\"name\":\"a.txt\",\"type\":\"file\",\"mode\":384,\"size\":5,\"mtime_ns\":7,\"inline\":\"aGVsbG8=\"}},{\"path\":\"d/b.txt\",\"entry\":{\"name\":\"b.txt\",\"type\":\"file\",\"mode\":420,\"size\":10,\"mtime_ns\":0,\"id\":\"$ZERO\"}}],\"more\":true}" ] &&
	expect 200 GET "/repos/data/branches/main/staging?limit=2&after=d/b.txt" &&
	[ "$(reply)" = "{\"entries\":[{\"path\":\"d/link\",\"entry\":{\"name\":\"link\",\"type\":\"symlink\",\"mode\":511,\"size\":5,\"mtime_ns\":0,\"inline\":\"YS50eHQ=\"}},{\"path\":\"e\",\"dir_attrs\":{\"name\":\"e\",\"type\":\"dir\",\"mode\":448,\"mtime_ns\":9}}],\"more\":true}" ] &&
	expect 200 GET "/repos/data/branches/main/staging?after=e" &&
	[ "$(reply)" = "{\"entries\":[{\"path\":\"old\",\"removed\":true}],\"more\":false}" ] &&
	expect 200 GET "/repos/data/branches/main/staging?prefix=d/" &&
	[ $(reply | grep -o "\"path\"" | wc -l) = 3 ] &&
	expect 200 DELETE "/repos/data/branches/main/staging?prefix=d/" &&
	[ "$(reply)" = "{\"dropped\":3}" ] &&
	expect 200 DELETE /repos/data/branches/main/staging && [ "$(reply)" = "{\"dropped\":2}" ] &&
	expect 200 GET /repos/data/branches/main/staging &&
	[ "$(reply)" = "{\"entries\":[],\"more\":false}" ] &&
	expect 404 GET /repos/data/branches/nope/staging && error_is not_found "branch .nope. not found" &&
	expect 404 POST /repos/data/branches/nope/staging -d "{\"entries\":[]}" &&
	expect 400 GET "/repos/data/branches/main/staging?limit=0" &&
	rm "$TEST_DIR/store/data/meta/00/$ZERO"
'

test_expect_success 'bad names, traversal, absolute paths and NUL are 400 and change nothing' '
	snapshot >before &&
	good="{\"path\":\"good\",\"removed\":true}" &&
	for p in "../x" "a/../x" "/abs" "a//b" "a/" "." "" "a\\u0000b"; do
		expect 400 POST /repos/data/branches/main/staging -d "{\"entries\":[$good,{\"path\":\"$p\",\"removed\":true}]}" ||
			exit 1
	done &&
	expect 400 POST /repos/data/branches/main/staging \
		-d "{\"entries\":[$good,{\"path\":\"a/b\",\"entry\":{\"name\":\"c\",\"type\":\"file\",\"inline\":\"\"}}]}" &&
	error_is bad_request "not the last component" &&
	expect 400 POST /repos/data/branches/main/staging \
		-d "{\"entries\":[$good,{\"path\":\"x\",\"entry\":{\"name\":\"..\",\"type\":\"file\",\"inline\":\"\"}}]}" &&
	expect 400 POST /repos/data/branches/main/staging \
		-d "{\"entries\":[$good,{\"path\":\"x\",\"entry\":{\"type\":\"fifo\",\"inline\":\"\"}}]}" &&
	expect 400 POST /repos/data/branches/main/staging \
		-d "{\"entries\":[$good,{\"path\":\"x\",\"entry\":{\"type\":\"file\",\"inline\":\"!!!!\"}}]}" &&
	expect 400 POST /repos/data/branches/main/staging -d "{\"entries\":[$good,{\"path\":\"x\"}]}" &&
	expect 400 DELETE "/repos/data/branches/main/staging?prefix=/abs" &&
	expect 400 DELETE "/repos/data/branches/main/staging?prefix=../x/" &&
	expect 400 DELETE "/repos/data/branches/main/staging?prefix=a%00b" &&
	for n in "../x" "/abs" "a/b" ".." ".hidden" "-x" "a b" "" "a\\u0000b" \
		 "$(printf "%065d" 0)"; do
		expect 400 POST /repos/data/branches -d "{\"name\":\"$n\"}" || exit 1
	done &&
	expect 400 POST /repos -d "{\"name\":\"a\\u0000b\"}" && error_is bad_request "NUL" &&
	expect 400 POST /repos -d "{\"name\":\"../x\"}" &&
	expect 400 POST /repos -d "{\"name\":\"/abs\"}" &&
	expect 400 POST /repos -d "{\"name\":\"\"}" &&
	expect 400 GET /repos/data%00x && error_is bad_request "NUL" &&
	expect 400 GET "/repos/..%2Fdata" &&
	expect 400 GET /repos/data/../data --path-as-is &&
	expect 400 DELETE /repos/..%2Fdata &&
	expect 400 DELETE /repos/data/branches/..%2Fmain &&
	expect 400 DELETE "/repos/data/branches/a%2F..%2F..%2Fmain" &&
	expect 400 PUT /repos/data/refs/branch/..%2Fx -d "{\"old\":null,\"new\":null}" &&
	expect 400 GET "/repos/data/log?ref=main%00x" &&
	expect 400 POST /repos/data/merge -d "{\"source\":\"main\",\"target\":\"../main\"}" &&
	expect 400 GET /repos/data/commits/xyz &&
	snapshot >after && test_cmp before after
'

test_expect_success 'malformed JSON is 400 with the parser message' '
	expect 400 POST /repos -d "{\"name\": \"x\"" && error_is bad_request "malformed JSON body: .*line 1" &&
	expect 400 POST /repos -d "[1, 2]" && error_is bad_request "not a JSON object" &&
	expect 400 POST /repos -d "{\"name\":\"x\",\"name\":\"y\"}" && error_is bad_request "duplicate" &&
	expect 400 POST /repos -d "{\"name\": 5}" && error_is bad_request "not a string" &&
	expect 400 POST /repos/data/branches/main/staging -d "{\"entries\":{}}" &&
	expect 404 GET /repos/x
'

test_expect_success 'oversized bodies are 413, with or without Content-Length' '
	head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr "\0" " " >big &&
	expect 413 POST /repos/data/branches/main/staging --data-binary @big &&
	error_is too_large "over the limit" &&
	expect 413 POST /repos/data/branches/main/staging -H "Transfer-Encoding: chunked" --data-binary @big &&
	error_is too_large "over the limit" &&
	expect 200 GET /repos/data/branches/main/staging && [ "$(reply)" = "{\"entries\":[],\"more\":false}" ]
'

PACK=abababababababababababababababababababababababababababababababab
C1=c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1
C2=c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2

# index_body PACK STORED_LENGTH_OF_C2: a chunk index body of C1 and C2.
index_body() {
	printf "{\"pack\":\"%s\",\"chunks\":[{\"id\":\"%s\",\"length\":1000,\"offset\":0,\"stored_length\":100},{\"id\":\"%s\",\"length\":2000,\"offset\":100,\"stored_length\":%s}]}" \
		"$1" "$C1" "$C2" "$2"
}

# many_chunks PACK ID N: a body of N entries of 20 bytes each (all named
# ID: the last one wins).
many_chunks() {
	local i sep=""
	printf '{"pack":"%s","chunks":[' "$1"
	for ((i = 0; i < $3; i++)); do
		printf '%s{"id":"%s","length":1,"offset":%d,"stored_length":20}' "$sep" "$2" $((i * 20))
		sep=,
	done
	printf ']}'
}

# put_pack STORE_DIR ID SIZE: a pack object of SIZE bytes in a file:// store.
put_pack() {
	mkdir -p "$1/packs/${2:0:2}" && head -c "$3" /dev/zero >"$1/packs/${2:0:2}/$2"
}

test_expect_success 'chunk index: entries only for ranges of a stored pack; lookups' '
	expect 404 GET /repos/data/chunk-index/$C1 &&
	error_is not_found "chunk $C1 is not in the chunk index of repository .data." &&
	expect 400 GET /repos/data/chunk-index/c1c1 && error_is bad_request "not a chunk id" &&
	expect 404 GET /repos/nope/chunk-index/$C1 && error_is not_found "repository .nope. not found" &&
	index_body $PACK 400 >body &&
	expect 404 POST /repos/nope/chunk-index --data-binary @body &&
	expect 404 POST /repos/data/chunk-index --data-binary @body &&
	error_is not_found "pack $PACK is not in the store of repository .data." &&
	put_pack "$TEST_DIR/store/data" $PACK 499 &&
	expect 400 POST /repos/data/chunk-index --data-binary @body &&
	error_is bad_request "pack $PACK is 499 bytes, but a chunk range ends at 500" &&
	expect 404 GET /repos/data/chunk-index/$C1 &&
	put_pack "$TEST_DIR/store/data" $PACK 500 &&
	expect 200 POST /repos/data/chunk-index --data-binary @body &&
	[ "$(reply)" = "{\"recorded\":2}" ] &&
	expect 200 GET /repos/data/chunk-index/$C2 &&
	[ "$(reply)" = "{\"pack\":\"$PACK\",\"offset\":100,\"stored_length\":400,\"length\":2000}" ] &&
	expect 200 GET /repos/data/chunk-index/$C1 &&
	[ "$(reply)" = "{\"pack\":\"$PACK\",\"offset\":0,\"stored_length\":100,\"length\":1000}" ]
'

test_expect_success 'chunk index: bad bodies are 400 and record nothing' '
	put_pack "$TEST_DIR/store/data" $C2 100000 &&
	C3=c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3 &&
	while read -r body want; do
		expect 400 POST /repos/data/chunk-index -d "$body" || exit 1
		error_is bad_request "$want" || exit 1
	done <<-EOF &&
	{} request body: chunk index has no ..pack..
	{"pack":"xyz","chunks":[]} request body: ..pack.. is .xyz., not an id
	{"pack":"$C2"} needs ..chunks..: an array
	{"pack":"$C2","chunks":[]} ..chunks.. is empty
	{"pack":"$C2","chunks":[1]} chunks.0. is not an object
	{"pack":"$C2","chunks":[{"length":1,"offset":0,"stored_length":20}]} chunks.0. has no ..id..
	{"pack":"$C2","chunks":[{"id":"$C3","offset":0,"stored_length":20}]} chunks.0. has no ..length..
	{"pack":"$C2","chunks":[{"id":"$C3","length":1,"offset":-1,"stored_length":20}]} chunks.0. ..offset.. is -1
	{"pack":"$C2","chunks":[{"id":"$C3","length":1,"offset":0,"stored_length":12}]} too short for a chunk
	{"pack":"$C2","chunks":[{"id":"$C3","length":1,"offset":0,"stored_length":20},{"id":"$C1","length":1,"offset":0,"stored_length":0}]} chunks.1. ..stored_length.. is 0
	EOF
	many_chunks $C2 $C3 4097 >big &&
	expect 400 POST /repos/data/chunk-index --data-binary @big &&
	error_is bad_request "4097 chunks: at most 4096 per request" &&
	many_chunks $C2 $C3 4096 >ok &&
	expect 404 GET /repos/data/chunk-index/$C3 &&
	expect 200 POST /repos/data/chunk-index --data-binary @ok && [ "$(reply)" = "{\"recorded\":4096}" ] &&
	expect 200 GET /repos/data/chunk-index/$C3 &&
	[ "$(reply)" = "{\"pack\":\"$C2\",\"offset\":81900,\"stored_length\":20,\"length\":1}" ]
'

test_expect_success 'unknown endpoints are 404, wrong methods 405 with Allow' '
	expect 404 GET /nope && error_is not_found "no such endpoint" &&
	expect 404 GET /repos/data/nope &&
	expect 405 PATCH /repos/data && error_is method_not_allowed "allowed: GET, DELETE" &&
	curl -s -i --unix-socket "$SOCK" -X PUT -H "Authorization: Bearer $(token)" "$URL/repos" |
		grep -qi "^Allow: GET, POST"
'

test_expect_success 'commit through the API; an empty one is 409 unless allowed' '
	commit_files data main "add a and b" a.txt=YQ== b.txt=Yg== &&
	c1=$(field id) && [ "$(field message)" = "add a and b" ] &&
	expect 200 GET "/repos/data/resolve?ref=main" && [ "$(field commit)" = "$c1" ] &&
	expect 409 POST /repos/data/branches/main/commits -d "{\"message\":\"none\"}" &&
	error_is nothing_to_commit "nothing to commit" &&
	expect 201 POST /repos/data/branches/main/commits \
		-d "{\"message\":\"empty\",\"author\":\"ann\",\"allow_empty\":true,\"meta\":{\"lr\":\"0.1\",\"epochs\":\"90\"}}" &&
	c2=$(field id) &&
	reply | grep -q "\"parents\":\[\"$c1\"\]" &&
	reply | grep -q "\"meta\":{\"epochs\":\"90\",\"lr\":\"0.1\"}" &&
	expect 400 POST /repos/data/branches/main/commits -d "{\"allow_empty\":true,\"meta\":{\"lr\":0.1}}" &&
	expect 404 POST /repos/data/branches/nope/commits -d "{\"allow_empty\":true}" &&
	expect 200 GET /repos/data/commits/$c2 && [ "$(field id)" = "$c2" ] && [ "$(field author)" = "ann <admin>" ] &&
	expect 404 GET /repos/data/commits/$ZERO
'

test_expect_success 'log: newest first, limit, first_parent' '
	expect 200 GET "/repos/data/log?ref=main&limit=2" &&
	[ $(reply | grep -o "\"id\":" | wc -l) = 2 ] &&
	reply | grep -q "\"message\":\"empty\".*\"message\":\"add a and b\".*\"more\":true}$" &&
	expect 200 GET "/repos/data/log?ref=main&first_parent=1" &&
	[ $(reply | grep -o "\"id\":" | wc -l) = 3 ] && reply | grep -q "\"more\":false}$" &&
	expect 200 GET "/repos/data/log?ref=main~2" && reply | grep -q "Repository created" &&
	expect 400 GET "/repos/data/log?limit=x"
'

test_expect_success 'diff between two refs' '
	expect 200 GET "/repos/data/diff?from=main~2&to=main" &&
	[ "$(reply)" = "{\"changes\":[{\"path\":\"a.txt\",\"change\":\"added\",\"new\":{\"name\":\"a.txt\",\"type\":\"file\",\"mode\":420,\"size\":1,\"mtime_ns\":1,\"inline\":\"YQ==\"}},{\"path\":\"b.txt\",\"change\":\"added\",\"new\":{\"name\":\"b.txt\",\"type\":\"file\",\"mode\":420,\"size\":1,\"mtime_ns\":1,\"inline\":\"Yg==\"}}]}" ] &&
	expect 200 GET "/repos/data/diff?from=main&to=main~2" && reply | grep -q "\"change\":\"removed\",\"old\":" &&
	expect 200 GET "/repos/data/diff?from=main&to=main" && [ "$(reply)" = "{\"changes\":[]}" ] &&
	expect 400 GET "/repos/data/diff?from=main"
'

test_expect_success 'merge: fast-forward, then up to date' '
	expect 201 POST /repos/data/branches -d "{\"name\":\"ff\"}" &&
	commit_files data ff "ff change" ff.txt=ZmY= && ff=$(field id) &&
	expect 200 POST /repos/data/merge -d "{\"source\":\"ff\",\"target\":\"main\"}" &&
	[ "$(reply)" = "{\"commit\":\"$ff\",\"fast_forward\":true,\"up_to_date\":false}" ] &&
	expect 200 POST /repos/data/merge -d "{\"source\":\"ff\",\"target\":\"main\"}" &&
	[ "$(reply)" = "{\"commit\":\"$ff\",\"fast_forward\":false,\"up_to_date\":true}" ] &&
	expect 400 POST /repos/data/merge -d "{\"source\":\"ff\",\"target\":\"main\",\"strategy\":\"mine\"}" &&
	expect 404 POST /repos/data/merge -d "{\"source\":\"ff\",\"target\":\"nope\"}"
'

test_expect_success 'merge conflict lists the paths and changes nothing; theirs resolves it' '
	expect 201 POST /repos/data/branches -d "{\"name\":\"feature\"}" &&
	commit_files data feature "theirs" a.txt=dGhlaXJz new.txt=bmV3 &&
	commit_files data main "ours" a.txt=b3Vycw== && ours=$(field id) &&
	expect 409 POST /repos/data/merge -d "{\"source\":\"feature\",\"target\":\"main\"}" &&
	error_is conflict "merge stopped" &&
	reply | grep -q "\"conflicts\":\[\"a.txt\"\]}}$" &&
	expect 200 GET "/repos/data/resolve?ref=main" && [ "$(field commit)" = "$ours" ] &&
	expect 200 POST /repos/data/merge \
		-d "{\"source\":\"feature\",\"target\":\"main\",\"strategy\":\"theirs\",\"message\":\"take theirs\",\"author\":\"m\"}" &&
	reply | grep -q "\"fast_forward\":false" && merged=$(field commit) &&
	expect 200 GET /repos/data/commits/$merged &&
	reply | grep -q "\"parents\":\[\"$ours\",\"" && [ "$(field message)" = "take theirs" ] &&
	expect 200 GET "/repos/data/diff?from=feature&to=main" &&
	! reply | grep -q "a.txt" && ! reply | grep -q "new.txt"
'

test_expect_success 'revert commits the inverse; a conflicting revert is 409 with paths' '
	expect 200 POST /repos/data/branches/main/revert -d "{\"commit\":\"ff\"}" &&
	rev=$(field commit) &&
	expect 200 GET /repos/data/commits/$rev && reply | grep -q "\"message\":\"Revert " &&
	expect 200 GET "/repos/data/diff?from=main~1&to=main" &&
	[ "$(reply | grep -o "\"path\":\"[^\"]*\",\"change\":\"[a-z]*\"")" = "\"path\":\"ff.txt\",\"change\":\"removed\"" ] &&
	commit_files data main "touch b" b.txt=YmI= &&
	expect 409 POST /repos/data/branches/main/revert -d "{\"commit\":\"main~6\"}" &&
	reply | grep -q "\"conflicts\":\[\"a.txt\",\"b.txt\"\]" &&
	expect 404 POST /repos/data/branches/main/revert -d "{\"commit\":\"nope\"}" &&
	expect 400 POST /repos/data/branches/main/revert -d "{}"
'

test_expect_success 'a restart loses nothing' '
	expect 200 POST /repos/data/branches/main/staging \
		-d "{\"entries\":[{\"path\":\"pending.txt\",\"entry\":{\"type\":\"file\",\"inline\":\"cA==\"}}]}" &&
	snapshot >before &&
	stop_server && test ! -e "$SOCK" &&
	start_server &&
	snapshot >after && test_cmp before after &&
	grep -q pending.txt after
'

test_expect_success 'kill -9, then a restart: refs intact, the stale socket replaced' '
	commit_files data main "before the kill" k.txt=aw== && head=$(field id) &&
	snapshot >before &&
	kill -9 "$(cat "$TEST_DIR/server.pid")" && wait_server &&
	test -S "$SOCK" &&
	start_server &&
	snapshot >after && test_cmp before after &&
	expect 200 GET "/repos/data/resolve?ref=main" && [ "$(field commit)" = "$head" ] &&
	expect 200 GET "/repos/data/log?ref=main&limit=1" && [ "$(field message)" = "before the kill" ]
'

test_expect_success 'a second server on the same socket or database is refused' '
	test_must_fail t9kfs meta serve --db "$TEST_DIR/db2" --store "$TEST_DIR/store" \
		--listen "unix:$SOCK" --token-file "$T9KFS_HOME/token" 2>err &&
	grep -q "already listening on $SOCK" err &&
	test_must_fail t9kfs meta serve --db "$TEST_DIR/db" --store "$TEST_DIR/store" \
		--listen "unix:$TEST_DIR/other.sock" --token-file "$T9KFS_HOME/token" 2>err &&
	test_one_line_error err "database .* is in use by another process" &&
	test ! -e "$TEST_DIR/other.sock" &&
	expect 200 GET /repos/data
'

test_expect_success 'a token file open to others is refused' '
	cp "$T9KFS_HOME/token" loose && chmod 644 loose &&
	test_must_fail t9kfs meta serve --db "$TEST_DIR/db3" --store "$TEST_DIR/store" \
		--listen "unix:$TEST_DIR/loose.sock" --token-file loose 2>err &&
	test_one_line_error err "chmod 600"
'

test_expect_success 'repo delete drops refs, staging and the chunk index; the name can be reused' '
	put_pack "$TEST_DIR/elsewhere" $PACK 500 && index_body $PACK 400 >body &&
	expect 200 POST /repos/other/chunk-index --data-binary @body &&
	expect 200 GET /repos/other/chunk-index/$C1 &&
	expect 204 DELETE /repos/other &&
	expect 404 GET /repos/other &&
	expect 404 GET /repos/other/refs &&
	expect 404 DELETE /repos/other &&
	expect 201 POST /repos -d "{\"name\":\"other\",\"store\":\"file://$TEST_DIR/again\"}" &&
	commit_files other main "fresh" f.txt=Zg== &&
	test -d "$TEST_DIR/again/meta" &&
	put_pack "$TEST_DIR/again" $PACK 500 &&
	expect 404 GET /repos/other/chunk-index/$C1 &&
	expect 200 GET "/repos/other/log?ref=main" && [ $(reply | grep -o "\"id\":" | wc -l) = 2 ]
'

test_expect_success 'large batches, paging and replies bigger than memory buffers' '
	expect 201 POST /repos -d "{\"name\":\"big\"}" &&
	batch 20000 >batch &&
	expect 200 POST /repos/big/branches/main/staging --data-binary @batch &&
	[ "$(reply)" = "{\"staged\":20000}" ] &&
	expect 200 GET "/repos/big/branches/main/staging?limit=10000" &&
	reply | grep -q "\"more\":true}$" && last=$(grep -o "d/f[0-9]*" "$TEST_DIR/reply" | tail -n 1) &&
	[ "$last" = d/f09999 ] &&
	expect 200 GET "/repos/big/branches/main/staging?limit=10000&after=$last" &&
	reply | grep -q "\"more\":false}$" && [ $(grep -o "d/f[0-9]*" "$TEST_DIR/reply" | wc -l) = 10000 ] &&
	expect 201 POST /repos/big/branches/main/commits -d "{\"message\":\"20000 files\"}" &&
	expect 200 GET "/repos/big/diff?from=main~1&to=main" &&
	[ $(wc -c <"$TEST_DIR/reply") -gt 2000000 ] &&
	[ $(grep -o "\"change\":\"added\"" "$TEST_DIR/reply" | wc -l) = 20000 ] &&
	tail -c 40 "$TEST_DIR/reply" | grep -q "}}]}$"
'

test_expect_success 'cache groups: heartbeats, expiry, leave, bad input' '
	expect 200 GET /cache-groups/pool && reply | grep -q "^{\"group\":\"pool\",\"members\":\[\]," &&
	expect 200 PUT /cache-groups/pool/members/10.0.0.2:7070 -d "{\"ttl_ms\":1000}" &&
	expect 200 PUT /cache-groups/pool/members/%5B::1%5D:7070 -d "{}" &&
	reply | grep -q "^{\"ttl_ms\":10000,\"group\":\"pool\",\"members\":\[\"10.0.0.2:7070\",\"\[::1\]:7070\"\],\"nodes\":{},\"complete\":\(true\|false\)}$" &&
	# complete: up for as long as the ttl asked about (a fresh service may miss members)
	expect 200 GET "/cache-groups/pool?ttl_ms=1000" && reply | grep -q "\"complete\":true}$" &&
	expect 400 GET "/cache-groups/pool?ttl_ms=5" &&
	expect 400 PUT /cache-groups/pool/members/bad%20host:1 -d "{}" &&
	error_is bad_request "character 0x20 not allowed" &&
	expect 400 PUT /cache-groups/pool/members/h:1 -d "{\"ttl_ms\":5}" &&
	error_is bad_request "ttl_ms 5: want 1000 to 600000" &&
	expect 400 PUT /cache-groups/pool/members/h:1 -d "{\"ttl_ms\":\"x\"}" &&
	expect 400 GET /cache-groups/.hidden &&
	expect 405 POST /cache-groups/pool &&
	sleep 1.2 &&
	expect 200 GET /cache-groups/pool && reply | grep -q "^{\"group\":\"pool\",\"members\":\[\"\[::1\]:7070\"\]," &&
	expect 200 DELETE /cache-groups/pool/members/%5B::1%5D:7070 &&
	expect 404 DELETE /cache-groups/pool/members/%5B::1%5D:7070 &&
	error_is not_found "not a member of cache group" &&
	expect 200 GET /cache-groups/pool && reply | grep -q "^{\"group\":\"pool\",\"members\":\[\],"
'

# group_is GROUP MEMBERS NODES: the reply lists exactly these (JSON text)
group_is() {
	reply | grep -q "\"group\":\"$1\",\"members\":\[$2\],\"nodes\":{$3},\"complete\":" || {
		echo "want members [$2] nodes {$3}, got: $(reply)"
		return 1
	}
}

test_expect_success 'cache groups: a heartbeat names its node; bad names are 400' '
	A="\"10.0.0.7:7070\"" B="\"10.0.0.8:7070\"" &&
	expect 200 PUT /cache-groups/k8s/members/10.0.0.7:7070 -d "{\"node\":\"node-7.zone-a\"}" &&
	group_is k8s "$A" "$A:\"node-7.zone-a\"" &&
	# no node (absent or null): listed in members, not in nodes
	expect 200 PUT /cache-groups/k8s/members/10.0.0.8:7070 -d "{\"node\":null}" &&
	group_is k8s "$A,$B" "$A:\"node-7.zone-a\"" &&
	expect 200 GET /cache-groups/k8s && group_is k8s "$A,$B" "$A:\"node-7.zone-a\"" &&
	# bad names and types: 400, the member and its node unchanged
	for body in "{\"node\":\"Node-7\"}" "{\"node\":\"node_7\"}" "{\"node\":\"\"}" \
		"{\"node\":\"-a\"}" "{\"node\":\"a..b\"}" "{\"node\":\"$(printf %0254d 0)\"}"; do
		expect 400 PUT /cache-groups/k8s/members/10.0.0.7:7070 -d "$body" &&
		error_is bad_request "bad node name" || exit 1
	done &&
	expect 400 PUT /cache-groups/k8s/members/10.0.0.7:7070 -d "{\"node\":7}" &&
	error_is bad_request "node.. is not a string" &&
	expect 400 PUT /cache-groups/k8s/members/10.0.0.9:7070 -d "{\"node\":\"BAD\"}" &&
	expect 200 GET /cache-groups/k8s && group_is k8s "$A,$B" "$A:\"node-7.zone-a\"" &&
	expect 200 PUT /cache-groups/k8s/members/10.0.0.8:7070 -d "{\"node\":\"$(printf %0253d 0)\"}" &&
	group_is k8s "$A,$B" "$A:\"node-7.zone-a\",$B:\"$(printf %0253d 0)\"" &&
	# each heartbeat says the node anew: a moved daemon replaces it, none clears it
	expect 200 PUT /cache-groups/k8s/members/10.0.0.7:7070 -d "{\"node\":\"node-9\"}" &&
	group_is k8s "$A,$B" "$A:\"node-9\",$B:\"$(printf %0253d 0)\"" &&
	expect 200 PUT /cache-groups/k8s/members/10.0.0.8:7070 -d "{}" &&
	group_is k8s "$A,$B" "$A:\"node-9\"" &&
	# a member that leaves takes its node along
	expect 200 DELETE /cache-groups/k8s/members/10.0.0.7:7070 && group_is k8s "$B" "" &&
	expect 200 DELETE /cache-groups/k8s/members/10.0.0.8:7070 && group_is k8s "" ""
'

test_expect_success 'SIGTERM stops the server cleanly and removes its socket' '
	stop_server && test ! -e "$SOCK" &&
	grep -q "stopping on SIGTERM" "$TEST_DIR/server.log" &&
	grep -q "GET /api/v1/repos/data/log 200 [0-9.]*ms" "$TEST_DIR/server.log"
'

test_done
