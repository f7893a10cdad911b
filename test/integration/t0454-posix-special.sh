#!/bin/bash
# POSIX rules, special files, on a branch mount against a local
# directory, as root and as an unprivileged user: mkfifo(3), mknod(2) of
# FIFOs, sockets, regular files and (root only: EPERM otherwise) character
# and block devices with their rdev, unix sockets made by bind(2), the
# umask on each, EEXIST/EADDRINUSE/EACCES/ENOENT; data through a FIFO and
# a socket made in the mount (the kernel carries it, the entry must be
# right; a FIFO's times after I/O are not compared, see the plan),
# ECONNREFUSED from a socket nobody listens on; rename, link,
# chmod, chown and unlink of each; then all of them through commit,
# remount and export (devices as root).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan special <<'EOF'
== make
mkfifo fifo 0640 => OK
mknod fifo2 p 0600 0 0 => OK
mknod sock s 0644 0 0 => OK
mknod reg f 0640 0 0 => OK
mknod chr c 0620 1 3 => root=OK user=EPERM
mknod blk b 0660 7 1 => root=OK user=EPERM
mknod big c 0600 259 65536 => root=OK user=EPERM
bind bound => OK
umask 027
mkfifo fifo-umask 0777 => OK
bind bound-umask => OK
mknod chr-umask c 0666 1 5 => root=OK user=EPERM
umask 022
mkfifo fifo 0644 => EEXIST
mknod reg p 0644 0 0 => EEXIST
bind fifo => EADDRINUSE
bind bound => EADDRINUSE
mkfifo nodir/f 0644 => ENOENT
mkfifo reg/f 0644 => ENOTDIR
mkfifo {x*256} 0644 => ENAMETOOLONG

== permissions
+ mkdir ro 0555
+ mkdir mine 0755
+ chown mine $U $G
mkfifo ro/f 0644 => root=OK user=EACCES
bind ro/s => root=OK user=EACCES
mkfifo mine/f 0644 => OK
bind mine/s => OK
mknod mine/c c 0644 1 3 => root=OK user=EPERM

== io
mkfifo f 0666 => OK
# Data through the FIFO only: its mtime and ctime after the I/O are not
# compared. The kernel carries pipe data without the daemon, and a FIFO in
# this FUSE mount keeps its times (a local one moves both): not settled.
fifo-io f => OK @ -
stat f
sock-io s => OK
connect s => ECONNREFUSED
+ bind stale
+ bind stale-0755
+ chmod stale-0755 0755
connect stale => ECONNREFUSED
connect stale-0755 => root=ECONNREFUSED user=EACCES

== ops
+ mkall
+ mkdir sub 0777
+ mkall sub/
rename p p2 => OK
rename s s2 => OK
rename c c2 => OK
rename b b2 => OK
link p2 p3 => root=OK user=EPERM
link s2 s3 => root=OK user=EPERM
link c2 c3 => root=OK user=EPERM
chmod p2 0600 => root=OK user=EPERM
chown s2 $U $G => root=OK user=EPERM
utimens c2 1000000000 2000000000 => root=OK user=EPERM
rename sub/p p2 => OK @ p3
rename sub/s c2 => OK
unlink p3 => root=OK user=ENOENT @ p2
unlink %T2
rmdir sub/d => OK
unlink sub/%T
EOF

for who in root user; do
	test_expect_success "FIFOs, sockets, devices, as $who" "posix_compare special $who"
done

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist
'

test_expect_success 'special files in ls and diff of commits' '
	t9kfs ls posix@b:root/make >ls &&
	for n in fifo fifo2 sock bound chr blk big; do
		grep -q "$n" ls || { echo "t9kfs ls has no $n:"; cat ls; exit 1; }
	done &&
	t9kfs diff posix@b~1 posix@b >diff &&
	for n in root/make/fifo root/make/sock root/make/chr root/permissions/mine/f; do
		grep -q "$n" diff || { echo "t9kfs diff has no $n:"; cat diff; exit 1; }
	done
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
