#!/bin/bash
# POSIX rules, mkdir(2), rmdir(2), symlink(2) and readlink(2), on a branch
# mount against a local directory, as root and as an unprivileged user:
# modes through the umask (sticky kept, set-ID dropped), set-group-ID
# directories handing down their group and the bit, the parent's link
# count (2 + subdirectories, as ext4) and times, EEXIST over every type of
# entry and through a dangling symlink, ENOENT, ENOTDIR, ENOTEMPTY,
# EINVAL for ".", ENAMETOOLONG, EACCES, sticky directories; symlinks with
# any target (long, relative, absolute, dangling, UTF-8), their size and
# owner, EINVAL from readlink of anything else; then the tree through
# commit, remount and export.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan dirs <<'EOF'
== mkdir dir-nlink
+ mkall
mkdir a 0777 => OK
mkdir a/b 0700 => OK
mkdir a/b/c 0755 => OK
mkdir sticky 01777 => OK
mkdir setid 07777 => OK
umask 077
mkdir masked 0777 => OK
umask 022
mkdir %T 0755 => EEXIST
mkdir l/x 0755 => ENOTDIR
mkdir nodir/x 0755 => ENOENT
mkdir f/x 0755 => ENOTDIR
mkdir {x*256} 0755 => ENAMETOOLONG
mkdir {x*255} 0755 => OK
mkdir a/b/c/ 0755 => EEXIST
mkdir trailing/ 0755 => OK

== dangling
+ symlink target dangling
mkdir dangling 0755 => EEXIST

== setgid dir-nlink
+ mkdir g 0777
+ chown g 0 $SG
+ chmod g 02777
+ mkdir g-other 0777
+ chown g-other 0 $OG
+ chmod g-other 02777
mkdir g/sub 0755 => OK
mkdir g/sub/deeper 0700 => OK
mkdir g-other/sub 0755 => OK
touch g/sub/f 0644 => OK
symlink x g/sub/l => OK
mkfifo g/sub/p 0644 => OK

== rmdir dir-nlink
+ mkall
+ mkdir full 0777
+ write-new full/f data
+ mkdir e1 0777
+ mkdir e2 0777
+ mkdir e2/e3 0777
+ symlink e1 le1
rmdir e2 => ENOTEMPTY
rmdir e2/e3 => OK @ e2
rmdir e2 => OK
rmdir full => ENOTEMPTY
rmdir %T
rmdir le1 => ENOTDIR
rmdir . => EINVAL
rmdir e1/. => EINVAL
rmdir e1/.. => ENOTEMPTY
rmdir missing => ENOENT
rmdir f/x => ENOTDIR
rmdir e1/ => OK

== perms dir-nlink
+ mkdir ro 0555
+ mkdir ro/sub 0777
+ mkdir sticky 01777
+ mkdir sticky/others 0777
+ chown sticky/others $O $OG
+ mkdir sticky/mine 0777
+ chown sticky/mine $U $G
+ mkdir noexec 0666
mkdir ro/new 0755 => root=OK user=EACCES
rmdir ro/sub => root=OK user=EACCES
rmdir sticky/others => root=OK user=EPERM
rmdir sticky/mine => OK
mkdir noexec/x 0755 => root=OK user=EACCES

== symlink
+ mkall
+ mkdir d2 0777
symlink target plain => OK
symlink ../../x/y relative => OK
symlink /etc/passwd absolute => OK
symlink 'with space and ünïcödé' odd => OK
symlink {t*4095} long => OK
symlink {t*4096} too-long => ENAMETOOLONG
symlink '' empty => ENOENT
symlink target %T => EEXIST
symlink target nodir/l => ENOENT
symlink target f/l => ENOTDIR
symlink d2 to-dir => OK
symlink target to-dir/l => OK @ d2/l
readlink plain => OK
readlink relative => OK
readlink odd => OK
readlink long => OK
readlink %T
readlink missing => ENOENT
ls to-dir => OK
rmdir to-dir => ENOTDIR
unlink to-dir => OK @ d2
EOF

for who in root user; do
	test_expect_success "mkdir, rmdir, symlink, readlink, as $who" "posix_compare dirs $who"
done

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist --dir-nlink
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
