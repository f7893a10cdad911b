#!/bin/bash
# Incremental stores of a branch mount (fs/incr.h): appends with fsync to
# a large open file store deltas, not its last chunk each time, so the
# store grows by about what was appended; random writes store about a
# chunk each; after that and truncations the contents are byte-equal
# after a remount and in an export, and each file's manifest is the one a
# full re-cut of its bytes gives (t9kfs put of the same bytes names the
# same manifest); a kill -9 after acknowledged fsyncs loses nothing, also
# to a gc run that follows. The mounts run with T9KFS_WRITE_CHECK=1: every
# store is compared with a full re-cut too, and a difference fails it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

store_bytes() {
	find "$T9KFS_HOME/store/data" -type f -printf "%s\n" | awk '{ n += $1 } END { print n + 0 }'
}
store_objects() { find "$T9KFS_HOME/store/data" -type f | wc -l; }
chunk_objects() { find "$T9KFS_HOME/store/data/chunks" -type f | wc -l; }

# A local file's chunks, cut with the default sizes (into a scratch
# store): "<id> <length>" a line.
chunks_of() {
	T9KFS_STORE="file://$TEST_DIR/scratch" t9kfs chunk put -q "$1"
}

mount_checked() {
	T9KFS_WRITE_CHECK=1 T9KFS_LOG=debug mount_t9kfs data@main mnt >/dev/null
}

# appender.py FILE N [READY]: N lines appended, each followed by an
# fsync, on one open file descriptor; with READY, then creates that file
# and waits, the file still open, to be killed.
cat >"$TEST_DIR/appender.py" <<'EOF'
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
for i in range(n):
    os.write(fd, b"%06d step=%d loss=%.6f lr=0.001 a metrics line\n" % (i, i * 10, 1.0 / (i + 1)))
    os.fsync(fd)
if len(sys.argv) > 3:
    open(sys.argv[3], "w").close()
    time.sleep(120)
os.close(fd)
EOF

# randwrite.py FILE N SEED: N writes of 4 KiB at random offsets, each
# followed by an fsync, on one open file descriptor.
cat >"$TEST_DIR/randwrite.py" <<'EOF'
import os, random, sys
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
fd = os.open(path, os.O_WRONLY)
size = os.fstat(fd).st_size
for i in range(n):
    os.pwrite(fd, r.randbytes(4096), r.randrange(0, size // 4096) * 4096)
    os.fsync(fd)
os.close(fd)
EOF

# Runs appender.py on FILE of the mount, N lines, and waits until it is
# done but still has the file open; $apid is its pid.
append_open() {
	rm -f ready
	{ /usr/bin/python3 appender.py "mnt/$1" "$2" ready & } &&
	apid=$! &&
	for i in $(seq 1 600); do [ -e ready ] && break; sleep 0.1; done &&
	[ -e ready ]
}
append_close() {
	{ kill "$apid" && wait "$apid"; } 2>/dev/null
	return 0
}

test_expect_success 'setup: a 12 MiB log and an 8 MiB file, imported and mounted' '
	mkdir src &&
	/usr/bin/python3 -c "
import base64, random
r = random.Random(7)
with open(\"src/log.txt\", \"wb\") as f:
    for i in range(12 * 16):
        f.write(base64.b64encode(r.randbytes(49152)).replace(b\"A\", b\"\\n\")[:65536])
" &&
	head -c 8388608 /dev/urandom >src/db.bin &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m base >/dev/null &&
	cp -a src ref &&
	mount_checked
'

test_expect_success 'appends with fsync store deltas: the store grows by O(appended)' '
	tail=$(chunks_of ref/log.txt | tail -n 1 | cut -d" " -f2) &&
	b0=$(store_bytes) && o0=$(store_objects) &&
	append_open log.txt 40 &&
	b1=$(store_bytes) && o1=$(store_objects) &&
	append_close &&
	/usr/bin/python3 appender.py ref/log.txt 40 &&
	echo "40 appends: $((b1 - b0)) bytes, $((o1 - o0)) objects; last chunk $tail bytes" &&
	# a delta (or the first time, the last chunk whole: no base is known
	# after an open) and a manifest per fsync, far under a chunk each:
	# storing the last chunk each time would be 40 x $tail bytes
	[ $((o1 - o0)) -le 82 ] &&
	[ $((b1 - b0)) -lt $((tail + 40 * 16384)) ] &&
	[ "$(find "$T9KFS_HOME/store/data/deltas" -type f | wc -l)" -ge 35 ] &&
	grep -q "log.txt.: stored .* (1 as deltas)" "$T9KFS_HOME"/mounts/*.log &&
	cmp mnt/log.txt ref/log.txt
'

test_expect_success 'the last close stores the last chunk whole; deltas verify' '
	id=$(chunks_of ref/log.txt | tail -n 1 | cut -d" " -f1) && [ -n "$id" ] &&
	f="$T9KFS_HOME/store/data/chunks/${id:0:2}/$id" &&
	for i in $(seq 1 50); do [ -f "$f" ] && break; sleep 0.1; done && # (release is async)
	test -f "$f" &&
	! grep -q "stays a delta" "$T9KFS_HOME"/mounts/*.log &&
	T9KFS_STORE="file://$T9KFS_HOME/store/data" t9kfs chunk verify >vout &&
	grep -q " 0 bad" vout
'

test_expect_success 'random 4 KiB writes with fsync store about a chunk each' '
	c0=$(chunk_objects) &&
	/usr/bin/python3 randwrite.py mnt/db.bin 20 5 &&
	/usr/bin/python3 randwrite.py ref/db.bin 20 5 &&
	c1=$(chunk_objects) &&
	echo "20 random writes: $((c1 - c0)) new chunks" &&
	[ $((c1 - c0)) -le 40 ] &&
	cmp mnt/db.bin ref/db.bin
'

test_expect_success 'truncate, then appends across a chunk boundary, then a hole' '
	for d in mnt ref; do
		truncate -s 10000000 $d/log.txt &&
		head -c 3000000 src/log.txt >>$d/log.txt &&
		/usr/bin/python3 appender.py $d/log.txt 10 &&
		truncate -s 12000000 $d/db.bin &&
		printf tail | dd of=$d/db.bin bs=1 seek=11999000 conv=notrunc status=none || exit 1
	done &&
	cmp mnt/log.txt ref/log.txt && cmp mnt/db.bin ref/db.bin
'

test_expect_success 'after a remount the contents are byte-equal (lazy copy-up reads)' '
	umount_t9kfs mnt &&
	mount_checked &&
	cmp mnt/log.txt ref/log.txt && cmp mnt/db.bin ref/db.bin &&
	/usr/bin/python3 appender.py mnt/log.txt 5 && /usr/bin/python3 appender.py ref/log.txt 5 &&
	cmp mnt/log.txt ref/log.txt
'

test_expect_success 'each manifest equals a full re-cut: put of the same bytes names it' '
	for f in log.txt db.bin; do
		t9kfs put ref/$f data@main:recut/$f >/dev/null || exit 1
	done &&
	t9kfs commit data@main -m writes >/dev/null &&
	for f in log.txt db.bin; do
		t9kfs stat --json data@main:$f | grep "\"id\"" >a &&
		t9kfs stat --json data@main:recut/$f | grep "\"id\"" >b &&
		test_cmp a b || exit 1
	done
'

# After the kill the staged manifest names a delta whose base no manifest
# names any more: gc (with no grace period) must keep that base.
test_expect_success 'export is byte-equal; a kill -9 after fsyncs loses nothing, also to gc' '
	t9kfs export data@main out &&
	cmp out/log.txt ref/log.txt && cmp out/db.bin ref/db.bin &&
	append_open log.txt 30 &&
	pid=$(mount_pid mnt) && kill -9 "$pid" &&
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != Z ]; do sleep 0.1; done &&
	append_close &&
	umount_t9kfs mnt &&
	t9kfs retention set data --grace 0s --min-grace 0s >/dev/null &&
	t9kfs gc data >gc.out && cat gc.out && grep -q "^deleted [1-9]" gc.out &&
	mount_checked &&
	/usr/bin/python3 appender.py ref/log.txt 30 &&
	cmp mnt/log.txt ref/log.txt &&
	t9kfs commit data@main -m "after the kill" >/dev/null &&
	t9kfs cat data@main:log.txt | cmp - ref/log.txt &&
	T9KFS_STORE="file://$T9KFS_HOME/store/data" t9kfs chunk verify >vout &&
	grep -q " 0 bad" vout
'

test_expect_success 'umount; the write check never failed; no sanitizer report' '
	umount_t9kfs mnt &&
	! grep -q "differs from a full re-cut" "$T9KFS_HOME"/mounts/*.log &&
	mount_logs_clean
'

test_done
