#!/bin/bash
# POSIX rules, link(2) and unlink(2), on a branch mount against a local
# directory, as root and as an unprivileged user: hard links in one
# directory and across directories, to every type of entry (symlinks
# themselves, or their targets with AT_SYMLINK_FOLLOW), st_nlink and one
# inode after each step, writes seen through every name, unlink of one
# name keeping the others, an open file outliving its last name, the
# errors (EEXIST, EPERM for directories, ENOENT, ENOTDIR, EISDIR, EACCES,
# protected_hardlinks), ctime of the inode and times of the directories;
# then links through commit, remount and export.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan link <<'EOF'
== one-dir
+ write-new f data
+ chown f $U $G
+ mkdir d 0777
link f f2 => OK
write f2 +more => OK @ f
read f => OK
overwrite f X => OK @ f2
read f2 => OK
truncate f2 2 => OK @ f
link f d/f3 => OK @ f2
link f2 d/f4 => OK @ f
unlink f => OK @ f2 d/f3 d/f4
read d/f3 => OK
link d/f3 f => OK @ f2 d/f4
unlink f2 => OK @ f d/f3 d/f4
unlink d/f3 => OK @ f d/f4
unlink d/f4 => OK @ f
write f +last => OK
read f => OK

== every-type
+ mkall
+ lchown %T $U $G
+ mkdir sub 0777
link %T %T.2
link %T sub/%T
link l l.3 => OK @ f
link-follow l f.3 => OK @ l
link-follow d d.3 => EPERM
unlink %T.2 @ %T sub/%T
unlink sub/%T @ %T
unlink %T

== errors
+ write-new f data
+ write-new g data
+ mkdir d 0777
+ write-new d/in data
link f g => EEXIST
link f d => EEXIST
link f d/in => EEXIST
link d d2 => EPERM
link . dot => EPERM
link missing m2 => ENOENT
link f nodir/f => ENOENT
link f g/f => ENOTDIR
link f/ f5 => ENOTDIR
link f {x*256} => ENAMETOOLONG
unlink missing => ENOENT
unlink d => EISDIR
unlink g/x => ENOTDIR
unlink f/ => ENOTDIR
unlink . => EISDIR

== permissions
+ write-new mine data
+ chown mine $U $G
+ write-new rootfile data
+ chmod rootfile 0600
+ write-new readable data
+ chmod readable 0644
+ write-new rw data
+ chmod rw 0666
+ mkdir ro 0555
+ write-new ro/f data
+ chown ro/f $U $G
link mine mine.2 => OK
link rootfile rootfile.2 => root=OK user=EPERM
link readable readable.2 => root=OK user=EPERM
link rw rw.2 => OK
link mine ro/mine => root=OK user=EACCES
unlink ro/f => root=OK user=EACCES
unlink rootfile => OK

== open-unlinked
+ write-new f data
+ chown f $U $G
+ write-new g data
+ chown g $U $G
+ link g g2
unlinked f => OK
unlinked g => OK @ g2
read g2 => OK
EOF

for who in root user; do
	test_expect_success "link, unlink, nlink, as $who" "posix_compare link $who"
done

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist
'

test_expect_success 'one inode across the commit: a write through one name shows through all' '
	echo a >loc/x1 && ln loc/x1 loc/x2 && mkdir loc/xd && ln loc/x1 loc/xd/x3 &&
	echo a >mnt/x1 && ln mnt/x1 mnt/x2 && mkdir mnt/xd && ln mnt/x1 mnt/xd/x3 &&
	t9kfs commit posix@b -m links >/dev/null &&
	umount_t9kfs mnt >/dev/null &&
	mount_t9kfs posix@b mnt -o allow_other,default_permissions >/dev/null &&
	stat_is mnt/x1 %h 3 &&
	stat_is mnt/xd/x3 %i:%h "$(stat -c %i:%h mnt/x1)" &&
	stat_is mnt/x2 %i:%h "$(stat -c %i:%h mnt/x1)" &&
	echo b >>mnt/x2 && echo b >>loc/x2 &&
	cmp mnt/xd/x3 loc/xd/x3 && cmp mnt/x1 loc/x1 &&
	rm mnt/x1 loc/x1 &&
	stat_is mnt/x2 %h 2 && cmp mnt/x2 loc/x2 &&
	posix_list loc >want && posix_list mnt >got && test_cmp want got
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
