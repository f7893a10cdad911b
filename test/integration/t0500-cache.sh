#!/bin/bash
# The cache daemon and cache groups (issue 7), all on loopback: three
# daemons in a group (own directories and ports) and mounts reading
# through them. A cold read fills the owners; a second node is served by
# its peers with no store reads; three nodes reading new data at once make
# one store read per chunk (single-flight at the owner); killing or
# freezing a member mid-read does not fail the read; a corrupt cache file
# (on the local daemon or on the owner) is detected, dropped and refetched;
# a daemon with a capacity smaller than the data never holds more than it;
# a restart keeps the cached chunks; warmup, stats, /metrics, the pread
# fallback, --stores, bad input.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-cache.sh"

command -v curl >/dev/null || skip_all "curl is not installed"

read -r P1 P2 P3 P4 PM <<<"$(free_ports 5)"
G="127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3"

group_sum() { # COUNTER: summed over g1..g3
	echo $(($(stat_of g1 "$1") + $(stat_of g2 "$1") + $(stat_of g3 "$1")))
}

test_expect_success 'setup: a commit of ~14 chunks, three group daemons' '
	mkdir -p src/d &&
	head -c 12000000 /dev/urandom >src/big.bin &&
	head -c 1500000 /dev/urandom >src/d/one.bin &&
	echo small >src/d/small.txt &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m v1 >/dev/null &&
	t9kfs tag create data@v1 >/dev/null &&
	start_daemon g1 --capacity 64M --listen 127.0.0.1:$P1 --group $G --peer-timeout 700 --peer-wait 700 --peer-skip 1000 &&
	start_daemon g2 --capacity 64M --listen 127.0.0.1:$P2 --group $G --peer-timeout 700 --peer-wait 700 --peer-skip 1000 \
		--metrics 127.0.0.1:$PM --rdma-buffers 2 &&
	start_daemon g3 --capacity 64M --listen 127.0.0.1:$P3 --group $G --peer-timeout 700 --peer-wait 700 --peer-skip 1000 &&
	grep -q "disk I/O: io_uring" "$D/g1.log" &&
	# the log names the peer transport; with no RDMA device (these machines) it is TCP
	if grep -q "peers use RDMA READ" "$D/g1.log"; then
		echo "# an RDMA device is present: this run covers the RDMA data path" >&2
	else
		grep -q "peers use TCP (RDMA: " "$D/g1.log"
	fi
'

test_expect_success 'a cold read through node 1 fills the owners from the store' '
	mount_t9kfs data@v1 m1 --cache "$D/g1/cache.sock" >/dev/null &&
	cmp src/big.bin m1/big.bin && cmp src/d/one.bin m1/d/one.bin &&
	n=$(group_sum chunks) && [ "$n" -ge 10 ] &&
	[ "$(group_sum store_fetches)" = "$n" ] &&
	owners=0 && for g in g1 g2 g3; do [ "$(stat_of $g chunks)" = 0 ] || owners=$((owners + 1)); done &&
	[ $owners -ge 2 ] &&
	[ "$(stat_of g1 peer_hits)" -ge 1 ] &&
	echo "$n" >nchunks
'

test_expect_success 'node 2 reads it from its peers with zero store reads' '
	mount_t9kfs data@v1 m2 --cache "$D/g2/cache.sock" >/dev/null &&
	cmp src/big.bin m2/big.bin && cmp src/d/one.bin m2/d/one.bin &&
	[ "$(group_sum store_fetches)" = "$(cat nchunks)" ] &&
	[ "$(stat_of g2 peer_hits)" -ge 1 ] &&
	[ $(($(stat_of g2 hits) + $(stat_of g2 peer_hits))) -ge "$(cat nchunks)" ] &&
	{ grep -q "peers use RDMA READ" "$D/g2.log" || [ "$(group_sum rdma_lent)" = 0 ]; } &&
	umount_t9kfs m2
'

test_expect_success 'the config file names the cache daemon for mounts' '
	echo "cache = unix:$D/g2/cache.sock" >"$T9KFS_HOME/config" &&
	r0=$(stat_of g2 requests) &&
	mount_t9kfs data@v1 m2 >/dev/null &&
	rm "$T9KFS_HOME/config" &&
	cmp src/d/one.bin m2/d/one.bin &&
	[ "$(stat_of g2 requests)" -gt "$r0" ] &&
	[ "$(group_sum store_fetches)" = "$(cat nchunks)" ] &&
	umount_t9kfs m2
'

test_expect_success 'a mount reading the group directly (--cache-group) needs no daemon of its own' '
	mount_t9kfs data@v1 m3 --cache-group $G >/dev/null &&
	cmp src/big.bin m3/big.bin &&
	[ "$(group_sum store_fetches)" = "$(cat nchunks)" ] &&
	umount_t9kfs m3
'

test_expect_success 'warmup: everything is cached already; report and /metrics' '
	t9kfs warmup data@v1 --group $G >out &&
	n=$(cat nchunks) &&
	grep -q "warmed $n chunks" out && grep -q "$n were cached already" out &&
	t9kfs warmup data@v1 d --cache "$D/g3/cache.sock" --progress >out 2>err &&
	grep -q "were cached already" out && grep -q "warmup" err &&
	curl -sf http://127.0.0.1:$PM/metrics >metrics &&
	grep -q "^t9kfs_cache_hits_total [1-9]" metrics &&
	grep -q "^t9kfs_cache_request_seconds_bucket{le=\"+Inf\"} [1-9]" metrics &&
	grep -q "^t9kfs_cache_capacity_bytes 67108864" metrics &&
	test_must_fail curl -sf http://127.0.0.1:$PM/nothing
'

test_expect_success 'three nodes reading new data at once: each chunk leaves the store once' '
	head -c 8000000 /dev/urandom >src/new.bin &&
	t9kfs import src data@main -m v2 >/dev/null && t9kfs tag create data@v2 >/dev/null &&
	f0=$(group_sum store_fetches) && c0=$(group_sum chunks) &&
	mount_t9kfs data@v2 n1 --cache "$D/g1/cache.sock" >/dev/null &&
	mount_t9kfs data@v2 n2 --cache "$D/g2/cache.sock" >/dev/null &&
	mount_t9kfs data@v2 n3 --cache-group $G >/dev/null &&
	{ cmp src/new.bin n1/new.bin & cmp src/new.bin n2/new.bin & cmp src/new.bin n3/new.bin &
	  wait %1 && wait %2 && wait %3; } &&
	f1=$(group_sum store_fetches) && c1=$(group_sum chunks) &&
	echo "new chunks $((c1 - c0)), store fetches $((f1 - f0))" &&
	[ $((c1 - c0)) -ge 4 ] && [ $((f1 - f0)) = $((c1 - c0)) ] &&
	umount_t9kfs n1 && umount_t9kfs n2 && umount_t9kfs n3
'

test_expect_success 'kill -9 of a member mid-read: the read completes, from the store' '
	umount_t9kfs m1 &&
	mount_t9kfs data@v2 m1 --cache "$D/g1/cache.sock" -o prefetch=0,read_ahead_kb=128 >/dev/null &&
	exec 5<m1/big.bin &&
	head -c 100000 <&5 >part1 &&
	stop_daemon g3 KILL &&
	cat <&5 >part2 && exec 5<&- &&
	cat part1 part2 | cmp - src/big.bin &&
	cmp src/d/one.bin m1/d/one.bin && cmp src/new.bin m1/new.bin &&
	[ "$(stat_of g1 peer_failures)" -ge 1 ] &&
	grep -q "skipping it" "$D/g1.log"
'

test_expect_success 'a frozen member (SIGSTOP) costs a timeout, not the read' '
	start_daemon g3 --capacity 64M --listen 127.0.0.1:$P3 --group $G --peer-skip 1000 &&
	umount_t9kfs m1 &&
	mount_t9kfs data@v2 m1 --cache "$D/g1/cache.sock" >/dev/null &&
	kill -STOP "$(cat "$D/g2.pid")" &&
	{ cmp src/big.bin m1/big.bin && cmp src/d/one.bin m1/d/one.bin && cmp src/new.bin m1/new.bin; }
	rc=$?
	kill -CONT "$(cat "$D/g2.pid")" && [ $rc = 0 ] &&
	grep -q "127.0.0.1:$P2 failed" "$D/g1.log" || { echo "cmp: $rc"; tail -n 5 "$D/g1.log"; exit 1; }
'

test_expect_success 'a corrupt file on the owner: node 1 detects it, the owner drops it' '
	umount_t9kfs m1 && sleep 1.2 && # the failed peers are tried again
	f=$(find "$D/g3/chunks" -type f | head -n 1) && [ -n "$f" ] &&
	size=$(stat -c %s "$f") &&
	printf "garbage!" | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null &&
	[ "$(stat -c %s "$f")" = "$size" ] &&
	before=$(stat_of g1 peer_corrupt) &&
	mount_t9kfs data@v2 m1 --cache "$D/g1/cache.sock" >/dev/null &&
	cmp src/big.bin m1/big.bin && cmp src/d/one.bin m1/d/one.bin && cmp src/new.bin m1/new.bin &&
	[ "$(stat_of g1 peer_corrupt)" -gt "$before" ] && [ ! -e "$f" ] || {
		echo "corrupt count $(stat_of g1 peer_corrupt), file ${f:-none}"; exit 1; }
'

test_expect_success 'standalone daemon (pread fallback), capacity smaller than the data' '
	umount_t9kfs m1 &&
	start_daemon s --capacity 5M --io pread --stores "s3://x/,file://$T9KFS_HOME/store/" &&
	grep -q "disk I/O: pread" "$D/s.log" &&
	mount_t9kfs data@v1 m4 --cache "$D/s/cache.sock" >/dev/null &&
	{ cat m4/big.bin >/dev/null & cat m4/d/one.bin >/dev/null; wait; } &&
	cmp src/big.bin m4/big.bin &&
	[ "$(stat_of s evictions)" -ge 1 ] &&
	[ "$(stat_of s used_bytes)" -le $((5 << 20)) ] &&
	[ "$(find "$D/s/chunks" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s + 0 }")" -le $((5 << 20)) ] &&
	umount_t9kfs m4
'

test_expect_success 'a corrupt file on the local daemon (warmed up) is dropped and refetched' '
	stop_daemon s && rm -rf "$D/s/chunks" && start_daemon s --capacity 5M &&
	t9kfs warmup data@v1 d --cache "$D/s/cache.sock" >/dev/null &&
	f=$(find "$D/s/chunks" -type f | head -n 1) && [ -n "$f" ] &&
	printf "garbage!" | dd of="$f" bs=1 seek=1000 conv=notrunc 2>/dev/null &&
	fetches=$(stat_of s store_fetches) &&
	mount_t9kfs data@v1 m4 --cache "$D/s/cache.sock" >/dev/null &&
	cmp src/d/one.bin m4/d/one.bin &&
	[ "$(stat_of s client_corrupt)" = 1 ] &&
	[ "$(stat_of s store_fetches)" -gt "$fetches" ] &&
	[ -e "$f" ] && ! grep -q "garbage!" "$f" &&
	grep -q "does not match its id" "$T9KFS_HOME"/mounts/*.log &&
	umount_t9kfs m4
'

test_expect_success 'a restart keeps the cached chunks; a mount keeps using the daemon' '
	chunks=$(stat_of s chunks) && used=$(stat_of s used_bytes) && [ "$chunks" -ge 1 ] &&
	mount_t9kfs data@v1 m4 --cache "$D/s/cache.sock" >/dev/null &&
	stop_daemon s &&
	start_daemon s --capacity 5M &&
	[ "$(stat_of s chunks)" = "$chunks" ] && [ "$(stat_of s used_bytes)" = "$used" ] &&
	cmp src/d/one.bin m4/d/one.bin &&
	[ "$(stat_of s store_fetches)" = 0 ] && [ "$(stat_of s hits)" -ge 1 ] &&
	! grep -q "reading the store instead" "$T9KFS_HOME"/mounts/*.log &&
	umount_t9kfs m4
'

test_expect_success '--stores: a store outside the prefixes is refused, the mount reads it itself' '
	start_daemon x --capacity 5M --stores s3://elsewhere/ &&
	mount_t9kfs data@v1 m6 --cache "$D/x/cache.sock" >/dev/null &&
	cmp src/d/one.bin m6/d/one.bin &&
	[ "$(stat_of x store_fetches)" = 0 ] && [ "$(stat_of x chunks)" = 0 ] &&
	grep -q "is not under --stores" "$D/x.log" &&
	umount_t9kfs m6 && stop_daemon x
'

test_expect_success 'bad input gets one clear line' '
	test_must_fail t9kfs cache serve --dir x --capacity lots 2>err &&
	test_one_line_error err "bad --capacity" &&
	test_must_fail t9kfs cache serve --dir x 2>err && test_one_line_error err "needs --capacity" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen nowhere 2>err &&
	test_one_line_error err "HOST:PORT" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --listen 127.0.0.1:$P4 --group $G 2>err &&
	test_one_line_error err "not in the group" &&
	test_must_fail t9kfs cache serve --dir x --capacity 1M --rdma-buffers -1 2>err &&
	test_one_line_error err "rdma-buffers" &&
	test_must_fail t9kfs cache stats --cache "$TEST_DIR/nosock" 2>err &&
	test_one_line_error err "cannot connect" &&
	mkdir -p m5 &&
	test_must_fail t9kfs mount --cache "$TEST_DIR/nosock" data@v1 m5 2>err &&
	test_one_line_error err "cannot connect" &&
	test_must_fail t9kfs mount --cache-group "a:1,a:1" data@v1 m5 2>err &&
	test_one_line_error err "twice" &&
	t9kfs cache serve --help | grep -q capacity && t9kfs warmup --help | grep -q progress &&
	t9kfs cache stats --help | grep -q group
'

test_expect_success 'daemons stop cleanly; no sanitizer report anywhere' '
	unmount_all && stop_all_daemons &&
	daemon_logs_clean && mount_logs_clean
'

test_done
