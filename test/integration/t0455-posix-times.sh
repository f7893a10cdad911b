#!/bin/bash
# POSIX rules, times, on a branch mount against a local directory, as
# root and as an unprivileged user: utimensat(2) with explicit times to
# the nanosecond (also before 1970 and after 2038), UTIME_NOW and
# UTIME_OMIT, on every type of entry and on a symlink itself
# (AT_SYMLINK_NOFOLLOW), who may set which times (EPERM, EACCES); ctime
# moved by every change of metadata (chmod, chown, link, unlink, rename,
# truncate, write, utimens) and by none of the reads; mtime moved by
# writes and truncates only; the times of directories as entries come
# and go; then every mtime to the nanosecond through commit, remount and
# export.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan times <<'EOF'
== utimens
+ write-new f data
+ chown f $U $G
+ write-new theirs data
+ write-new shared data
+ chmod shared 0666
+ symlink f l
+ lchown l $U $G
+ mkdir d 0777
+ chown d $U $G
utimens f 1000000000123456789 1700000000987654321 => OK
stat f -t
utimens f omit 1600000000000000001 => OK
stat f -t
utimens f 1500000000000000002 omit => OK
stat f -t
utimens f -1000000001 -2000000000 => OK
utimens f 0 0 => OK
utimens f 4102444800999999999 4102444800999999999 => OK
utimens f now now => OK
utimens f 5 now => OK
lutimens l 1111111111111111111 1222222222222222222 => OK @ f
utimens l 1333333333333333333 1444444444444444444 => OK @ f
stat l -t
utimens d 1555555555555555555 1666666666666666666 => OK
utimens theirs 1 1 => root=OK user=EPERM
utimens theirs now now => root=OK user=EACCES
utimens theirs omit omit => OK
utimens shared now now => OK
utimens shared 7 7 => root=OK user=EPERM
utimens missing 1 1 => ENOENT

== every-type
+ mkall
+ lchown %T $U $G
lutimens %T 1234567890123456789 1987654321987654321 => OK
utimens %T 1034567890123456789 1087654321987654321

== ctime
+ write-new f data
+ chown f $U $G
+ mkdir d 0777
chmod f 0640 => OK
chmod f 0640 => OK
chown f -1 -1 => OK
chown f $U $G => OK
truncate f 2 => OK
truncate f 2 => OK
ftruncate f 2 => OK
write f x => OK
link f d/f2 => OK
rename d/f2 d/f3 => OK @ f
unlink d/f3 => OK @ f
utimens f 1 1 => OK
read f => OK
open f O_RDONLY => OK
open f O_WRONLY => OK
access f r => OK
ls d => OK
readlink f => EINVAL

== dir-times
+ mkdir d 0777
+ write-new d/f data
+ mkdir e 0777
touch d/new => OK
mkdir d/sub 0755 => OK
rename d/f e/f => OK @ d e
rename e/f e/g => OK
chmod d 0755 => root=OK user=EPERM
rmdir d/sub => OK
symlink x d/l => OK
unlink d/l => OK
write e/g more => root=OK user=EACCES @ e
utimens d 100 200 => root=OK user=EPERM
touch d/new2 => OK
EOF

for who in root user; do
	test_expect_success "utimensat, ctime, mtime, as $who" "posix_compare times $who"
done

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
