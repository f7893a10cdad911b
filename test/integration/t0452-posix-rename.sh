#!/bin/bash
# POSIX rules, rename(2) and renameat2(2), on a branch mount against a
# local directory, as root and as an unprivileged user: every type of
# entry renamed in place and across directories, over an entry of each
# type (EISDIR, ENOTDIR, ENOTEMPTY, EEXIST with RENAME_NOREPLACE), over a
# hard link (another inode, and the same inode: nothing happens), into
# its own subdirectory (EINVAL), "." and ".." (EBUSY), sticky directories
# (only the owner of the entry or of the directory, or root), a directory
# moved to another parent (needs write permission on it), the link counts
# and the ctime of what moved, the times of both directories; then the
# renamed tree through commit, remount and export. RENAME_EXCHANGE is
# unsupported by choice (README, "Mounts"): EINVAL.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan rename <<'EOF'
== in-place
+ mkall
+ lchown %T $U $G
+ mkdir to 0777
rename %T %T.new
rename %T.new to/%T
rename to/%T %T
rename f f => OK
rename d d => OK
rename d/ d2 => OK
rename d2 d/ => OK
rename f/ f2 => ENOTDIR
rename f f2/ => ENOTDIR

== over-each-type
+ mkall a-
+ mkall b-
+ lchown a-%T $U $G
+ lchown b-%T $U $G
+ mkdir b-full 0777
+ write-new b-full/x data
+ mkdir a-d2 0777
rename a-f b-p => OK
rename a-p b-f => OK
rename a-s b-c => OK
rename a-c b-l => OK
rename a-l b-s => OK
rename b-b b-f => OK
rename a-d b-f => ENOTDIR
rename b-p b-d => EISDIR
rename a-d b-full => ENOTEMPTY
rename a-d b-d => OK
rename a-d2 b-d/ => OK

== noreplace
+ write-new f data
+ write-new g data
+ mkdir d 0777
+ mkdir e 0777
renameat2 noreplace f g => EEXIST
renameat2 noreplace f d => EEXIST
renameat2 noreplace d e => EEXIST
renameat2 noreplace f h => OK
renameat2 noreplace d d2 => OK

== links
+ write-new f one
+ link f f2
+ write-new g two
+ link g g2
+ mkdir d 0777
+ link g d/g3
rename f f2 => OK @ f2
rename f g => OK @ g2 d/g3
rename g2 d/g3 => OK @ g2 d/g3
rename d/g3 f3 => OK
read f2 => OK
read f3 => OK

== errors
+ mkdir a 0777
+ mkdir a/b 0777
+ mkdir e 0777
+ write-new f data
rename a a/b/c => EINVAL
rename a a/b => EINVAL
rename . x => EBUSY
rename a/. x => EBUSY
rename x . => EBUSY
rename f .. => EBUSY
rename e a/. => EBUSY
rename missing x => ENOENT
rename f nodir/f => ENOENT
rename f f/x => ENOTDIR
rename f {x*256} => ENAMETOOLONG

== sticky
+ mkdir t 01777
+ write-new t/root-file data
+ write-new t/user-file data
+ chown t/user-file $U $G
+ write-new t/other-file data
+ chown t/other-file $O $OG
+ mkdir t/other-dir 0777
+ chown t/other-dir $O $OG
+ mkdir u 01777
+ chown u $U $G
+ write-new u/other-file data
+ chown u/other-file $O $OG
+ mkdir out 0777
rename t/root-file out/root-file => root=OK user=EPERM
rename t/other-file t/moved => root=OK user=EPERM
rename t/other-dir out/other-dir => root=OK user=EPERM
rename t/user-file out/user-file => OK
rename out/user-file t/root-file => root=OK user=EPERM
rename u/other-file out/from-u => OK
unlink t/other-file => root=ENOENT user=EPERM

== move-dir dir-nlink
+ mkdir a 0777
+ mkdir a/sub 0777
+ mkdir a/ro 0555
+ chown a/ro $U $G
+ chmod a/ro 0555
+ mkdir a/rootdir 0755
+ mkdir b 0777
rename a/sub b/sub => OK @ a b
rename b/sub a/sub => OK @ a b
rename a/ro b/ro => root=OK user=EACCES
rename a/rootdir b/rootdir => root=OK user=EACCES
rename a/rootdir a/rootdir2 => root=ENOENT user=OK
mkdir b/sub 0777 => OK
rename a/sub b/sub => OK @ a b
rename b a/b => OK
EOF

for who in root user; do
	test_expect_success "rename, as $who" "posix_compare rename $who"
done

test_expect_success 'RENAME_EXCHANGE is EINVAL, as documented (README, "Mounts")' '
	echo x >mnt/x && echo y >mnt/y &&
	test_must_fail /usr/bin/python3 -c "
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, b\"mnt/x\", -100, b\"mnt/y\", 2) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))
" 2>err &&
	grep -q "Invalid argument" err &&
	[ "$(cat mnt/x)" = x ] && rm mnt/x mnt/y
'

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
