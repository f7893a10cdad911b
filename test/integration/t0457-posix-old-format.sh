#!/bin/bash
# Trees written by the previous format (before tree version 2: no owners,
# special files or hard-link groups) read unchanged: the repository of
# test/fixtures/old-format (its file:// objects as an old binary wrote
# them, and the commit id; make.sh there made it) is registered again
# through the CLI, then mounted and exported by this binary and compared
# with what the old binary listed at fixture time: ls -lR (times to the
# nanosecond), posix.py list (mtime_ns, modes, sizes, content hashes,
# targets) and sha256sum of every exported file. Stored entries show the
# mounting user, or -o uid=,gid=; a branch on the old commit takes a new
# file and commits only that change.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
[ -x /usr/bin/python3 ] || skip_all "no /usr/bin/python3"

FIX=$TOP/test/fixtures/old-format
export TZ=UTC

# ls -lR without "total" lines (block counts) and with the link count of
# directories blanked: neither is part of the stored format, and a mount
# may come to count subdirectories as ext4 does.
ls_lR_norm() {
	awk '/^total / { next } /^d/ { $2 = "-" } { print }' "$@"
}

ls_lR() {
	(cd "$1" && ls -lR --time-style=full-iso .) | ls_lR_norm
}

test_expect_success 'setup: the old repository registered again, its commit tagged' '
	cp -a "$FIX/store" store &&
	t9kfs repo create old --store "file://$TEST_DIR/store" --min 4K --avg 8K --max 16K >/dev/null &&
	t9kfs tag create old@v1 --from "$(cat "$FIX/commit")" >/dev/null &&
	t9kfs ls old@v1 >ls && grep -q data ls && grep -q bin ls
'

test_expect_success 'the old commit mounts as the old binary showed it' '
	mount_t9kfs old@v1 mnt >/dev/null &&
	ls_lR mnt >got && ls_lR_norm "$FIX/ls-lR.mount" >want && test_cmp want got &&
	/usr/bin/python3 "$TOP/test/integration/posix.py" list mnt --mtime >got &&
	test_cmp "$FIX/list.mount" got &&
	umount_t9kfs mnt >/dev/null
'

test_expect_success 'stored entries show -o uid=,gid= when given' '
	mount_t9kfs old@v1 mnt -o uid=123,gid=456 >/dev/null &&
	[ -z "$(find mnt ! -user 123 -o ! -group 456)" ] || { find mnt ! -user 123 -o ! -group 456; exit 1; }
	umount_t9kfs mnt >/dev/null
'

test_expect_success 'the old commit exports byte-identically' '
	t9kfs export old@v1 exp >/dev/null &&
	ls_lR exp >got &&
	ls_lR_norm "$FIX/ls-lR.export" >want &&
	test_cmp want got &&
	(cd exp && find . -type f -print0 | sort -z | xargs -0 sha256sum) >got &&
	test_cmp "$FIX/sha256sums" got
'

test_expect_success 'a branch of the old commit: one new file, the old entries unchanged' '
	t9kfs branch create old@work --from v1 >/dev/null &&
	mount_t9kfs old@work mnt >/dev/null &&
	echo new >mnt/data/new.txt &&
	umount_t9kfs mnt >/dev/null &&
	t9kfs commit old@work -m "a new file" >/dev/null &&
	t9kfs diff old@v1 old@work >diff &&
	cat diff &&
	[ "$(wc -l <diff)" = 1 ] && grep -q "data/new.txt" diff &&
	mount_t9kfs old@work mnt >/dev/null &&
	rm mnt/data/new.txt &&
	/usr/bin/python3 "$TOP/test/integration/posix.py" list mnt --mtime >got &&
	umount_t9kfs mnt >/dev/null &&
	grep -v "^data " "$FIX/list.mount" >want && grep -v "^data " got >got2 &&
	test_cmp want got2
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	mount_logs_clean
'

test_done
