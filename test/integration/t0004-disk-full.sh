#!/bin/bash
# A full disk is a clear error and leaves no partial object behind.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs"
mkdir "$TEST_DIR/small"
mount -t tmpfs -o size=4m t9kfs-test "$TEST_DIR/small" 2>/dev/null ||
	skip_all "cannot mount tmpfs here"
test_cleanup umount "$TEST_DIR/small"

test_expect_success 'put into a full store fails with ENOSPC' '
	head -c 16000000 /dev/urandom >big &&
	test_must_fail t9kfs --store "$TEST_DIR/small/store" chunk put big >m 2>err &&
	test_one_line_error err "No space left on device"
'

test_expect_success 'no temp files are left, stored chunks are whole' '
	[ -z "$(find small -name ".tmp-*")" ] &&
	t9kfs --store "$TEST_DIR/small/store" chunk verify >out &&
	grep -q " 0 bad" out
'

test_done
