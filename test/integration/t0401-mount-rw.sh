#!/bin/bash
# Read-write mounts of a branch: every operation (create, sequential and
# random writes, append, truncate, rename of files and directories, unlink,
# mkdir, rmdir, symlink, readlink, chmod, utimens, fsync, statfs) applied
# to the mount and to a local copy, which must agree; their error cases;
# commit, remount of the new commit and equality; owners of new files;
# (hard links, special files and owners in depth: t045x-posix-*);
# kill -9 after fsync (also of appends to a large file kept open); writes
# with the metadata service down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

# Runs a command in both the mount and the reference directory.
both() {
	(cd mnt && eval "$1") || { echo "on the mount: $1"; return 1; }
	(cd ref && eval "$1") || { echo "on the reference: $1"; return 1; }
}

# The command must fail the same way in both.
both_fail() {
	local e1 e2
	e1=$(cd mnt && eval "$1" 2>&1 >/dev/null && echo SUCCEEDED)
	e2=$(cd ref && eval "$1" 2>&1 >/dev/null && echo SUCCEEDED)
	e1=$(echo "${e1//mnt/X}" | sed "s/line [0-9]*: //") e2=$(echo "${e2//ref/X}" | sed "s/line [0-9]*: //")
	case $e1 in *SUCCEEDED*) echo "succeeded on the mount: $1"; return 1 ;; esac
	[ "$e1" = "$e2" ] || { echo "$1: mount said '$e1', local said '$e2'"; return 1; }
	case $e1 in *"$2"*) ;; *) echo "$1: wanted '$2', got '$e1'"; return 1 ;; esac
}

same() {
	tree_list_nomtime ref >want && tree_list_nomtime mnt >got && test_cmp want got &&
	diff -r --no-dereference ref mnt
}

test_expect_success 'setup: a commit, a branch, its mount, a local copy' '
	mkdir -p src/a/b/c src/empty "src/with space" &&
	head -c 3000000 /dev/urandom >src/a/big.bin &&
	for i in $(seq 1 20000); do echo "line $i"; done >src/a/text.txt &&
	echo hello >src/a/b/c/hello.txt &&
	head -c 4096 /dev/urandom >src/a/b/inline-max &&
	head -c 100000 /dev/urandom >"src/with space/f" &&
	ln -s /etc/hostname src/abs-link &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m v1 >/dev/null &&
	t9kfs branch create data@exp >/dev/null &&
	cp -a src ref &&
	T9KFS_LOG=debug mount_t9kfs data@exp mnt >out && grep -q read-write out &&
	same &&
	head -c 5000000 /dev/urandom >data5m && head -c 70000 /dev/urandom >patch &&
	head -c 25000000 /dev/urandom >data25m
'

test_expect_success 'create, sequential write, random write, append' '
	both "echo hi >new.txt" &&
	both "cp ../data5m big.new" &&
	for off in 0 1 4095 1048575 2999999 3000000 3500000; do
		both "dd if=../patch of=a/big.bin bs=1 seek=$off count=700 conv=notrunc status=none iflag=count_bytes" || exit 1
	done &&
	both "dd if=../patch of=a/b/inline-max bs=1 seek=100 conv=notrunc status=none" &&
	both "echo more >>a/b/c/hello.txt" &&
	both "cat ../data5m >>new.txt" &&
	both ": >empty-file" &&
	same
'

test_expect_success 'truncate: shrink, to zero, grow (sparse)' '
	both "truncate -s 1234567 a/big.bin" &&
	both "truncate -s 0 a/text.txt" &&
	both "truncate -s 20M sparse" &&
	both "truncate -s 7000 big.new && truncate -s 9000 big.new" &&
	same
'

test_expect_success 'rename files and directories, unlink, mkdir, rmdir' '
	both "mv new.txt a/b/moved.txt" &&
	both "mv big.new a/b/inline-max" &&
	both "mkdir -p x/y/z && echo deep >x/y/z/f && echo top >x/t" &&
	both "mv a/b a/b2" &&
	both "mv \"with space\" x/y/" &&
	both "mkdir e2 && mv -T x/y e2" &&
	both "mv x x2 && mv x2 x3" &&
	both "rm abs-link a/text.txt" &&
	both "mkdir -p d1/d2/d3 && rmdir d1/d2/d3 && rmdir d1/d2" &&
	both "mkdir gone && echo f >gone/f && rm gone/f && rmdir gone" &&
	both "mkdir re && echo 1 >re/f && rm -r re && mkdir re && echo 2 >re/g" &&
	same
'

test_expect_success 'symlink, readlink, chmod, utimens' '
	both "ln -s a/b2/moved.txt sl && ln -s nowhere dangling" &&
	[ "$(readlink mnt/sl)" = a/b2/moved.txt ] && cmp mnt/sl ref/sl &&
	both "chmod 640 a/b2/c/hello.txt && chmod 711 x3 && chmod 600 a/big.bin && chmod 4755 sparse" &&
	both "touch -d \"2020-02-02 02:02:02.5\" a/b2/moved.txt x3 e2/z" &&
	both "touch -h -d \"2011-11-11 11:11:11\" dangling" &&
	same &&
	for p in a/b2/moved.txt x3 e2/z dangling; do
		[ "$(stat -c %y "mnt/$p")" = "$(stat -c %y "ref/$p")" ] || { echo "$p"; exit 1; }
	done
'

test_expect_success 'fsync and statfs' '
	both "dd if=../data5m of=synced bs=1M conv=fsync status=none" &&
	/usr/bin/python3 -c "import os; fd = os.open(\"mnt/a/b2/moved.txt\", os.O_RDWR); os.write(fd, b\"X\"); os.fsync(fd); os.close(fd)" &&
	/usr/bin/python3 -c "import os; fd = os.open(\"ref/a/b2/moved.txt\", os.O_RDWR); os.write(fd, b\"X\"); os.fsync(fd); os.close(fd)" &&
	stat -f mnt >/dev/null && df mnt >/dev/null &&
	same
'

# writer.py FILE MODE: "fsync" appends 12 MB, fsyncs, appends the rest;
# "poke" appends 12 MB, overwrites 70 KB at offset 100, appends the rest.
cat >"$TEST_DIR/writer.py" <<'EOF'
import os, sys
path, mode = sys.argv[1], sys.argv[2]
data = open("../data25m", "rb").read()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for off in range(0, 12000000, 1 << 20):
    os.write(fd, data[off:min(off + (1 << 20), 12000000)])
if mode == "fsync":
    os.fsync(fd)
else:
    os.pwrite(fd, open("../patch", "rb").read(), 100)
os.lseek(fd, 0, os.SEEK_END)
os.write(fd, data[12000000:])
os.close(fd)
EOF

test_expect_success 'large appends are chunked while written; other writes void that' '
	both "dd if=../data25m of=ckpt bs=1M status=none" &&
	both "/usr/bin/python3 ../writer.py ckpt-fsync fsync" &&
	both "/usr/bin/python3 ../writer.py ckpt-poke poke" &&
	both "cat ../data25m >>ckpt" &&
	same &&
	grep -q "ckpt.: stream ended: used" "$T9KFS_HOME"/mounts/*.log &&
	grep -q "ckpt-fsync.: stream ended: used" "$T9KFS_HOME"/mounts/*.log &&
	grep -q "ckpt-poke.: stream ended: voided" "$T9KFS_HOME"/mounts/*.log
'

test_expect_success 'error cases agree with a local file system' '
	both_fail "cat nosuch" "No such file" &&
	both_fail "mkdir a/big.bin/x" "Not a directory" &&
	both_fail "echo x >a" "Is a directory" &&
	both_fail "rmdir a" "not empty" &&
	both_fail "mkdir a" "File exists" &&
	both_fail "ln -s x sparse" "File exists" &&
	both_fail "rm a" "Is a directory" &&
	both_fail "rmdir sparse" "Not a directory" &&
	both_fail "mv a/b2 x3/nosuchdir/b" "No such file" &&
	both_fail "/usr/bin/python3 -c \"import os; os.rename(\\\"a\\\", \\\"a/b2/in\\\")\"" "Invalid argument" &&
	both_fail "/usr/bin/python3 -c \"import os; os.rename(\\\"x3\\\", \\\"a\\\")\"" "not empty" &&
	both_fail "/usr/bin/python3 -c \"import os; os.rename(\\\"sparse\\\", \\\"a\\\")\"" "Is a directory" &&
	both_fail "/usr/bin/python3 -c \"import os; os.rename(\\\"a\\\", \\\"sparse\\\")\"" "Not a directory" &&
	both_fail "ln sparse dangling" "File exists" &&
	both_fail "ln a hard" "not allowed" &&
	both "ln sparse hard && [ \$(stat -c %h hard) = 2 ] && rm hard && [ \$(stat -c %h sparse) = 1 ]" &&
	both "mkfifo fifo && [ -p fifo ] && rm fifo" &&
	mount_t9kfs data@main mnt2 -o ro >/dev/null &&
	test_must_fail /usr/bin/python3 -c "import os; os.rename(\"mnt/sparse\", \"mnt2/sparse\")" 2>err &&
	grep -q "Invalid cross-device link" err &&
	test_must_fail touch mnt2/x 2>err && grep -q "Read-only" err &&
	umount_t9kfs mnt2 &&
	same
'

test_expect_success 'commit; the new commit mounts equal to the branch view, mtimes too' '
	t9kfs commit data@exp -m "through the mount" >/dev/null &&
	t9kfs status data@exp | grep -q "nothing staged" &&
	same &&
	mount_t9kfs data@exp~0 mnt3 >out && grep -q read-only out &&
	tree_list mnt >want && tree_list mnt3 >got && test_cmp want got &&
	diff -r --no-dereference ref mnt3 &&
	umount_t9kfs mnt3
'

test_expect_success 'a 200 KiB file written through the mount is one chunk, no manifest' '
	head -c 204800 /dev/urandom >b200k &&
	metas=$(find "$T9KFS_HOME/store/data/meta" -type f | wc -l) &&
	both "cp ../b200k w200k" &&
	same &&
	t9kfs commit data@exp -m "one chunk" >/dev/null &&
	t9kfs stat --json data@exp:w200k >st &&
	grep -q "\"chunk\": \"[0-9a-f]\{64\}\"" st && ! grep -q "\"id\"" st &&
	after=$(find "$T9KFS_HOME/store/data/meta" -type f | wc -l) &&
	{ [ $((after - metas)) = 2 ] ||
	  { echo "meta objects: $metas -> $after, want only a commit and a root tree"; exit 1; }; } &&
	t9kfs diff data@exp~1 data@exp >diff &&
	echo "A w200k (204800 bytes)" >want && test_cmp want diff &&
	t9kfs export data@exp exp-out && diff -r --no-dereference ref exp-out &&
	cmp mnt/w200k b200k
'

test_expect_success 'after a commit the mount keeps working; remount shows the same' '
	both "echo after >after.txt && mv x3 x4 && rm sparse" &&
	same &&
	tree_list mnt >before &&
	umount_t9kfs mnt &&
	mount_t9kfs data@exp mnt >/dev/null &&
	tree_list mnt >after && test_cmp before after &&
	t9kfs commit data@exp -m second >/dev/null &&
	mount_t9kfs data@exp~0 mnt3 >/dev/null &&
	tree_list mnt3 >committed && test_cmp before committed &&
	umount_t9kfs mnt3
'

test_expect_success 'new files belong to the caller (allow_other, default_permissions)' '
	umount_t9kfs mnt &&
	mount_t9kfs data@exp mnt -o allow_other,default_permissions >/dev/null &&
	chmod 711 . &&
	chmod 777 mnt/e2 ref/e2 &&
	setpriv --reuid 1234 --regid 1234 --clear-groups sh -c "echo mine >mnt/e2/user.txt && mkdir mnt/e2/udir" &&
	[ "$(stat -c %u:%g mnt/e2/user.txt)" = 1234:1234 ] &&
	[ "$(stat -c %u:%g mnt/e2/udir)" = 1234:1234 ] &&
	test_must_fail setpriv --reuid 1234 --regid 1234 --clear-groups cat mnt/a/big.bin 2>err &&
	grep -q "Permission denied" err &&
	test_must_fail setpriv --reuid 1234 --regid 1234 --clear-groups touch mnt/a/new 2>err &&
	grep -q "Permission denied" err &&
	both "true" && cp -a mnt/e2/user.txt ref/e2/ && mkdir ref/e2/udir && chown -R 1234:1234 ref/e2/user.txt ref/e2/udir
'

# appendsync.py FILE N [wait]: N lines appended to FILE, each fsynced, on
# one open file descriptor; with "wait", then FILE.done and the file is
# kept open (the caller kills this).
cat >"$TEST_DIR/appendsync.py" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(int(sys.argv[2])):
    os.write(fd, b"line %d of an append with fsync\n" % i)
    os.fsync(fd)
if len(sys.argv) > 3:
    open(sys.argv[1] + ".done", "w").close()
    time.sleep(60)
os.close(fd)
EOF

test_expect_success 'kill -9 after fsync: remount has everything fsync acknowledged' '
	dd if=data5m of=mnt/durable bs=1M conv=fsync status=none &&
	echo closed >mnt/closed.txt &&
	{ /usr/bin/python3 appendsync.py mnt/ckpt 40 wait & } && apid=$! &&
	for i in $(seq 1 300); do [ -e mnt/ckpt.done ] && break; sleep 0.1; done &&
	/usr/bin/python3 appendsync.py ref/ckpt 40 && echo -n >ref/ckpt.done &&
	pid=$(mount_pid mnt) && kill -9 "$pid" &&
	{ { kill "$apid"; wait "$apid"; } 2>/dev/null || true; } &&
	while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid")" != Z ]; do sleep 0.1; done &&
	umount_t9kfs mnt &&
	mount_t9kfs data@exp mnt >/dev/null &&
	cmp mnt/durable data5m &&
	[ "$(cat mnt/closed.txt)" = closed ] &&
	cp data5m ref/durable && echo closed >ref/closed.txt &&
	same
'

test_expect_success 'metadata service down: writes fail with EIO, reads work, then recover' '
	t9kfs server stop >/dev/null &&
	test_must_fail /usr/bin/python3 -c "import os; fd = os.open(\"mnt/down.txt\", os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b\"x\"); os.close(fd)" 2>err &&
	grep -q "Input/output error" err &&
	test_must_fail dd if=data5m of=mnt/down2 bs=1M conv=fsync status=none 2>err &&
	grep -q "Input/output error" err &&
	test_must_fail mkdir mnt/downdir 2>err && grep -q "Input/output error" err &&
	test_must_fail rm mnt/after.txt 2>err && grep -q "Input/output error" err &&
	cmp mnt/durable data5m &&
	ls -lR mnt >/dev/null &&
	t9kfs server start >/dev/null &&
	echo x >mnt/down.txt && mkdir mnt/downdir && rm mnt/after.txt &&
	cmp mnt/down2 data5m &&
	for i in $(seq 1 50); do t9kfs status data@exp | grep -q down2 && break; sleep 0.2; done &&
	t9kfs status data@exp | grep -q down2 &&
	echo x >ref/down.txt && mkdir ref/downdir && rm ref/after.txt && cp data5m ref/down2 &&
	same &&
	grep -q "I/O error" "$T9KFS_HOME"/mounts/*.log
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	[ -z "$(t9kfs mount)" ] &&
	mount_logs_clean
'

test_done
