#!/bin/bash
# POSIX rules, open(2) and creat(2), on a branch mount against a local
# directory, as root and as an unprivileged user: O_CREAT with and
# without O_EXCL on every type of entry, O_TRUNC, O_DIRECTORY, O_NOFOLLOW,
# EISDIR/ENOTDIR/ENOENT/ELOOP/ENAMETOOLONG, the umask, permission checks,
# the owner and group of new files (set-group-ID directories), the times
# that writes move; then all of it through commit, remount and export.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan create <<'EOF'
== creat
creat f 0640 => OK
write f data => OK
creat f 0600 => OK
open f O_CREAT|O_EXCL|O_WRONLY 0644 => EEXIST
open g O_CREAT|O_EXCL|O_WRONLY 0604 => OK
open h O_CREAT|O_RDWR 0755 => OK
open nodir/x O_CREAT|O_WRONLY 0644 => ENOENT
open f/x O_CREAT|O_WRONLY 0644 => ENOTDIR
open f/ O_RDONLY => ENOTDIR
open missing O_RDONLY => ENOENT
open '' O_RDONLY => ENOENT
open . O_WRONLY => EISDIR
open . O_RDWR => EISDIR
open . O_RDONLY|O_DIRECTORY => OK
open f O_RDONLY|O_DIRECTORY => ENOTDIR
open f O_WRONLY|O_TRUNC => OK
open {x*255} O_CREAT|O_WRONLY 0644 => OK
open {x*256} O_CREAT|O_WRONLY 0644 => ENAMETOOLONG
open {é*127} O_CREAT|O_WRONLY 0644 => OK
open {é*128} O_CREAT|O_WRONLY 0644 => ENAMETOOLONG
open {x*255}/{y*4000}/z O_RDONLY => ENAMETOOLONG

== every-type
+ mkall
open %T O_CREAT|O_EXCL|O_WRONLY 0644 => EEXIST
open %T O_CREAT|O_EXCL|O_RDONLY|O_DIRECTORY 0644 => EINVAL
open d O_CREAT|O_WRONLY 0644 => EISDIR
open d O_CREAT|O_RDONLY 0644 => EISDIR
open p O_CREAT|O_RDONLY|O_NONBLOCK 0644 => OK
open p O_WRONLY|O_NONBLOCK => root=ENXIO user=EACCES
open s O_RDONLY => ENXIO
open l O_RDONLY|O_NOFOLLOW => ELOOP
open l O_RDONLY => OK
open l/ O_RDONLY => ENOTDIR
open %T/x O_CREAT|O_WRONLY 0644
read f => OK

== symlinks
+ symlink nowhere dangling
+ symlink a loop-b
+ symlink loop-b a
+ symlink self self
+ mkdir dir 0777
+ symlink dir dl
open dangling O_CREAT|O_EXCL|O_WRONLY 0644 => EEXIST
open dangling O_CREAT|O_WRONLY 0600 => OK @ nowhere
open a O_RDONLY => ELOOP
open self O_CREAT|O_WRONLY 0644 => ELOOP
open dl/new O_CREAT|O_WRONLY 0644 => OK @ dir/new
open dl O_RDONLY|O_DIRECTORY => OK
open dl O_RDONLY|O_DIRECTORY|O_NOFOLLOW => ENOTDIR

== umask
umask 077
creat a 0666 => OK
umask 0
creat b 0777 => OK
open c O_CREAT|O_WRONLY 07777 => OK
umask 027
creat d 0666 => OK
mkdir e 0777 => OK

== write-times
+ write-new f some-data
+ write-new e ''
+ chown f $U $G
+ chown e $U $G
write f more => OK
overwrite f X => OK
read f => OK
truncate f 3 => OK
truncate f 3 => OK
ftruncate f 100 => OK
open f O_WRONLY|O_TRUNC => OK
open e O_WRONLY|O_TRUNC => OK
open f O_RDONLY => OK
write f appended => OK
read f => OK

== permissions
+ write-new r0600 secret
+ chmod r0600 0600
+ write-new r0644 public
+ write-new r0444 ro
+ chmod r0444 0444
+ write-new w0666 shared
+ chmod w0666 0666
+ mkdir d0555 0555
+ mkdir d0700 0700
+ write-new d0700/f hidden
+ mkdir d0711 0711
+ write-new d0711/f reachable
+ mkdir mine 0755
+ chown mine $U $G
+ write-new mine/f mine
+ chown mine/f $U $G
+ chmod mine/f 0000
open r0600 O_RDONLY => root=OK user=EACCES
open r0644 O_RDONLY => OK
open r0644 O_WRONLY => root=OK user=EACCES
open r0444 O_WRONLY|O_TRUNC => root=OK user=EACCES
open w0666 O_RDWR|O_TRUNC => OK
open d0555/new O_CREAT|O_WRONLY 0644 => root=OK user=EACCES
open d0700/f O_RDONLY => root=OK user=EACCES
open d0711/f O_RDONLY => OK
ls d0711 => root=OK user=EACCES
open mine/f O_RDONLY => root=OK user=EACCES
open mine/new O_CREAT|O_WRONLY 0644 => OK
access r0600 r => OK
access r0644 rw => OK
access w0666 rwx => OK

== owners
+ mkdir sgid 0755
+ chown sgid 0 $SG
+ chmod sgid 02777
+ mkdir sgid-other 0755
+ chown sgid-other 0 $OG
+ chmod sgid-other 02777
+ mkdir plain 0777
+ mkdir sticky 01777
creat plain/f 0644 => OK
open plain/x O_CREAT|O_WRONLY 02755 => OK
creat sgid/f 0644 => OK
open sgid/x O_CREAT|O_WRONLY 02755 => OK
open sgid-other/x O_CREAT|O_WRONLY 02755 => OK
open sgid-other/y O_CREAT|O_WRONLY 04755 => OK
open sticky/f O_CREAT|O_WRONLY 01755 => OK
EOF

for who in root user; do
	test_expect_success "open, creat, O_EXCL, errors, as $who" "posix_compare create $who"
done

test_expect_success 'a name that is not UTF-8 is EINVAL, as documented (README, "Mounts")' '
	test_must_fail /usr/bin/python3 -c "import os; os.close(os.open(b\"mnt/root/\\xff\", os.O_CREAT | os.O_WRONLY, 0o644))" 2>err &&
	grep -q "Invalid argument" err &&
	/usr/bin/python3 -c "import os; os.close(os.open(b\"loc/root/\\xff\", os.O_CREAT | os.O_WRONLY, 0o644)); os.unlink(b\"loc/root/\\xff\")"
'

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
