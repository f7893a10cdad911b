#!/bin/bash
# POSIX rules, chmod(2), chown(2), lchown(2) and the set-ID bits, on a
# branch mount against a local directory, as root and as an unprivileged
# user: every type of entry (chmod through a symlink changes its target,
# lchown the link), who may chmod and chown what (EPERM), chgrp to a
# group of one's own, S_ISGID dropped by a chmod from outside the group,
# set-ID bits cleared by chown and by writes and truncates from a user
# without CAP_FSETID, as this kernel does (since Linux 6.2 also S_ISGID
# without group execute when the writer is not in the group; never for
# directories), ctime moved by each change (also chown -1 -1); then the
# owners and modes through commit, remount and export (as root: owners
# restored; --no-owner: the exporting user's).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-posix.sh"

test_expect_success 'setup: a branch mount with allow_other,default_permissions; a local directory' '
	posix_setup
'

posix_plan chmod <<'EOF'
== chmod-types
+ mkall
+ lchown %T $U $G
chmod %T 0600
chmod %T 07777 @ f
chmod %T 0
chmod l 0640 @ f
chmod missing 0644 => ENOENT
chmod f/x 0644 => ENOTDIR

== chmod-who
+ write-new mine data
+ chown mine $U $G
+ write-new theirs data
+ chown theirs $O $OG
+ write-new in-sg data
+ chown in-sg $U $SG
+ write-new not-in-group data
+ chown not-in-group $U $OG
+ mkdir mydir 0755
+ chown mydir $U $G
chmod mine 0700 => OK
chmod theirs 0777 => root=OK user=EPERM
chmod in-sg 02755 => OK
chmod not-in-group 02755 => OK
chmod mine 04755 => OK
chmod mydir 03777 => OK
chmod mydir 0755 => OK

== chown-types
+ mkall
chown %T $O $OG
lchown %T $U $G @ f
lchown l $O $OG @ f
chown l $U $SG @ f
chown %T -1 -1
chown missing 0 0 => ENOENT

== chown-who
+ write-new mine data
+ chown mine $U $G
+ write-new theirs data
+ chown theirs $O $OG
+ mkdir mydir 0755
+ chown mydir $U $G
chown mine $O -1 => root=OK user=EPERM
chown mine -1 $SG => OK
chown mine -1 $G => OK
chown mine -1 $OG => root=OK user=EPERM
chown mine $U $G => root=OK user=OK
chown theirs $U -1 => root=OK user=EPERM
chown theirs -1 -1 => OK
chown mydir -1 $SG => OK

== setid-chown
+ write-new suid data
+ chown suid $U $G
+ chmod suid 06755
+ write-new sgid-noexec data
+ chown sgid-noexec $U $G
+ chmod sgid-noexec 02644
+ write-new suid-noexec data
+ chown suid-noexec $U $G
+ chmod suid-noexec 04644
+ mkdir sgid-dir 0755
+ chown sgid-dir $U $G
+ chmod sgid-dir 02755
+ write-new keep data
+ chown keep $U $G
+ chmod keep 06755
chown suid -1 $SG => OK
chown sgid-noexec -1 $SG => OK
chown suid-noexec -1 -1 => OK
chown sgid-dir -1 $SG => OK
chown keep $U $G => OK

== setid-write
+ write-new w data
+ chmod w 06777
+ write-new w-noexec data
+ chmod w-noexec 02666
+ write-new t data
+ chmod t 06777
+ write-new ft data
+ chmod ft 06777
+ write-new own data
+ chown own $U $G
+ chmod own 06777
write w more => OK
write w-noexec more => OK
truncate t 2 => OK
ftruncate ft 1 => OK
write own more => OK
EOF

for who in root user; do
	test_expect_success "chmod, chown, set-id bits, as $who" "posix_compare chmod $who"
done

test_expect_success 'extended attributes are ENOTSUP, as documented (README, "Mounts")' '
	echo x >mnt/xattr &&
	test_must_fail /usr/bin/python3 -c "import os; os.setxattr(\"mnt/xattr\", \"user.k\", b\"v\")" 2>err &&
	grep -q "Operation not supported" err &&
	test_must_fail /usr/bin/python3 -c "import os; os.getxattr(\"mnt/xattr\", \"user.k\")" 2>err &&
	grep -q "Operation not supported\|No data available" err &&
	rm mnt/xattr
'

test_expect_success 'the whole tree, then through commit, remount and export' '
	posix_persist
'

test_expect_success 'chown and chgrp through the mount persist into the next commit; diff shows them' '
	echo a >mnt/owned && chown 1234:5678 mnt/owned && chmod 4750 mnt/owned &&
	t9kfs commit posix@b -m owners >/dev/null &&
	chgrp 42 mnt/owned &&
	t9kfs commit posix@b -m chgrp >/dev/null &&
	mount_t9kfs posix@b~1 mnt-c -o allow_other,default_permissions >/dev/null &&
	stat_is mnt-c/owned %u:%g:%a 1234:5678:4750 &&
	umount_t9kfs mnt-c >/dev/null &&
	mount_t9kfs posix@b~0 mnt-c -o allow_other,default_permissions >/dev/null &&
	stat_is mnt-c/owned %u:%g:%a 1234:42:750 &&
	umount_t9kfs mnt-c >/dev/null &&
	t9kfs diff posix@b~1 posix@b >diff &&
	cat diff && grep -q "owned" diff
'

test_expect_success '-o uid=,gid= still overrides the owners of stored entries' '
	mount_t9kfs posix@b~0 mnt-o -o uid=77,gid=88 >/dev/null &&
	stat_is mnt-o/owned %u:%g 77:88 &&
	stat_is mnt-o/root/chown-who/theirs %u:%g 77:88 &&
	umount_t9kfs mnt-o >/dev/null
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	umount_t9kfs mnt &&
	mount_logs_clean
'

test_done
