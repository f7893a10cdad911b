#!/bin/bash
# A read-only branch mount follows its branch: after a commit from the CLI
# (a changed file, an added file, a deleted file, a renamed directory) the
# mount shows exactly the new commit within a bounded wait, including
# names and pages the kernel had cached; a reader holding the old file
# open keeps reading the old bytes; unchanged paths keep their inode
# numbers. With the metadata service out of reach the mount keeps
# serving its commit, logs once per outage and catches up when the
# service is back; an unmount while a poll hangs on a stopped service
# ends within the poll's timeout. A writable mount of the branch is not
# affected.
# The mount reaches the service through a small unix-socket proxy, so the
# test can cut the mount off while the CLI still commits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

WAIT=10 # seconds a change may take to show (poll=1)

cat >"$TEST_DIR/proxy.py" <<'EOF'
import os, signal, socket, sys, threading
src, dst = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
try:
    os.unlink(src)
except FileNotFoundError:
    pass
l = socket.socket(socket.AF_UNIX)
l.bind(src)
l.listen(16)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = l.accept()
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(dst)
    except OSError:
        c.close()
        continue
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
EOF

proxy_start() {
	/usr/bin/python3 "$TEST_DIR/proxy.py" "$TEST_DIR/proxy.sock" "$T9KFS_HOME/meta.sock" \
		</dev/null >/dev/null 2>&1 &
	echo $! >"$TEST_DIR/proxy.pid"
	for _ in $(seq 1 50); do [ -S "$TEST_DIR/proxy.sock" ] && return 0; sleep 0.1; done
	return 1
}

proxy_stop() {
	local p i
	[ -s "$TEST_DIR/proxy.pid" ] || return 0
	p=$(cat "$TEST_DIR/proxy.pid")
	kill "$p" 2>/dev/null
	kill -CONT "$p" 2>/dev/null # a test may have stopped it
	for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
	: >"$TEST_DIR/proxy.pid"
}
test_cleanup proxy_stop

# Mounts through the proxy (the CLI itself talks to the server directly).
mount_via_proxy() {
	T9KFS_SERVER="unix:$TEST_DIR/proxy.sock" T9KFS_TOKEN=$(cat "$T9KFS_HOME/token") \
		mount_t9kfs "$@"
}

# Waits until the mount equals a directory (listing with modes, sizes,
# mtimes, and contents), at most $WAIT seconds.
wait_same() {
	local want=$1 mp=$2 i
	tree_list "$want" >"$TEST_DIR/.want"
	for i in $(seq 1 $((WAIT * 10))); do
		if tree_list "$mp" >"$TEST_DIR/.got" 2>/dev/null &&
			cmp -s "$TEST_DIR/.want" "$TEST_DIR/.got" &&
			diff -r --no-dereference "$want" "$mp" >/dev/null 2>&1; then
			echo "caught up after $((i * 100)) ms"
			return 0
		fi
		sleep 0.1
	done
	diff -u "$TEST_DIR/.want" "$TEST_DIR/.got"
	diff -r --no-dereference "$want" "$mp"
	return 1
}

# The mount logs one line per outage: exactly $1 so far.
follow_warnings() {
	local n
	n=$(cat "$T9KFS_HOME"/mounts/*.log | grep -c "cannot follow")
	[ "$n" = "$1" ] || { echo "want $1 outage lines, got:"; grep -h "follow" "$T9KFS_HOME"/mounts/*.log; return 1; }
}

test_expect_success 'setup: a branch, the proxy, a following read-only mount' '
	mkdir -p src/a src/dir1/sub src/empty &&
	echo "version 1" >src/a/x.txt &&
	head -c 3000000 /dev/urandom >src/a/keep.bin &&
	head -c 5000000 /dev/urandom >src/big.bin &&
	echo bye >src/del.txt &&
	echo deep >src/dir1/sub/f &&
	ln -s a/x.txt src/link &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m v1 >/dev/null &&
	proxy_start &&
	mount_via_proxy data@main mnt -o ro,poll=1 >out &&
	grep -q "read-only, following the branch" out &&
	wait_same src mnt
'

test_expect_success 'the mount follows a commit: changed, added, deleted, renamed' '
	# into the kernel caches: pages, entries, a negative entry, listings
	cat mnt/a/x.txt mnt/big.bin mnt/dir1/sub/f >/dev/null &&
	ls -lR mnt >/dev/null &&
	test_must_fail stat mnt/new.txt >/dev/null 2>&1 &&
	ino_keep=$(stat -c %i mnt/a/keep.bin) && ino_a=$(stat -c %i mnt/a) &&
	ino_big=$(stat -c %i mnt/big.bin) &&
	exec 7<mnt/big.bin &&
	cp src/big.bin big.v1 &&
	# the change, from the CLI
	echo "version 2, longer than before" >x2 && touch -d 2020-02-02 x2 &&
	head -c 4000000 /dev/urandom >big2 &&
	echo new >new.txt &&
	t9kfs put x2 data@main:a/x.txt >/dev/null &&
	t9kfs put big2 data@main:big.bin >/dev/null &&
	t9kfs put new.txt data@main:new.txt >/dev/null &&
	t9kfs rm data@main:del.txt >/dev/null &&
	t9kfs rm data@main:dir1 >/dev/null &&
	t9kfs import src/dir1 data@main:dir2 >/dev/null &&
	t9kfs commit data@main -m v2 >/dev/null &&
	t9kfs export data@main v2 &&
	wait_same v2 mnt &&
	# exactly the new commit, cached pages and negative entries included
	[ "$(cat mnt/a/x.txt)" = "version 2, longer than before" ] &&
	cmp mnt/big.bin big2 && cat mnt/new.txt | grep -qx new &&
	test_must_fail stat mnt/del.txt >/dev/null 2>&1 &&
	test_must_fail ls mnt/dir1 >/dev/null 2>&1 &&
	[ "$(cat mnt/dir2/sub/f)" = deep ] &&
	[ "$(ls mnt | tr "\n" " ")" = "a big.bin dir2 empty link new.txt " ] &&
	# unchanged paths keep their inodes; a changed file still open is
	# a new inode (one the kernel forgot may get its number back)
	[ "$(stat -c %i mnt/a/keep.bin)" = "$ino_keep" ] &&
	[ "$(stat -c %i mnt/a)" = "$ino_a" ] &&
	[ "$(stat -c %i mnt/big.bin)" != "$ino_big" ] &&
	# the reader that had the old file open reads the old bytes, also
	# once its pages are dropped
	/usr/bin/python3 -c "import os; os.posix_fadvise(7, 0, 0, os.POSIX_FADV_DONTNEED)" &&
	cat <&7 >got.old && exec 7<&- &&
	cmp got.old big.v1
'

test_expect_success 'more commits: a directory becomes a file, a file a directory' '
	ls -l mnt/empty mnt/dir2/sub >/dev/null &&
	t9kfs rm data@main:new.txt >/dev/null &&
	t9kfs put x2 data@main:empty >/dev/null &&
	t9kfs commit data@main -m v3a >/dev/null &&
	t9kfs export data@main v3a &&
	wait_same v3a mnt &&
	[ -f mnt/empty ] && [ ! -e mnt/new.txt ] &&
	t9kfs import src/dir1 data@main:new.txt >/dev/null &&
	t9kfs commit data@main -m v3 >/dev/null &&
	t9kfs export data@main v3 &&
	wait_same v3 mnt &&
	[ -d mnt/new.txt ] && [ "$(cat mnt/new.txt/sub/f)" = deep ]
'

test_expect_success 'switches under concurrent lookups, listings and reads' '
	for d in 0 1 2 3; do for e in 0 1 2; do
		mkdir -p tree/d$d/e$e &&
		for f in 0 1 2; do echo "$d $e $f" >tree/d$d/e$e/f$f; done
	done; done &&
	t9kfs import tree data@main:t >/dev/null && t9kfs commit data@main -m tree >/dev/null &&
	t9kfs export data@main w0 && wait_same w0 mnt &&
	: >stop &&
	for r in 1 2 3; do
		( while [ -e stop ]; do
			find mnt/t -type f -exec cat {} + >/dev/null 2>&1
			ls -lR mnt/t >/dev/null 2>&1
			stat mnt/t/d1/e1/f1 mnt/t/d2 mnt/t/d3/e0 >/dev/null 2>&1
		done ) &
	done &&
	for i in 1 2 3 4 5; do
		echo "round $i" >r && t9kfs put r data@main:t/d$((i % 4))/e1/f$i >/dev/null &&
		t9kfs rm data@main:t/d$(((i + 1) % 4))/e$((i % 3)) >/dev/null &&
		t9kfs import tree/d0 data@main:t/d$(((i + 2) % 4))/e$((i % 3)) >/dev/null &&
		t9kfs commit data@main -m "round $i" >/dev/null &&
		sleep 0.7 || exit 1
	done &&
	rm stop && wait &&
	t9kfs export data@main w5 && wait_same w5 mnt
'

test_expect_success 'the service out of reach: reads go on, one log line, then it catches up' '
	proxy_stop &&
	sleep 3 &&
	wait_same w5 mnt &&
	follow_warnings 1 &&
	# a commit the mount cannot see yet
	echo v4 >v4.txt && t9kfs put v4.txt data@main:v4.txt >/dev/null &&
	t9kfs commit data@main -m v4 >/dev/null &&
	sleep 3 &&
	test_must_fail stat mnt/v4.txt >/dev/null 2>&1 &&
	cmp mnt/big.bin big2 && cat mnt/a/keep.bin | cmp - src/a/keep.bin &&
	follow_warnings 1 &&
	proxy_start &&
	t9kfs export data@main v4 &&
	wait_same v4 mnt &&
	grep -q "following main again" "$T9KFS_HOME"/mounts/*.log
'

test_expect_success 'the metadata server itself stopped: the same, then restarted' '
	t9kfs server stop >/dev/null &&
	sleep 3 &&
	wait_same v4 mnt &&
	follow_warnings 2 &&
	t9kfs server start >/dev/null &&
	t9kfs rm data@main:v4.txt >/dev/null && t9kfs commit data@main -m v5 >/dev/null &&
	t9kfs export data@main v5 &&
	wait_same v5 mnt
'

test_expect_success 'poll=0 stays at its commit; a writable mount of the branch is unaffected' '
	mount_t9kfs data@main still -o ro,poll=0 >out && ! grep -q following out &&
	t9kfs branch create data@exp >/dev/null &&
	mount_t9kfs data@exp rw >out && grep -q read-write out &&
	mount_via_proxy data@exp follow -o ro,poll=1 >/dev/null &&
	echo written >rw/by-rw.txt && rm rw/big.bin &&
	t9kfs commit data@exp -m "from the writable mount" >/dev/null &&
	t9kfs export data@exp exp1 &&
	wait_same exp1 follow &&
	wait_same exp1 rw &&
	echo more >rw/more.txt &&
	[ "$(cat rw/more.txt)" = more ] && [ ! -e follow/more.txt ] &&
	t9kfs put x2 data@main:late.txt >/dev/null && t9kfs commit data@main -m v6 >/dev/null &&
	sleep 3 &&
	wait_same v5 still &&
	umount_t9kfs still && umount_t9kfs rw && umount_t9kfs follow
'

test_expect_success 'umount while a poll hangs on a stopped service ends within its timeout' '
	mount_via_proxy data@main hung -o ro,poll=1 >/dev/null &&
	kill -STOP "$(cat proxy.pid)" &&
	sleep 2 &&
	t0=$(date +%s) &&
	umount_t9kfs hung >/dev/null; rc=$?
	t1=$(date +%s) &&
	kill -CONT "$(cat proxy.pid)" &&
	echo "umount took $((t1 - t0)) s" &&
	[ "$rc" = 0 ] && [ $((t1 - t0)) -le 15 ] || { echo "umount: rc $rc after $((t1 - t0)) s"; exit 1; }
'

test_expect_success 'umount stops the poll thread; the daemons logged no sanitizer report' '
	umount_t9kfs mnt &&
	! grep -q " $(pwd)/mnt " /proc/mounts &&
	[ -z "$(t9kfs mount)" ] &&
	mount_logs_clean
'

test_done
