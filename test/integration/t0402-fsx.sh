#!/bin/bash
# The random-operation exerciser (fsx.c): the same random operations on a
# branch mount and on a local directory must agree exactly, op by op and
# tree by tree; then the branch is committed and the commit, mounted
# read-only, must equal the local directory too.
# FSX_OPS sets the number of operations (the full run is 20000; make test
# runs fewer to stay within its time); FSX_SEED picks the sequence.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

FSX_OPS=${FSX_OPS:-20000}
FSX_SEED=${FSX_SEED:-11} # fixed, so a failure reproduces; override to explore
FSX=""
for f in "$(dirname "$T9KFS_BIN")/fsx" "$TOP/build/asan/fsx" "$TOP/build/release/fsx"; do
	[ -x "$f" ] && { FSX=$f; break; }
done
[ -n "$FSX" ] || skip_all "fsx is not built (make build/asan/fsx)"

test_expect_success 'setup: a branch with some files, mounted, and a local copy' '
	mkdir -p src/d0/d2 src/d1 &&
	head -c 2500000 /dev/urandom >src/f0 &&
	head -c 3000 /dev/urandom >src/d0/f1 &&
	echo hi >src/d1/f2 &&
	t9kfs repo create data >/dev/null &&
	t9kfs import src data@main -m base >/dev/null &&
	mount_t9kfs data@main mnt >/dev/null &&
	cp -a src local
'

test_expect_success "fsx: $FSX_OPS random operations agree (seed $FSX_SEED)" '
	"$FSX" -n "$FSX_OPS" -s "$FSX_SEED" mnt local >out 2>err || { cat out err; exit 1; }
	cat out
'

test_expect_success 'the commit of what fsx did equals the local directory' '
	t9kfs commit data@main -m fsx >/dev/null &&
	mount_t9kfs data@main~0 ro >/dev/null &&
	"$FSX" -n 0 ro local &&
	diff -r --no-dereference ro local &&
	umount_t9kfs ro
'

test_expect_success 'a remount of the branch shows the same' '
	umount_t9kfs mnt &&
	mount_t9kfs data@main mnt >/dev/null &&
	"$FSX" -n 0 mnt local &&
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
