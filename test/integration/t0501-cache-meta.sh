#!/bin/bash
# Cache group membership through the metadata service (issue 7): daemons
# started with --meta register with heartbeats and take the live member
# list from the service, on loopback. Members join one by one and every
# daemon sees the whole group; a mount follows @NAME; a clean stop leaves
# at once, a kill -9 expires after the ttl, and reads stay correct through
# both; a member's --node-name is in the group's listing; an outage of the
# service keeps the last list; bad input.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-cache.sh"

read -r P1 P2 P3 <<<"$(free_ports 3)"
META="unix:$T9KFS_HOME/meta.sock"

# member NAME PORT: a daemon of group "pool" with a 3 s heartbeat ttl
member() {
	start_daemon "$1" --capacity 64M --listen "127.0.0.1:$2" --meta "$META" --group-name pool \
		--member-ttl 3000 --peer-timeout 700 --peer-wait 2000 --peer-skip 1000
}

sees() { # NAME N: daemon NAME has N members
	[ "$(stat_of "$1" group_members)" = "$2" ]
}

# wait_members NAME N: daemon NAME sees N members within 15 s
wait_members() {
	test_wait 15 sees "$1" "$2" || { tail -n 5 "$D/$1.log"; return 1; }
}

live() { # N: the service lists N live members of pool
	[ "$(t9kfs cache stats --group @pool 2>/dev/null | grep -c "^# ")" = "$1" ]
}

group_get() { # GROUP: the service's GET /api/v1/cache-groups/GROUP on stdout
	curl -sf --unix-socket "$T9KFS_HOME/meta.sock" \
		-H "Authorization: Bearer $(cat "$T9KFS_HOME/token")" \
		"http://t9kfs/api/v1/cache-groups/$1"
}

# group_has GROUP JSON: the GET of GROUP contains JSON (not checked without curl)
group_has() {
	! command -v curl >/dev/null || group_get "$1" | grep -qF "$2" || {
		echo "GET of group $1 lacks $2: $(group_get "$1")"
		return 1
	}
}

sorted_pair() { # A B: "A,B" in byte order, as the service sorts members (ports are random)
	printf '%s\n' "$1" "$2" | LC_ALL=C sort | paste -sd,
}

logged() { # PATTERN FILE...
	grep -q "$@"
}

group_sum() { # COUNTER: summed over g1..g3
	echo $(($(stat_of g1 "$1") + $(stat_of g2 "$1") + $(stat_of g3 "$1")))
}

test_expect_success 'setup: a commit of ~12 chunks; the first member registers' '
	mkdir -p src &&
	head -c 12000000 /dev/urandom >src/big.bin &&
	head -c 1500000 /dev/urandom >src/one.bin &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m v1 >/dev/null &&
	member g1 $P1 &&
	grep -q "joined group .pool. at $META: 127.0.0.1:$P1" "$D/g1.log" &&
	t9kfs cache stats --group @pool >out && grep -q "^# 127.0.0.1:$P1$" out &&
	[ "$(stat_of g1 group_members)" = 1 ]
'

test_expect_success 'two more join; within a heartbeat every member sees all three' '
	member g2 $P2 && member g3 $P3 &&
	wait_members g1 3 && wait_members g2 3 && wait_members g3 3 &&
	test_wait 5 logged "group now 3 members" "$D/g1.log" &&
	live 3
'

test_expect_success 'a mount on @pool reads through the owners; a second node needs no store' '
	mount_t9kfs data@main m1 --cache-group @pool >/dev/null &&
	cmp src/big.bin m1/big.bin && cmp src/one.bin m1/one.bin &&
	n=$(group_sum chunks) && [ "$n" -ge 10 ] && [ "$(group_sum store_fetches)" = "$n" ] &&
	owners=0 && for g in g1 g2 g3; do [ "$(stat_of $g chunks)" = 0 ] || owners=$((owners + 1)); done &&
	[ $owners -ge 2 ] &&
	mount_t9kfs data@main m2 --cache "$D/g2/cache.sock" >/dev/null &&
	cmp src/big.bin m2/big.bin &&
	[ "$(group_sum store_fetches)" = "$n" ] && [ "$(stat_of g2 peer_hits)" -ge 1 ] &&
	umount_t9kfs m2 && echo "$n" >nchunks
'

test_expect_success 'a member that stops cleanly leaves at once; reads stay correct' '
	stop_daemon g3 && live 2 &&
	wait_members g1 2 && wait_members g2 2 &&
	test_wait 5 logged "group now 2 members" "$D/g1.log" &&
	umount_t9kfs m1 &&
	mount_t9kfs data@main m1 --cache-group @pool >/dev/null &&
	cmp src/big.bin m1/big.bin && cmp src/one.bin m1/one.bin &&
	umount_t9kfs m1
'

test_expect_success 'a member killed with -9 expires after its ttl, its node too; the mount follows' '
	# back under the name its peers reach it by (--advertise), not --listen,
	# and saying which node it runs on
	start_daemon g3 --capacity 64M --listen 127.0.0.1:$P3 --advertise localhost:$P3 \
		--meta "$META" --group-name pool --member-ttl 3000 --node-name node-3.test &&
	grep -q "joined group .pool. at $META: .*localhost:$P3 (this member on node node-3.test)" \
		"$D/g3.log" &&
	wait_members g1 3 && wait_members g2 3 &&
	group_has pool "\"members\":[$(sorted_pair "\"127.0.0.1:$P1\"" "\"127.0.0.1:$P2\""),\"localhost:$P3\"]" &&
	group_has pool "\"nodes\":{\"localhost:$P3\":\"node-3.test\"}" &&
	t9kfs cache stats --group @pool >out && grep -q "^# localhost:$P3$" out &&
	grep -A1 "^# localhost:$P3$" out | grep -q "^node node-3.test$" &&
	[ "$(grep -c "^node " out)" = 1 ] &&
	mount_t9kfs data@main m1 --cache-group @pool >/dev/null &&
	stop_daemon g3 KILL &&
	cmp src/big.bin m1/big.bin &&
	wait_members g1 2 && wait_members g2 2 &&
	group_has pool "\"nodes\":{}" &&
	test_wait 15 logged "cache: group now 2 members (+0 -1): $(sorted_pair 127.0.0.1:$P1 127.0.0.1:$P2)$" \
		"$T9KFS_HOME"/mounts/*.log &&
	{ sync && echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true &&
	cmp src/one.bin m1/one.bin && cmp src/big.bin m1/big.bin &&
	umount_t9kfs m1
'

test_expect_success 'an outage of the metadata service keeps the last list; it recovers' '
	n1=$(grep -c "group now" "$D/g1.log") && n2=$(grep -c "group now" "$D/g2.log") &&
	t9kfs server stop >/dev/null &&
	test_wait 15 logged "cache group .pool.: metadata service: .*keeping the last list" "$D/g1.log" &&
	test_wait 15 logged "cache group .pool.: metadata service: .*keeping the last list" "$D/g2.log" &&
	sees g1 2 && sees g2 2 &&
	t9kfs server start >/dev/null &&
	test_wait 15 logged "metadata service answers again" "$D/g1.log" &&
	test_wait 15 live 2 && sleep 1 && sees g1 2 && sees g2 2 &&
	# the restarted service knew nobody for a moment; no member dropped the other
	[ "$(grep -c "group now" "$D/g1.log")" = $n1 ] && [ "$(grep -c "group now" "$D/g2.log")" = $n2 ]
'

test_expect_success 'bad input gets one clear line and changes nothing' '
	test_must_fail t9kfs cache serve --dir x --capacity 1M --meta "$META" 2>err &&
	test_one_line_error err "need --listen" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 0.0.0.0:1 --meta "$META" 2>err &&
	test_one_line_error err "say which one with --advertise" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 --advertise nowhere \
		--meta "$META" 2>err &&
	test_one_line_error err "HOST:PORT" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 --meta "$META" \
		--group 127.0.0.1:1 2>err &&
	test_one_line_error err "exclude each other" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 \
		--group 127.0.0.1:1 --node-name n1 2>err &&
	test_one_line_error err "node-name and --group exclude each other" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 \
		--node-name n1 2>err &&
	test_one_line_error err "node-name needs --meta" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 --meta "$META" \
		--node-name Node_1 2>err &&
	test_one_line_error err "bad node name .Node_1." &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 --meta "$META" \
		--group-name .bad 2>err &&
	test_one_line_error err "bad cache group name" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 --meta "$META" \
		--member-ttl 10 2>err &&
	test_one_line_error err "member-ttl" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:1 \
		--meta "unix:$TEST_DIR/nosock" 2>err &&
	test_one_line_error err "not answering" &&
	test_must_fail t9kfs cache stats --group @nobody 2>err &&
	test_one_line_error err "no live members" &&
	test_must_fail t9kfs warmup data@main --group @nobody 2>err &&
	test_one_line_error err "no live members" &&
	mkdir -p m5 && test_must_fail t9kfs mount --cache-group @nobody data@main m5 2>err &&
	test_one_line_error err "no live members" &&
	test_must_fail t9kfs mount --cache-group @bad/name data@main m5 2>err &&
	test_one_line_error err "bad cache group name" &&
	live 2 && t9kfs cache serve --help | grep -q "member-ttl" &&
	t9kfs cache serve --help | grep -q -- "--node-name NAME"
'

test_expect_success 'daemons stop cleanly and leave; no sanitizer report anywhere' '
	unmount_all && stop_all_daemons &&
	test_must_fail t9kfs cache stats --group @pool 2>err && grep -q "no live members" err &&
	daemon_logs_clean && mount_logs_clean
'

test_done
