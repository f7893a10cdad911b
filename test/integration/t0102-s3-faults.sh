#!/bin/bash
# s3:// under faults: a proxy on loopback (s3-fault-proxy.py) between the
# client and a real S3 server answers 500/503, drops and resets
# connections, truncates replies, loses replies and stalls. Reads and
# writes must complete with every fault retried exactly once (the client's
# retry count equals the proxy's fault count); a store that keeps failing
# must give a clear error within its deadline; 4xx is never retried.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

PROXY=$TOP/test/integration/s3-fault-proxy.py
proxy_n=0

# proxy_start PLAN [RULE...]: a fresh proxy; sets $proxy (its endpoint) and
# $plog (its log). Call it outside test_expect_success (a subshell), so the
# variables and the cleanup stay.
proxy_start() {
	local plan=$1 args=() r pid i
	shift
	for r in "$@"; do
		args+=(--rule "$r")
	done
	proxy_n=$((proxy_n + 1))
	plog=$TEST_DIR/proxy$proxy_n.log
	: >"$plog"
	/usr/bin/python3 "$PROXY" --upstream "${S3_ENDPOINT##*:}" --plan "$plan" \
		--port-file "$TEST_DIR/proxy$proxy_n.port" --log "$plog" --stall 20 "${args[@]}" \
		</dev/null >>"$TEST_DIR/proxy.out" 2>&1 &
	pid=$!
	test_cleanup "kill $pid; wait $pid"
	for i in $(seq 100); do
		[ -s "$TEST_DIR/proxy$proxy_n.port" ] && break
		sleep 0.05
	done
	proxy=http://127.0.0.1:$(cat "$TEST_DIR/proxy$proxy_n.port")
}

# Faults the proxy injected so far (every logged action but pass).
faults() {
	grep -cv " pass " "$plog"
}

proxy_url() { # PREFIX [PARAMS]
	printf 's3://%s/%s?endpoint=%s&timeout=1%s\n' "$S3_BUCKET" "$1" "$proxy" "${2:+&$2}"
}

proxy_start pass,500,pass,503,pass,drop,pass,reset,pass,truncate,pass,lost,pass,stall
url=$(proxy_url faults)

test_expect_success 'chunk put and get complete through every kind of fault' '
	head -c 12000000 /dev/urandom >big &&
	T9KFS_LOG=info t9kfs --store "$url" chunk put big >manifest 2>log &&
	T9KFS_LOG=info t9kfs --store "$url" chunk get -o back $(cut -d" " -f1 manifest) 2>>log &&
	cmp big back &&
	retries=$(grep -c "; retry [0-9]* in " log) &&
	echo "faults injected: $(faults), retries: $retries" &&
	cat "$plog" | cut -d" " -f2 | sort | uniq -c &&
	[ "$(faults)" -ge 6 ] && [ "$retries" = "$(faults)" ] &&
	total=$(sed -n "s/.* \([0-9]*\) retries,.*/\1/p" log | awk "{s += \$1} END {print s}") &&
	[ "$total" = "$retries" ]
'

test_expect_success 'the chunks are whole on the server itself' '
	t9kfs --store "$(s3_url faults)" chunk verify >out && grep -q " 0 bad" out
'

test_expect_success 'store API through faults: multipart, ranges, many keys' '
	before=$(faults) &&
	store_tool -s "$url&multipart_threshold=5MiB&part_size=5MiB" put mp 12MiB 7 2>stats &&
	store_tool -s "$url" check mp 12MiB 7 2>>stats &&
	store_tool -s "$url" check mp 12MiB 7 5242870 20 2>>stats &&
	store_tool -s "$url" put-many many 24 4 2>>stats &&
	store_tool -s "$url" check-many many 24 4 2>>stats &&
	[ "$(store_tool -s "$url" count many/ 2>>stats)" = 24 ] &&
	store_tool -s "$url" delete-many many 24 2>>stats &&
	[ "$(store_tool -s "$url" count many/ 2>>stats)" = 0 ] &&
	retries=$(sed -n "s/.* retries=\([0-9]*\) .*/\1/p" stats | awk "{s += \$1} END {print s}") &&
	echo "faults injected: $(($(faults) - before)), retries: $retries" &&
	[ "$retries" -ge 10 ] && [ "$retries" = $(($(faults) - before)) ] &&
	store_tool "$(s3_url faults)" check mp 12MiB 7
'

proxy_start pass "lost:?uploadId=:1"
test_expect_success 'a lost CompleteMultipartUpload reply is recognised on retry' '
	store_tool -s "$(proxy_url lost "multipart_threshold=5MiB&part_size=5MiB")" \
		put mp 11MiB 3 2>stats &&
	grep -q "^[0-9]* lost POST /$S3_BUCKET/lost/mp?uploadId=" "$plog" &&
	grep -q "retries=1 " stats &&
	store_tool "$(s3_url lost)" check mp 11MiB 3
'

proxy_start 503
test_expect_success 'a store that keeps answering 503 fails within its deadline' '
	start=$(date +%s) &&
	test_must_fail t9kfs --store "$(proxy_url down deadline=2)" chunk put big >/dev/null 2>err &&
	cat err &&
	test_one_line_error err "store s3://$S3_BUCKET/down: HEAD .chunks/[0-9a-f]*.: HTTP 503 Slow Down (gave up after [0-9]* attempts in [0-9.]* s)" &&
	[ $(($(date +%s) - start)) -le 6 ]
'

proxy_start stall
test_expect_success 'a store that stalls fails within its deadline' '
	start=$(date +%s) &&
	test_must_fail store_tool "$(proxy_url down deadline=3)" put x 100 1 2>err &&
	cat err &&
	test_one_line_error err "store s3://$S3_BUCKET/down: PUT .x.: .*\(stalled: no byte moved for 1.0 s\|no reply within the deadline\).* (gave up after [0-9]* attempts in [0-9.]* s)" &&
	[ $(($(date +%s) - start)) -le 8 ]
'

test_expect_success 'nothing listening: connection refused, a clear error' '
	port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])") &&
	test_must_fail store_tool "s3://$S3_BUCKET/x?endpoint=http://127.0.0.1:$port&deadline=1" \
		cat k 2>err &&
	test_one_line_error err "GET .k.: Couldn.t connect to server .*127.0.0.1 port $port.*(gave up after"
'

proxy_start pass "stall:partNumber=2&:1000"
# Only this key is checked: earlier tests may orphan an upload whose
# CreateMultipartUpload reply the proxy dropped (its id never reached us).
test_expect_success 'a failed multipart upload is aborted' '
	test_must_fail store_tool "$(proxy_url abort "multipart_threshold=5MiB&part_size=5MiB&deadline=2")" \
		put mp 12MiB 3 2>err &&
	test_one_line_error err "upload part of .mp.: .* (gave up after" &&
	grep -q " pass DELETE /$S3_BUCKET/abort/mp?uploadId=" "$plog" &&
	s3_curl GET "/$S3_BUCKET?uploads=" >uploads &&
	! grep -q "<Key>abort/mp</Key>" uploads &&
	test_must_fail store_tool "$(s3_url abort)" head mp
'

proxy_start pass
test_expect_success '4xx is not retried' '
	test_must_fail env AWS_SECRET_ACCESS_KEY=wrong "$STORE_TOOL" -s "$(proxy_url x)" put k 10 1 2>err &&
	grep -q "HTTP 403 SignatureDoesNotMatch" err &&
	grep -q "requests=1 retries=0" err
'

test_done
