#!/bin/bash
# Read-only mounts of commits and tags: byte-for-byte equality with the
# imported directory (contents, sizes, modes, symlinks, mtimes), EROFS on
# every kind of write, concurrent readers, reads with the metadata service
# down, and kill -9 of the mount daemon followed by umount and remount.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

mkdata() {
	mkdir -p "$1/a/b/c" "$1/empty" "$1/with space" "$1/ünï"
	head -c 10000000 /dev/urandom >"$1/a/big.bin"        # several chunks
	for i in $(seq 1 60000); do echo "line $i of a compressible file"; done >"$1/a/text.txt"
	: >"$1/a/b/empty.txt"
	echo hello >"$1/a/b/c/hello.txt"
	head -c 4096 /dev/urandom >"$1/a/b/inline-max"
	head -c 4097 /dev/urandom >"$1/a/b/inline-max+1"
	head -c 300000 /dev/urandom >"$1/with space/one chunk"
	head -c 5120 /dev/urandom >"$1/a/b/five-k"
	head -c 1048576 /dev/urandom >"$1/a/one-mib"
	echo ü >"$1/ünï/ä.txt"
	chmod 600 "$1/a/b/inline-max"
	chmod 755 "$1/a/b/c/hello.txt"
	chmod 444 "$1/a/text.txt"
	chmod 700 "$1/a/b/c"
	ln -s b/c/hello.txt "$1/a/rel-link"
	ln -s /etc/hostname "$1/abs-link"
	ln -s nowhere "$1/dangling"
	touch -h -d "2001-02-03 04:05:06.123456789" "$1/dangling"
	touch -d "2010-01-01 00:00:00.5" "$1/a/big.bin" "$1/a/b/c"
	touch -d "1999-12-31 23:59:59" "$1/empty"
}

test_expect_success 'setup: import a tree, commit, tag' '
	mkdata src &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m v1 >/dev/null &&
	t9kfs tag create data@v1 >/dev/null
'

test_expect_success 'a tag mounts read-only and equals the source byte for byte' '
	mount_t9kfs data@v1 mnt >out &&
	grep -q "read-only" out &&
	grep -q " mnt .*fuse.t9kfs\| $(pwd)/mnt fuse.t9kfs" /proc/mounts &&
	diff -r --no-dereference src mnt &&
	tree_list src >want && tree_list mnt >got && test_cmp want got &&
	[ "$(readlink mnt/a/rel-link)" = b/c/hello.txt ] &&
	[ "$(readlink mnt/abs-link)" = /etc/hostname ] &&
	cat mnt/a/rel-link | grep -q hello &&
	[ "$(stat -c %s mnt/a/big.bin)" = 10000000 ] &&
	for f in a/b/inline-max+1 a/b/five-k "with space/one chunk"; do
		t9kfs stat --json "data@v1:$f" | grep -q "\"chunk\"" || exit 1
	done &&
	t9kfs stat --json data@v1:a/big.bin | grep -q "\"id\""
'

test_expect_success 'reads at odd offsets and sizes match' '
	for off in 0 1 4095 4096 1048575 1048576 3333333 9999999; do
		dd if=src/a/big.bin bs=1 skip=$off count=70001 iflag=skip_bytes,count_bytes 2>/dev/null >w &&
		dd if=mnt/a/big.bin bs=1 skip=$off count=70001 iflag=skip_bytes,count_bytes 2>/dev/null >g &&
		cmp w g || exit 1
	done &&
	dd if=mnt/a/big.bin bs=1M skip=10000000 iflag=skip_bytes 2>/dev/null | wc -c | grep -qx 0 &&
	dd if=mnt/a/big.bin bs=1M skip=9999990 iflag=skip_bytes 2>/dev/null | wc -c | grep -qx 10
'

test_expect_success 'a commit id mounts read-only too; stat of a missing name is ENOENT' '
	id=$(t9kfs log --oneline -n 1 data@main | cut -c1-12) &&
	mount_t9kfs "data@$id" mnt2 >out && grep -q read-only out &&
	diff -r --no-dereference src mnt2 &&
	test_must_fail stat mnt2/nosuch 2>err && grep -q "No such file" err &&
	test_must_fail ls mnt2/a/big.bin/x 2>err && grep -q "Not a directory" err &&
	umount_t9kfs mnt2
'

test_expect_success 'every kind of write is EROFS' '
	for cmd in "touch mnt/new" "touch mnt/a/big.bin" "mkdir mnt/d" "rmdir mnt/empty" \
		   "rm mnt/a/b/empty.txt" "mv mnt/a/text.txt mnt/a/t2" "mv mnt/empty mnt/e2" \
		   "ln -s x mnt/l" "ln mnt/a/text.txt mnt/hard" "chmod 600 mnt/a/text.txt" \
		   "truncate -s 0 mnt/a/big.bin" "mkfifo mnt/fifo" \
		   "touch -d 2000-01-01 mnt/a/text.txt" "touch -h -d 2000-01-01 mnt/dangling"; do
		test_must_fail $cmd 2>err || { echo "$cmd"; exit 1; }
		grep -q "Read-only file system" err || { echo "$cmd:"; cat err; exit 1; }
	done &&
	test_must_fail sh -c "echo x >mnt/a/b/empty.txt" 2>err && grep -q "Read-only" err &&
	test_must_fail sh -c "echo x >>mnt/a/b/empty.txt" 2>err && grep -q "Read-only" err &&
	test_must_fail /usr/bin/python3 -c "import os; os.open(\"mnt/a/big.bin\", os.O_RDWR)" 2>err &&
	grep -q "Read-only" err &&
	tree_list src >want && tree_list mnt >got && test_cmp want got
'

test_expect_success 'four concurrent readers of one file' '
	pids="" &&
	for i in 1 2 3 4; do
		{ dd if=mnt/a/big.bin bs=$((i * 65536)) 2>/dev/null | cmp - src/a/big.bin; echo $? >rc$i; } &
		pids="$pids $!"
	done &&
	wait $pids &&
	for i in 1 2 3 4; do [ "$(cat rc$i)" = 0 ] || exit 1; done
'

test_expect_success 'ls -lR and statfs' '
	ls -lR mnt >/dev/null &&
	[ "$(find mnt | wc -l)" = "$(find src | wc -l)" ] &&
	stat -f mnt | grep -q "Type: fuseblk\|Type: fuse"
'

test_expect_success 'reads keep working with the metadata service down' '
	t9kfs server stop >/dev/null &&
	cmp mnt/with\ space/one\ chunk src/with\ space/one\ chunk &&
	cmp mnt/a/text.txt src/a/text.txt &&
	ls -l mnt/ünï >/dev/null && cat mnt/ünï/ä.txt | grep -q ü &&
	t9kfs server start >/dev/null
'

test_expect_success 'kill -9 of the mount daemon: umount cleans up, mount again works' '
	pid=$(mount_pid mnt) && [ -n "$pid" ] &&
	kill -9 "$pid" &&
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != Z ]; do sleep 0.1; done &&
	test_must_fail ls mnt 2>err && grep -q "not connected" err &&
	t9kfs mount | grep -q dead &&
	umount_t9kfs mnt &&
	! grep -q " $(pwd)/mnt " /proc/mounts &&
	mount_t9kfs data@v1 mnt >/dev/null &&
	diff -r --no-dereference src mnt
'

test_expect_success 'kill -9, then mount again on the dead mount point' '
	pid=$(mount_pid mnt) && kill -9 "$pid" &&
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != Z ]; do sleep 0.1; done &&
	mount_t9kfs data@v1 mnt >/dev/null &&
	cmp mnt/a/big.bin src/a/big.bin &&
	[ "$(grep -c " $(pwd)/mnt " /proc/mounts)" = 1 ]
'

test_expect_success 'bad mounts fail with one line' '
	test_must_fail t9kfs mount data@nosuch mnt3 2>err && test_one_line_error err "mnt3" &&
	mkdir -p mnt3 &&
	test_must_fail t9kfs mount data@nosuch mnt3 2>err && test_one_line_error err "nosuch" &&
	test_must_fail t9kfs mount -o bogus data@v1 mnt3 2>err && test_one_line_error err "bogus" &&
	test_must_fail t9kfs mount data@v1 mnt 2>err && test_one_line_error err "already" &&
	test_must_fail t9kfs mount data@v1 src/a/big.bin 2>err && test_one_line_error err "not a directory" &&
	test_must_fail t9kfs umount mnt3 2>err && test_one_line_error err "not a t9kfs mount"
'

test_expect_success 'umount, and the daemons logged no sanitizer report' '
	umount_t9kfs mnt &&
	! grep -q " $(pwd)/mnt " /proc/mounts &&
	[ -z "$(t9kfs mount)" ] &&
	mount_logs_clean
'

test_done
