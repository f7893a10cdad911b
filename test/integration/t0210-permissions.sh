#!/bin/bash
# Named tokens and per-repository permissions (README "Permissions",
# meta/authz.h) against a real `t9kfs meta serve`, with curl and the CLI:
# every endpoint of meta/API.md (the table below must name each one, so a
# new endpoint without an entry fails this test) x {no token, wrong token,
# read, write, admin of another repository, admin}; the console's cookie
# carries the identity of the token that logged in; revoke and expiry;
# the secret is never stored nor listed; a commit's author is the token's
# name whatever the client sends; bad input changes nothing.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip_all "curl is not installed"

SOCK="$TEST_DIR/meta.sock"
URL=http://t9kfs/api/v1
ZERO=0000000000000000000000000000000000000000000000000000000000000000
export T9KFS_SERVER="unix:$SOCK"
unset T9KFS_TOKEN

start_server() {
	rm -f "$TEST_DIR/server.rc" "$TEST_DIR/server.pid"
	( "$T9KFS_BIN" meta serve --db "$TEST_DIR/db" --store "$TEST_DIR/store" \
		--listen "unix:$SOCK" --token-file "$T9KFS_HOME/token" >"$TEST_DIR/server.log" 2>&1
	  echo $? >"$TEST_DIR/server.rc" ) &
	local i pid
	for i in $(seq 150); do
		pid=$(sed -n 's/.*listening on unix:.*(pid \([0-9]*\)).*/\1/p' "$TEST_DIR/server.log")
		if [ -n "$pid" ] && curl -s --unix-socket "$SOCK" "$URL/health" | grep -q '"ok":true'; then
			echo "$pid" >"$TEST_DIR/server.pid"
			return 0
		fi
		sleep 0.2
	done
	cat "$TEST_DIR/server.log"
	return 1
}
test_cleanup 'p=$(cat "$TEST_DIR/server.pid") && kill -TERM $p && sleep 2; kill -9 $p'

# call SECRET METHOD PATH [BODY]: prints the status; the body in $TEST_DIR/reply
call() {
	local tok=$1 method=$2 path=$3 body=${4:-}
	local args=(-sS --unix-socket "$SOCK" -X "$method" -o "$TEST_DIR/reply" -w '%{http_code}')
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$body" ] && args+=(-d "$body")
	curl "${args[@]}" "$URL$path"
}
secret() { cat "$TEST_DIR/tok.$1"; }
boot() { cat "$T9KFS_HOME/token"; }
refs_of() { call "$(boot)" GET "/repos/$1/refs" >/dev/null && cat "$TEST_DIR/reply"; }

# Every endpoint of meta/API.md: METHOD PATH(with R, B, ...) CLASS, and the
# concrete request of this test. CLASS: public, any, read, write, admin,
# global (an --admin token). Requests run on repository data1 (or the
# cache group data1), made before.
ENDPOINTS=(
	"GET|/api/v1/health|public|/health|"
	"GET|/api/v1/repos|any|/repos|"
	"POST|/api/v1/repos|admin|/repos|{\"name\":\"data9\"}"
	"GET|/api/v1/repos/R|read|/repos/data1|"
	"DELETE|/api/v1/repos/R|admin|/repos/data9|"
	"GET|/api/v1/repos/R/refs|read|/repos/data1/refs|"
	"PUT|/api/v1/repos/R/refs/KIND/NAME|write|/repos/data1/refs/branch/cas|{\"old\":null,\"new\":\"@HEAD@\"}"
	"GET|/api/v1/repos/R/resolve|read|/repos/data1/resolve?ref=main|"
	"POST|/api/v1/repos/R/branches|write|/repos/data1/branches|{\"name\":\"b1\",\"from\":\"main\"}"
	"DELETE|/api/v1/repos/R/branches/B|write|/repos/data1/branches/b1|"
	"POST|/api/v1/repos/R/tags|write|/repos/data1/tags|{\"name\":\"t1\",\"target\":\"main\"}"
	"DELETE|/api/v1/repos/R/tags/T|write|/repos/data1/tags/t1|"
	"GET|/api/v1/repos/R/branches/B/staging|read|/repos/data1/branches/main/staging|"
	"POST|/api/v1/repos/R/branches/B/staging|write|/repos/data1/branches/main/staging|{\"entries\":[{\"path\":\"f\",\"entry\":{\"type\":\"file\",\"mode\":420,\"mtime_ns\":1,\"inline\":\"aGkK\"}}]}"
	"DELETE|/api/v1/repos/R/branches/B/staging|write|/repos/data1/branches/main/staging?prefix=zz|"
	"POST|/api/v1/repos/R/branches/B/commits|write|/repos/data1/branches/main/commits|{\"message\":\"m\",\"author\":\"admin\"}"
	"GET|/api/v1/repos/R/commits/ID|read|/repos/data1/commits/@HEAD@|"
	"GET|/api/v1/repos/R/log|read|/repos/data1/log?ref=main|"
	"GET|/api/v1/repos/R/diff|read|/repos/data1/diff?from=main&to=main|"
	"POST|/api/v1/repos/R/merge|write|/repos/data1/merge|{\"source\":\"main\",\"target\":\"main\",\"message\":\"m\",\"author\":\"x\"}"
	"GET|/api/v1/repos/R/chunk-index/ID|read|/repos/data1/chunk-index/$ZERO|"
	"POST|/api/v1/repos/R/chunk-index|write|/repos/data1/chunk-index|{\"pack\":\"$ZERO\",\"chunks\":[]}"
	"GET|/api/v1/repos/R/retention|read|/repos/data1/retention|"
	"PUT|/api/v1/repos/R/retention|admin|/repos/data1/retention|{}"
	"POST|/api/v1/repos/R/gc|admin|/repos/data1/gc|{\"dry_run\":true,\"wait\":true}"
	"GET|/api/v1/repos/R/gc|read|/repos/data1/gc|"
	"GET|/api/v1/repos/R/du|read|/repos/data1/du|"
	"GET|/api/v1/repos/R/summary|read|/repos/data1/summary|"
	"GET|/api/v1/repos/R/refinfo|read|/repos/data1/refinfo|"
	"GET|/api/v1/repos/R/history|read|/repos/data1/history?ref=main|"
	"GET|/api/v1/repos/R/tree|read|/repos/data1/tree?ref=main|"
	"GET|/api/v1/repos/R/file|read|/repos/data1/file?ref=main&path=f|"
	"GET|/api/v1/repos/R/changes|read|/repos/data1/changes?to=main|"
	"GET|/api/v1/repos/R/compare|read|/repos/data1/compare?refs=main,main|"
	"POST|/api/v1/repos/R/branches/B/revert|write|/repos/data1/branches/main/revert|{\"commit\":\"main\",\"message\":\"r\",\"author\":\"x\"}"
	"GET|/api/v1/session|session|/session|"
	"POST|/api/v1/session|session||"
	"DELETE|/api/v1/session|session||"
	"GET|/api/v1/cache-groups/G|read|/cache-groups/data1|"
	"PUT|/api/v1/cache-groups/G/members/HOST:PORT|write|/cache-groups/data1/members/127.0.0.1:7000|{\"ttl_ms\":60000}"
	"DELETE|/api/v1/cache-groups/G/members/HOST:PORT|write|/cache-groups/data1/members/127.0.0.1:7000|"
	"GET|/api/v1/tokens|global|/tokens|"
	"POST|/api/v1/tokens|global|/tokens|{\"name\":\"made\",\"grants\":[\"x:read\"]}"
	"DELETE|/api/v1/tokens/NAME|global|/tokens/made|"
)

# The tokens: who may do which class on data1.
#   reader data*:read   writer data*:write   owner data*:admin
#   stranger other*:admin   root --admin
may() { # TOKEN CLASS
	case "$2" in
	public|any) return 0 ;;
	read) [ "$1" != stranger ] ;;
	write) [ "$1" = writer ] || [ "$1" = owner ] || [ "$1" = root ] ;;
	admin) [ "$1" = owner ] || [ "$1" = root ] ;;
	global) [ "$1" = root ] ;;
	esac
}

test_expect_success 'start the server; the bootstrap admin makes repositories and tokens' '
	start_server &&
	t9kfs repo create data1 >/dev/null && t9kfs repo create other1 >/dev/null &&
	t9kfs token create reader --repo "data*:read" >tok.reader &&
	t9kfs token create writer --repo "data*:write" --repo "zz:read" >tok.writer &&
	t9kfs token create owner --repo "data?:admin" >tok.owner &&
	t9kfs token create stranger --repo "other*:admin" >tok.stranger &&
	t9kfs token create root --admin --expires 1h >tok.root &&
	for t in reader writer owner stranger root; do
		grep -qx "$t:[0-9a-f]\{64\}" tok.$t || { echo "bad secret for $t"; return 1; }
	done
'

test_expect_success 'the table names every endpoint of meta/API.md' '
	sed -n "s/^| \(GET\|POST\|PUT\|DELETE\) | \`\([^\`]*\)\`.*/\1|\2/p" "$TOP/meta/API.md" | sort -u >documented &&
	[ "$(wc -l <documented)" -ge 40 ] &&
	for e in "${ENDPOINTS[@]}"; do echo "$e" | cut -d"|" -f1,2; done | sort -u >tabled &&
	test_cmp documented tabled
'

test_expect_success 'no token, a wrong one or a malformed one: 401 on every endpoint but health' '
	before=$(refs_of data1) &&
	for e in "${ENDPOINTS[@]}"; do
		IFS="|" read -r m p class path body <<<"$e"
		case $class in public|session) continue ;; esac
		for tok in "" "wrong" "reader:$ZERO" "nobody:$ZERO" "$(secret reader)x"; do
			code=$(call "$tok" "$m" "$path" "${body//@HEAD@/$ZERO}") &&
			[ "$code" = 401 ] || { echo "$m $path with [$tok]: $code $(cat reply)"; return 1; }
		done
	done &&
	[ "$(refs_of data1)" = "$before" ] &&
	[ "$(call "" GET /health)" = 200 ]
'

test_expect_success 'every endpoint: 403 naming permission and repository for each token without it' '
	before=$(refs_of data1) && tokens_before=$(t9kfs token list) &&
	n=0 &&
	for e in "${ENDPOINTS[@]}"; do
		IFS="|" read -r m p class path body <<<"$e"
		case $class in public|any|session) continue ;; esac
		for t in reader writer owner stranger root; do
			may $t $class && continue
			code=$(call "$(secret $t)" "$m" "$path" "${body//@HEAD@/$ZERO}") &&
			[ "$code" = 403 ] || { echo "$t $m $path: want 403, got $code $(cat reply)"; return 1; }
			if [ "$class" = global ]; then
				grep -q "\"code\":\"forbidden\",\"message\":\"token .$t. may not do this: it needs an --admin token\"" reply
			else
				grep -q "\"message\":\"token .$t. lacks $class permission on repository .data[19].\"" reply
			fi || { echo "$t $m $path: $(cat reply)"; return 1; }
			n=$((n + 1))
		done
	done &&
	echo "$n refusals" && [ $n -ge 60 ] &&
	[ "$(refs_of data1)" = "$before" ] &&
	[ "$(t9kfs token list)" = "$tokens_before" ]
'

test_expect_success 'every endpoint: the least token that may, may (never 401/403)' '
	head=$(call "$(boot)" GET "/repos/data1/resolve?ref=main" >/dev/null && sed "s/.*\"commit\":\"\([0-9a-f]*\)\".*/\1/" reply) &&
	for e in "${ENDPOINTS[@]}"; do
		IFS="|" read -r m p class path body <<<"$e"
		case $class in public) t="" ;; any|read) t=reader ;; write) t=writer ;; admin) t=owner ;; global) t=root ;; session) continue ;; esac
		code=$(call "${t:+$(secret $t)}" "$m" "${path//@HEAD@/$head}" "${body//@HEAD@/$head}") &&
		case $code:$p in
		2??:*) ;;
		404:*chunk-index/ID) grep -q "\"code\":\"not_found\"" reply ;; # nothing indexed
		400:*chunk-index) grep -q "chunks.* is empty" reply ;; # no pack to record: its permission passed
		*) echo "$t $m $path: $code $(cat reply)"; return 1 ;;
		esac || { echo "$t $m $path: $code $(cat reply)"; return 1; }
		[ "$path" != /repos/data1/branches/main/commits ] ||
			head=$(sed "s/.*\"id\":\"\([0-9a-f]*\)\".*/\1/" reply)
	done
'

test_expect_success 'GET /repos lists only the repositories a token may read' '
	[ "$(call "$(secret stranger)" GET /repos)" = 200 ] &&
	grep -q "\"name\":\"other1\"" reply && ! grep -q "\"name\":\"data1\"" reply &&
	[ "$(call "$(secret reader)" GET /repos)" = 200 ] &&
	grep -q "\"name\":\"data1\"" reply && ! grep -q "\"name\":\"other1\"" reply &&
	[ "$(call "$(secret root)" GET /repos)" = 200 ] &&
	grep -q "\"name\":\"data1\"" reply && grep -q "\"name\":\"other1\"" reply &&
	T9KFS_TOKEN=$(secret stranger) t9kfs repo list >out && grep -q "^other1 " out && ! grep -q "^data1 " out
'

test_expect_success 'a commit records the token, whatever author the client sends' '
	call "$(secret writer)" GET "/repos/data1/log?ref=main&limit=20" >/dev/null &&
	grep -q "\"author\":\"admin <writer>\",\"message\":\"m\"" reply &&
	! grep -q "\"author\":\"admin\"" reply &&
	echo x >f &&
	T9KFS_TOKEN=$(secret writer) t9kfs put f data1@main:g >/dev/null &&
	T9KFS_TOKEN=$(secret writer) t9kfs commit data1@main -m "by cli" >/dev/null &&
	t9kfs log data1@main | sed -n 2p | grep -q "^Author: .* <writer>$" &&
	[ "$(call "$(secret writer)" POST /repos/data1/branches/main/staging "{\"entries\":[{\"path\":\"h\",\"entry\":{\"type\":\"file\",\"mode\":420,\"mtime_ns\":1,\"inline\":\"aGkK\"}}]}")" = 200 ] &&
	[ "$(call "$(secret writer)" POST /repos/data1/branches/main/commits "{\"message\":\"n\",\"author\":\"Eve <root>\"}")" = 201 ] &&
	grep -q "\"author\":\"Eve root <writer>\"" reply &&
	[ "$(call "$(boot)" POST /repos/data1/branches/main/commits "{\"message\":\"e\",\"allow_empty\":true}")" = 201 ] &&
	grep -q "\"author\":\"admin\"" reply
'

test_expect_success 'the console cookie carries the identity of the token that logged in' '
	h=(-sS --unix-socket "$SOCK" -H "X-T9kfs-Request: 1") &&
	curl "${h[@]}" -c jar -X POST -d "{\"token\":\"$(secret reader)\"}" "$URL/session" | grep -q "\"authenticated\":true" &&
	curl "${h[@]}" -b jar "$URL/session" | grep -q "\"identity\":\"reader\",\"admin\":false" &&
	[ "$(curl "${h[@]}" -b jar -o /dev/null -w "%{http_code}" "$URL/repos/data1/summary")" = 200 ] &&
	[ "$(curl "${h[@]}" -b jar -o reply -w "%{http_code}" "$URL/repos/other1/summary")" = 403 ] &&
	grep -q "token .reader. lacks read permission on repository .other1." reply &&
	[ "$(curl "${h[@]}" -b jar -o /dev/null -w "%{http_code}" -X POST -d "{\"name\":\"c\",\"from\":\"main\"}" "$URL/repos/data1/branches")" = 403 ] &&
	[ "$(curl "${h[@]}" -b jar -o /dev/null -w "%{http_code}" "$URL/tokens")" = 403 ] &&
	curl "${h[@]}" -c jar2 -X POST -d "{\"token\":\"$(secret writer)\"}" "$URL/session" >/dev/null &&
	[ "$(curl "${h[@]}" -b jar2 -o reply -w "%{http_code}" -X POST -d "{\"name\":\"c\",\"from\":\"main\"}" "$URL/repos/data1/branches")" = 201 ] &&
	[ "$(curl "${h[@]}" -o /dev/null -w "%{http_code}" -X POST -d "{\"token\":\"reader:$ZERO\"}" "$URL/session")" = 401 ] &&
	T9KFS_TOKEN=$(boot) t9kfs token revoke writer 2>/dev/null &&
	[ "$(curl "${h[@]}" -b jar2 -o reply -w "%{http_code}" "$URL/repos/data1")" = 401 ] &&
	[ "$(curl "${h[@]}" -b jar -o /dev/null -w "%{http_code}" "$URL/repos/data1")" = 200 ]
'

test_expect_success 'revoke and expiry: 401 at once, also for the CLI' '
	[ "$(call "$(secret writer)" GET /repos/data1)" = 401 ] &&
	grep -q "unknown or revoked" reply &&
	! t9kfs token list | grep -q "^writer " &&
	t9kfs token create brief --repo "data1:read" --expires 5s >tok.brief &&
	[ "$(call "$(secret brief)" GET /repos/data1)" = 200 ] &&
	t9kfs token list | grep -q "^brief  *active " &&
	sleep 5.5 &&
	[ "$(call "$(secret brief)" GET /repos/data1)" = 401 ] &&
	grep -q "token .brief. has expired" reply &&
	t9kfs token list | grep -q "^brief  *expired " &&
	test_must_fail env T9KFS_TOKEN=$(secret brief) "$T9KFS_BIN" log data1@main 2>err &&
	grep -q "expired" err &&
	test_must_fail t9kfs token revoke writer 2>err && grep -q "no token .writer." err
'

test_expect_success 'the secret is never stored nor listed in clear' '
	t9kfs token list >list && t9kfs token list --json >list.json &&
	grep -q "\"name\": \"reader\"" list.json && ! grep -q "hash\|secret" list.json &&
	kill -TERM "$(cat server.pid)" && test_wait 20 test -s server.rc && start_server &&
	for t in reader owner stranger root brief; do
		s=$(secret $t | cut -d: -f2) &&
		! grep -rq "$s" "$TEST_DIR/db" list list.json server.log || { echo "$t secret found"; return 1; }
	done &&
	[ "$(call "$(secret reader)" GET /repos/data1)" = 200 ]
'

test_expect_success 'bad input is a clear error and changes nothing' '
	t9kfs token list --json >before &&
	test_must_fail t9kfs token create bad --repo "data:own" 2>err && test_one_line_error err "unknown permission .own." &&
	test_must_fail t9kfs token create bad --repo "da[ta:read" 2>err && test_one_line_error err "not closed" &&
	test_must_fail t9kfs token create bad --repo "da/ta:read" 2>err && test_one_line_error err "bad repository pattern" &&
	test_must_fail t9kfs token create bad --repo "data" 2>err && test_one_line_error err "want PATTERN:read|write|admin" &&
	test_must_fail t9kfs token create bad --admin --expires 3w 2>err && test_one_line_error err "bad duration" &&
	test_must_fail t9kfs token create reader --admin 2>err && test_one_line_error err "token .reader. exists" &&
	test_must_fail t9kfs token create admin --admin 2>err && test_one_line_error err "bootstrap" &&
	test_must_fail t9kfs token create "bad name" --admin 2>err && test_one_line_error err "bad token name" &&
	test_must_fail t9kfs token create nothing 2>err && test_one_line_error err "would grant nothing" &&
	test_must_fail t9kfs token create --bogus x 2>err && test_one_line_error err "unknown option" &&
	test_must_fail t9kfs token revoke admin 2>err && test_one_line_error err "token file" &&
	[ "$(call "$(boot)" POST /tokens "{\"name\":\"bad\",\"grants\":[\"x:own\"]}")" = 400 ] &&
	[ "$(call "$(boot)" POST /tokens "{\"name\":\"bad\",\"grants\":[\"x:read\"],\"extra\":1}")" = 400 ] &&
	[ "$(call "$(boot)" POST /tokens "{\"name\":\"reader\",\"admin\":true}")" = 409 ] &&
	t9kfs token list --json >after && test_cmp before after &&
	test_must_fail env T9KFS_TOKEN=$(secret owner) "$T9KFS_BIN" token list 2>err && grep -q "needs an --admin token" err &&
	t9kfs token --help | grep -q "^usage: t9kfs token create NAME"
'

test_expect_success 'the server stops cleanly' '
	kill -TERM "$(cat server.pid)" && for i in $(seq 100); do [ -s server.rc ] && break; sleep 0.1; done &&
	[ "$(cat server.rc)" = 0 ] || { cat server.log; false; }
'

test_done
