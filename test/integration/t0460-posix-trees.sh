#!/bin/bash
# Trees like conda's and rsync -aH's in a branch mount: a source tree with
# hard links (in one directory, across directories, of a symlink), a FIFO,
# a unix socket, a character device, files of several owners with set-ID
# bits, symlinks, empty directories, odd names and mtimes to the
# nanosecond, copied as root with `cp -a`, with `tar -cf - | tar -xpf -`
# (pax format, for nanoseconds; GNU tar skips sockets), with `rsync -aH` (when installed) and linked
# with `cp -al` inside the mount (conda's environments from its package
# cache), each into the mount and into a local directory; the two must
# be identical by stat of every entry (type, mode, owner, size, link
# count and link group, rdev, mtime) and by content, and stay so through
# a commit, a read-only mount of it, a remount and an export (as root,
# and --no-owner). `t9kfs import` of the source and an export of it give
# the source back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"
command -v tar >/dev/null || skip_all "no tar"

test_expect_success 'setup: a branch mount, a local directory, the source tree' '
	posix_setup &&
	src=$TEST_DIR/src &&
	mkdir -p "$src/pkgs/numpy-1.0/lib" "$src/pkgs/numpy-1.0/bin" "$src/pkgs/python-3.11/lib" \
		"$src/env/lib" "$src/env/bin" "$src/empty" "$src/sticky" "$src/private" "$src/odd" \
		"$src/owners/setgid-dir" &&
	echo "import numpy" >"$src/pkgs/numpy-1.0/lib/numpy.py" &&
	head -c 1500000 /dev/urandom >"$src/pkgs/numpy-1.0/lib/core.so" &&
	head -c 100000 /dev/urandom >"$src/pkgs/python-3.11/lib/libpython.so" &&
	printf "#!/bin/sh\necho f2py\n" >"$src/pkgs/numpy-1.0/bin/f2py" &&
	chmod 755 "$src/pkgs/numpy-1.0/bin/f2py" &&
	: >"$src/pkgs/numpy-1.0/lib/__init__.py" &&
	ln "$src/pkgs/numpy-1.0/lib/numpy.py" "$src/env/lib/numpy.py" &&
	ln "$src/pkgs/numpy-1.0/lib/core.so" "$src/env/lib/core.so" &&
	ln "$src/pkgs/numpy-1.0/lib/core.so" "$src/env/lib/core-again.so" &&
	ln "$src/pkgs/numpy-1.0/lib/__init__.py" "$src/env/lib/__init__.py" &&
	ln "$src/pkgs/numpy-1.0/bin/f2py" "$src/env/bin/f2py" &&
	ln "$src/pkgs/python-3.11/lib/libpython.so" "$src/env/lib/libpython.so" &&
	ln -s libpython.so "$src/env/lib/libpython3.so" &&
	ln "$src/env/lib/libpython3.so" "$src/env/lib/libpython3-hard.so" &&
	ln -s ../pkgs "$src/env/pkgs-link" &&
	ln -s /nowhere "$src/env/dangling" &&
	mkfifo "$src/env/fifo" &&
	/usr/bin/python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"$src/env/sock\")" &&
	mknod "$src/env/null" c 1 3 &&
	chmod 1777 "$src/sticky" && chmod 700 "$src/private" &&
	echo root >"$src/owners/root" &&
	echo user >"$src/owners/user" && chown 1001:1001 "$src/owners/user" &&
	echo other >"$src/owners/other" && chown 1002:2000 "$src/owners/other" &&
	echo nobody >"$src/owners/nobody" && chown 65534:65534 "$src/owners/nobody" &&
	echo suid >"$src/owners/suid" && chown 1001:1001 "$src/owners/suid" && chmod 4755 "$src/owners/suid" &&
	echo sgid >"$src/owners/sgid" && chown 0:2000 "$src/owners/sgid" && chmod 2755 "$src/owners/sgid" &&
	echo both >"$src/owners/both" && chmod 6750 "$src/owners/both" &&
	chown 1002:2000 "$src/owners/setgid-dir" && chmod 2775 "$src/owners/setgid-dir" &&
	echo in >"$src/owners/setgid-dir/in" && chown 1002:2000 "$src/owners/setgid-dir/in" &&
	ln -s root "$src/owners/link" && chown -h 1001:1001 "$src/owners/link" &&
	mkfifo "$src/owners/fifo" && chown 1002:1002 "$src/owners/fifo" &&
	for n in "with space" "tab	in" "new
line" "ünïcödé" "-dash" "'\''quoted'\''" "back\\slash" "$(printf "x%.0s" $(seq 255))"; do
		echo "$n" >"$src/odd/$n" || exit 1
	done &&
	i=0 &&
	find "$src" -depth -mindepth 1 -print0 | while IFS= read -r -d "" p; do
		i=$((i + 1))
		touch -h -d "@$((1650000000 + i * 777)).$(printf "%09d" $((i * 987654321 % 1000000000)))" "$p" || exit 1
	done &&
	posix_list "$src" --mtime >src.list &&
	grep -q "group=" src.list && grep -q "^env/sock s" src.list && grep -q "^env/null c" src.list
'

# copy_into NAME CMD...: runs CMD (which copies into mnt/NAME) and says
# how it failed, after compare_copies NAME, so that both show
copy_into() {
	local name=$1 rc=0
	shift
	"$@" 2>"$name.err" || rc=$?
	compare_copies "$name" || rc=1
	[ "$rc" = 0 ] || { head -n 20 "$name.err"; return 1; }
}

# compare_copies NAME: loc/NAME and mnt/NAME are the same tree
compare_copies() {
	posix_list "loc/$1" --mtime >"$1.loc" &&
	posix_list "mnt/$1" --mtime >"$1.mnt" &&
	diff -u --label "local $1" --label "mount $1" "$1.loc" "$1.mnt"
}

test_expect_success 'cp -a into the mount and into a local directory' '
	cp -a src loc/cp &&
	posix_list loc/cp --mtime >cp.list && test_cmp src.list cp.list &&
	copy_into cp cp -a src mnt/cp
'

test_expect_success 'tar -cf - | tar -xpf - into the mount and into a local directory' '
	mkdir loc/tar mnt/tar &&
	tar --format=posix -C src -cf - . >src.tar 2>tar.err &&
	tar -C loc/tar -xpf src.tar &&
	grep -v "^env/sock " src.list >want && posix_list loc/tar --mtime >got && test_cmp want got &&
	copy_into tar tar -C mnt/tar -xpf src.tar
'

test_expect_success 'rsync -aH into the mount and into a local directory' '
	if ! command -v rsync >/dev/null; then
		say "# rsync is not installed: skipped"
		exit 0
	fi
	rsync -aH src/ loc/rsync/ &&
	copy_into rsync rsync -aH src/ mnt/rsync/
'

test_expect_success 'conda: an environment hard-linked from the package cache in the mount' '
	cp -al loc/cp/pkgs loc/conda-env &&
	copy_into conda-env cp -al mnt/cp/pkgs mnt/conda-env &&
	compare_copies cp &&
	echo patched >>mnt/conda-env/numpy-1.0/lib/numpy.py &&
	echo patched >>loc/conda-env/numpy-1.0/lib/numpy.py &&
	cmp mnt/cp/env/lib/numpy.py loc/cp/env/lib/numpy.py &&
	touch -d @1700000000.123456789 mnt/cp/env/lib/numpy.py loc/cp/env/lib/numpy.py &&
	compare_copies cp
'

test_expect_success 'the copies through commit, remount and export' '
	posix_persist
'

test_expect_success 'every copy mounted from the commit is the local copy, mtimes too' '
	mount_t9kfs posix@b~0 mnt-c -o allow_other,default_permissions >/dev/null &&
	bad=0 &&
	for t in cp tar conda-env; do
		posix_list "loc/$t" --mtime >"$t.loc" &&
		posix_list "mnt-c/$t" --mtime >"$t.commit" &&
		diff -u --label "local $t" --label "commit $t" "$t.loc" "$t.commit" || bad=1
	done &&
	umount_t9kfs mnt-c >/dev/null &&
	[ "$bad" = 0 ]
'

test_expect_success 't9kfs import of the source tree keeps owners, links and special files; export restores them' '
	t9kfs branch create posix@imp >/dev/null &&
	t9kfs import src posix@imp:src -m "the source tree" >/dev/null &&
	mount_t9kfs posix@imp~0 mnt-i -o allow_other,default_permissions >/dev/null &&
	posix_list mnt-i/src --mtime >imported &&
	umount_t9kfs mnt-i >/dev/null &&
	bad=0 &&
	{ diff -u --label source --label "imported, mounted" src.list imported || bad=1; } &&
	t9kfs export posix@imp:src exp-i >/dev/null &&
	posix_list exp-i --mtime >exported &&
	{ diff -u --label source --label "imported, exported" src.list exported || bad=1; } &&
	[ "$bad" = 0 ]
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
