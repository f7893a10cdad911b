#!/bin/bash
# Tree version 2 end to end, the implementation's own checks (the POSIX
# rules against a local directory are t045x-posix-*): a tree of owners,
# set-ID bits, fifos, sockets, devices and hard links across directories
# imported, mounted from the commit, exported as root and with
# --no-owner, all equal to the source; a branch mount's link groups and
# owners through a remount before the commit (staging replayed); a write
# through one name of a committed group whose other names the mount has
# not seen (the one walk of fs/link.c); unlink down to one name; owners
# under -o uid=,gid=; diff of owners, modes and link counts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-mount.sh"

[ -x /usr/bin/python3 ] || skip_all "no /usr/bin/python3"

# list DIR: every entry under DIR, sorted: path, type, mode, owner, size
# (not of directories), nlink, rdev, mtime, the first path of its inode
# (hard links), and the content's hash
list() {
	/usr/bin/python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
top = sys.argv[1]
rows, first = [], {}
for dp, dns, fns in os.walk(top):
    for n in dns + fns:
        p = os.path.join(dp, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, top)
        rows.append((rel, st))
        if not stat.S_ISDIR(st.st_mode):
            k = (st.st_dev, st.st_ino)
            if k not in first or os.fsencode(rel) < os.fsencode(first[k]):
                first[k] = rel
for rel, st in sorted(rows, key=lambda r: os.fsencode(r[0])):
    m, d = st.st_mode, stat.S_ISDIR(st.st_mode)
    extra = ""
    if stat.S_ISREG(m):
        extra = hashlib.sha256(open(os.path.join(top, rel), "rb").read()).hexdigest()[:12]
    elif stat.S_ISLNK(m):
        extra = "-> " + os.readlink(os.path.join(top, rel))
    print(rel, "%o" % m, "%d:%d" % (st.st_uid, st.st_gid), "-" if d else st.st_size,
          st.st_nlink, "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)),
          st.st_mtime_ns, "-" if d else first[(st.st_dev, st.st_ino)], extra)
EOF
}

test_expect_success 'setup: a tree of owners, set-ID bits, special files and hard links' '
	mkdir -p src/pkgs/a src/envs/e/bin src/sgid src/empty &&
	echo payload >src/pkgs/a/lib.so && head -c 300000 /dev/urandom >src/pkgs/a/big &&
	ln src/pkgs/a/lib.so src/envs/e/lib.so && ln src/pkgs/a/lib.so src/envs/e/bin/lib2 &&
	ln src/pkgs/a/big src/envs/e/big &&
	echo "#!/bin/sh" >src/envs/e/bin/tool && chmod 4755 src/envs/e/bin/tool &&
	chown 1000:1000 src/pkgs/a/lib.so src/envs/e/bin/tool &&
	chown 2000:3000 src/pkgs/a/big && chown -R 7:8 src/envs && # (big too: one inode)
	chown 0:4000 src/sgid && chmod 2775 src/sgid && chmod 1777 src/empty &&
	mkfifo src/pkgs/fifo && ln src/pkgs/fifo src/envs/fifo2 &&
	/usr/bin/python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"src/pkgs/sock\")" &&
	mknod src/pkgs/null c 1 3 && chown 0:6 src/pkgs/null && chmod 660 src/pkgs/null &&
	ln -s a/lib.so src/pkgs/lnk && chown -h 1000:1000 src/pkgs/lnk && ln src/pkgs/lnk src/envs/lnk2 &&
	touch -d "2001-02-03 04:05:06.123456789" src/pkgs/a/big &&
	t9kfs repo create d >/dev/null &&
	t9kfs import src d@main -m v1 >imported &&
	grep -q "4 fifos, sockets and devices; 9 names of hard-linked files" imported &&
	list src >want
'

test_expect_success 'the commit, mounted, is the tree: owners, types, devices, one inode per group' '
	mount_t9kfs d@main mnt -o ro >/dev/null &&
	list mnt >got && test_cmp want got &&
	[ "$(stat -c %h mnt/pkgs/a/lib.so)" = 3 ] &&
	[ "$(stat -c %i mnt/envs/e/bin/lib2)" = "$(stat -c %i mnt/pkgs/a/lib.so)" ] &&
	[ "$(stat -c %h mnt/envs)" = 3 ] &&
	umount_t9kfs mnt
'

test_expect_success 'export as root: the same; --no-owner: all the exporting user'"'"'s' '
	t9kfs export d@main out >msg && grep -q "5 hard links" msg &&
	list out >got && test_cmp want got &&
	t9kfs export --no-owner d@main out2 >/dev/null &&
	list out2 | awk "{ \$3 = \"-\"; print }" >got2 &&
	awk "{ \$3 = \"-\"; print }" want >want2 && test_cmp want2 got2 &&
	[ -z "$(find out2 ! -user 0)" ]
'

test_expect_success 'a branch mount: links, owners and a fifo group through a remount before commit' '
	t9kfs branch create d@b >/dev/null &&
	mount_t9kfs d@b mnt >/dev/null &&
	echo fresh >mnt/new && ln mnt/new mnt/sgid/new2 && ln mnt/new mnt/empty/new3 &&
	chown 11:12 mnt/new && rm mnt/empty/new3 && mkfifo mnt/p && ln mnt/p mnt/sgid/p2 &&
	[ "$(stat -c %g mnt/sgid/new2)" = 12 ] &&
	mkdir mnt/sgid/sub && [ "$(stat -c %g:%a mnt/sgid/sub)" = 4000:2755 ] &&
	umount_t9kfs mnt &&
	mount_t9kfs d@b mnt >/dev/null &&
	[ "$(stat -c %h:%u:%g mnt/sgid/new2)" = 2:11:12 ] &&
	[ "$(stat -c %i mnt/new)" = "$(stat -c %i mnt/sgid/new2)" ] &&
	[ "$(stat -c %h mnt/p)" = 2 ] && [ ! -e mnt/empty/new3 ] &&
	echo more >>mnt/sgid/new2 && [ "$(cat mnt/new)" = "fresh
more" ] &&
	umount_t9kfs mnt &&
	t9kfs commit d@b -m links >/dev/null &&
	t9kfs stat d@b:new | grep -q "links: 2 names"
'

test_expect_success 'a write through one name of a committed group the mount has not seen whole' '
	mount_t9kfs d@b mnt >/dev/null &&
	echo appended >>mnt/envs/e/bin/lib2 &&
	umount_t9kfs mnt &&
	mount_t9kfs d@b mnt >/dev/null &&
	for f in pkgs/a/lib.so envs/e/lib.so envs/e/bin/lib2; do
		[ "$(tail -n 1 mnt/$f)" = appended ] || { echo "$f: not changed"; exit 1; }
	done &&
	[ "$(stat -c %h mnt/envs/e/lib.so)" = 3 ] &&
	rm mnt/pkgs/a/lib.so mnt/envs/e/bin/lib2 &&
	[ "$(stat -c %h mnt/envs/e/lib.so)" = 1 ] &&
	umount_t9kfs mnt &&
	t9kfs commit d@b -m "one name left" >/dev/null &&
	! t9kfs stat d@b:envs/e/lib.so | grep -q links
'

test_expect_success 'diff: owners, modes, link counts and a directory'"'"'s own attributes' '
	mount_t9kfs d@b mnt >/dev/null &&
	chown 5:5 mnt/pkgs/a/big && chmod 700 mnt/sgid && umount_t9kfs mnt &&
	t9kfs commit d@b -m owners >/dev/null &&
	t9kfs diff d@b~1 d@b >diff &&
	printf "%s\n" "M envs/e/big (300000 -> 300000 bytes, owner 7:8 -> 5:5)" \
		"M pkgs/a/big (300000 -> 300000 bytes, owner 7:8 -> 5:5)" \
		"M sgid/ (mode 2775 -> 2700)" >want-diff &&
	test_cmp want-diff diff &&
	t9kfs diff d@main d@b~1 >diff2 &&
	grep -q "^M envs/e/lib.so (8 -> 17 bytes, hard links 3 -> 1)" diff2 &&
	grep -q "^D pkgs/a/lib.so" diff2
'

test_expect_success '-o uid=,gid= shows every stored entry as theirs, not what the mount makes' '
	mount_t9kfs d@b mnt -o uid=77,gid=88 >/dev/null &&
	[ "$(stat -c %u:%g mnt/pkgs/a/big)" = 77:88 ] &&
	echo x >mnt/mine && [ "$(stat -c %u:%g mnt/mine)" = 0:0 ] &&
	umount_t9kfs mnt &&
	mount_t9kfs d@b mnt >/dev/null &&
	[ "$(stat -c %u:%g mnt/pkgs/a/big mnt/mine | tr "\n" " ")" = "5:5 0:0 " ] &&
	umount_t9kfs mnt
'

test_expect_success 'umount; no sanitizer report in the daemons logs' '
	mount_logs_clean
'

test_done
