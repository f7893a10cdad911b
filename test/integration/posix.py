#!/usr/bin/python3
# The POSIX rules suite's runner (test/integration/lib-posix.sh, t045x,
# t0460): one process applies many operations and prints a transcript
# that is the same on any file system that follows the same rules, so a
# branch mount's transcript can be diffed against a local directory's.
#
#   posix.py setup ROOT < PLAN   the plan's setup lines ("+ OP ..."), as root
#   posix.py run ROOT < PLAN     the plan's other lines, as the caller
#   posix.py diff A B           the checks whose transcripts differ, one a line
#   posix.py list DIR [--mtime] [--no-owner] [--no-sum] [--dir-nlink]
#                                one line per entry under DIR, sorted: path,
#                                type, mode, uid, gid, size, nlink, rdev,
#                                the first path of its hard-link group,
#                                sha256 (files) or target (symlinks)
#
# A plan is made of blocks; "== NAME [dir-nlink]" starts one, whose
# directory is ROOT/NAME (made by setup, as root, mode 0777; "dir-nlink"
# shows directories' link counts). Then one line an operation, its paths
# relative to the block's directory (setup runs with umask 0, the checks
# with 022):
#
#   + OP ARGS...                       a setup line (setup phase, as root)
#   OP ARGS... [=> WANT] [@ PATH...]   a checked line (run phase, as the
#                                      caller); @ names more paths to stat
#                                      ("@ -": none)
#
# "+ mkall [PREFIX]" makes one entry of every type (see MKALL), and a line
# with %T stands for one line per type (f d l p s c b).
#
# WANT is what Linux answers (OK or an errno name), or "root=X user=Y";
# a result other than WANT prints "!! wanted ..." (on the local directory
# that means the plan is wrong). $U $G (the test user, its group), $SG
# (a supplementary group of the test user), $O $OG (another user, group)
# are replaced by numbers from the environment (POSIX_U ...).
#
# After each checked line: its result, then "  PATH: lstat" for every
# path it names and their parents, with "c+"/"c=" and "m+"/"m=" telling
# whether ctime and mtime moved during the operation, and "#k" labels
# that are equal when two paths are one inode. Exact times are printed
# only when set explicitly (utimens) or asked for (stat -t).
import ctypes
import errno
import hashlib
import os
import re
import shlex
import socket
import stat
import sys
import time

ENV = {k: os.environ.get("POSIX_" + k, d) for k, d in
       (("U", "1001"), ("G", "1001"), ("SG", "2000"), ("O", "1002"), ("OG", "1002"))}

FLAGS = {n: getattr(os, n) for n in (
    "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_TRUNC", "O_APPEND",
    "O_NOFOLLOW", "O_DIRECTORY", "O_NONBLOCK", "O_PATH")}

libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD = -100
RENAME_FLAGS = {"noreplace": 1, "exchange": 2}

# Linux waits a clock tick between timestamp updates unless it has
# fine-grained ("multigrain") timestamps; POSIX_TICK=1 sleeps before each
# operation so that "c+" means the same on any kernel.
TICK = float(os.environ.get("POSIX_TICK", "0"))


def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def ftype(m):
    for t, c in ((stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"),
                 (stat.S_ISFIFO, "p"), (stat.S_ISSOCK, "s"), (stat.S_ISCHR, "c"),
                 (stat.S_ISBLK, "b")):
        if t(m):
            return c
    return "?"


# Directories' sizes differ between file systems; their link counts
# (2 + subdirectories on ext4, 1 on btrfs) are shown where asked for.
DIR_NLINK = False


def fmt_stat(st):
    t = ftype(st.st_mode)
    size = "-" if t == "d" else str(st.st_size)
    nlink = "-" if t == "d" and not DIR_NLINK else str(st.st_nlink)
    rdev = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)) if t in "cb" else "-"
    return "%s %04o %d:%d size=%s nlink=%s rdev=%s" % (
        t, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, nlink, rdev)


def lstat(p):
    try:
        return os.lstat(p)
    except OSError as e:
        return err_name(e)


def parse_mode(s):
    return int(s, 8)


def parse_id(s):
    return int(s)


def parse_flags(s):
    v = 0
    for f in s.split("|"):
        v |= FLAGS[f]
    return v


def parse_time(s):
    if s == "now":
        return ("now",)
    if s == "omit":
        return ("omit",)
    return int(s)


def do_utimens(p, a, m, follow):
    # os.utime cannot omit one of the two times: go through libc
    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
    UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
    ts = (Timespec * 2)()
    for i, v in enumerate((a, m)):
        if v == ("now",):
            ts[i].tv_sec, ts[i].tv_nsec = 0, UTIME_NOW
        elif v == ("omit",):
            ts[i].tv_sec, ts[i].tv_nsec = 0, UTIME_OMIT
        else:
            ts[i].tv_sec, ts[i].tv_nsec = divmod(v, 10**9)
    flags = 0 if follow else 0x100  # AT_SYMLINK_NOFOLLOW
    libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    if libc.utimensat(AT_FDCWD, os.fsencode(p), ts, flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def do_link_follow(a, b):
    # os.link(follow_symlinks=True) calls link(2), which does not follow
    if libc.linkat(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), 0x400) != 0:
        e = ctypes.get_errno()  # 0x400: AT_SYMLINK_FOLLOW
        raise OSError(e, os.strerror(e))


def do_renameat2(a, b, flag):
    if libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b),
                      RENAME_FLAGS[flag]) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def do_open(p, flags, mode=0o644):
    os.close(os.open(p, flags, mode))


def do_write(p, data, flags=os.O_WRONLY | os.O_APPEND):
    fd = os.open(p, flags, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def do_read(p):
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return repr(os.read(fd, 200))
    finally:
        os.close(fd)


def do_ftruncate(p, n):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.ftruncate(fd, n)
    finally:
        os.close(fd)


def do_bind(p):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(p)
    finally:
        s.close()


def do_mknod(p, kind, mode, major=0, minor=0):
    kinds = {"f": stat.S_IFREG, "p": stat.S_IFIFO, "s": stat.S_IFSOCK,
             "c": stat.S_IFCHR, "b": stat.S_IFBLK}
    os.mknod(p, kinds[kind] | mode, os.makedev(major, minor))


def do_list(p):
    return " ".join(sorted(os.listdir(p)))


def do_access(p, what):
    m = {"r": os.R_OK, "w": os.W_OK, "x": os.X_OK, "f": os.F_OK}
    v = 0
    for c in what:
        v |= m[c]
    return "yes" if os.access(p, v) else "no"


def do_unlinked(p):
    # the last name goes while the file is open: the open file lives on
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        os.write(fd, b"+")
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 200)
        return "nlink=%d %r" % (os.fstat(fd).st_nlink, data)
    finally:
        os.close(fd)


def do_fifo_io(p):
    r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    try:
        w = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
        os.write(w, b"through the fifo")
        os.close(w)
        return repr(os.read(r, 100))
    finally:
        os.close(r)


def do_sock_io(p):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(p)
        srv.listen(1)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(p)
            a, _ = srv.accept()
            c.sendall(b"through the socket")
            data = a.recv(100)
            a.close()
        finally:
            c.close()
        return repr(data)
    finally:
        srv.close()


def do_connect(p):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(p)
    finally:
        c.close()


# name: (function, argument parsers, indexes of the arguments that are paths)
OPS = {
    "touch": (lambda p, m=0o644: do_open(p, os.O_WRONLY | os.O_CREAT, m), (str, parse_mode), (0,)),
    "open": (do_open, (str, parse_flags, parse_mode), (0,)),
    "creat": (lambda p, m: do_open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, m), (str, parse_mode), (0,)),
    "write": (do_write, (str, str), (0,)),
    "write-new": (lambda p, d: do_write(p, d, os.O_WRONLY | os.O_CREAT | os.O_EXCL), (str, str), (0,)),
    "overwrite": (lambda p, d: do_write(p, d, os.O_WRONLY), (str, str), (0,)),
    "read": (do_read, (str,), (0,)),
    "truncate": (os.truncate, (str, int), (0,)),
    "ftruncate": (do_ftruncate, (str, int), (0,)),
    "mkdir": (os.mkdir, (str, parse_mode), (0,)),
    "rmdir": (os.rmdir, (str,), (0,)),
    "unlink": (os.unlink, (str,), (0,)),
    "link": (lambda a, b: os.link(a, b, follow_symlinks=False), (str, str), (0, 1)),
    "link-follow": (do_link_follow, (str, str), (0, 1)),
    "rename": (os.rename, (str, str), (0, 1)),
    "renameat2": (lambda f, a, b: do_renameat2(a, b, f), (str, str, str), (1, 2)),
    "symlink": (os.symlink, (str, str), (1,)),
    "readlink": (os.readlink, (str,), (0,)),
    "chmod": (os.chmod, (str, parse_mode), (0,)),
    "chown": (os.chown, (str, parse_id, parse_id), (0,)),
    "lchown": (os.lchown, (str, parse_id, parse_id), (0,)),
    "mkfifo": (os.mkfifo, (str, parse_mode), (0,)),
    "mknod": (do_mknod, (str, str, parse_mode, int, int), (0,)),
    "bind": (do_bind, (str,), (0,)),
    "utimens": (lambda p, a, m: do_utimens(p, a, m, True), (str, parse_time, parse_time), (0,)),
    "lutimens": (lambda p, a, m: do_utimens(p, a, m, False), (str, parse_time, parse_time), (0,)),
    "ls": (do_list, (str,), (0,)),
    "access": (do_access, (str, str), (0,)),
    "unlinked": (do_unlinked, (str,), (0,)),
    "fifo-io": (do_fifo_io, (str,), (0,)),
    "sock-io": (do_sock_io, (str,), (0,)),
    "connect": (do_connect, (str,), (0,)),
    "umask": (lambda m: (os.umask(m), None)[1], (parse_mode,), ()),
    "stat": (lambda p, *a: None, (str, str), (0,)),
}


def subst(tok):
    for k in sorted(ENV, key=len, reverse=True):
        tok = tok.replace("$" + k, ENV[k])
    # {x*255}: 255 times x
    return re.sub(r"\{(.+?)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), tok)


def parse_line(line):
    want, extra = None, []
    parts = re.split(r" (=>|@) ", line)
    line = parts[0]
    for sep, val in zip(parts[1::2], parts[2::2]):
        if sep == "=>":
            want = val.strip()
        else:
            extra = [subst(t) for t in shlex.split(val)]
    toks = [subst(t) for t in shlex.split(line)]
    return toks, want, extra


def want_for_me(want):
    if want is None or "=" not in want:
        return want
    me = "root" if os.geteuid() == 0 else "user"
    for part in want.split():
        k, _, v = part.partition("=")
        if k == me:
            return v
    return None


def paths_of(name, args):
    ps = []
    for i in OPS[name][2]:
        if i < len(args):
            p = os.path.normpath(args[i])
            for q in (p, os.path.dirname(p) or "."):
                if q not in ps:
                    ps.append(q)
    return ps


def apply(name, toks):
    fn, parsers, _ = OPS[name]
    args = [parsers[i](t) for i, t in enumerate(toks)]
    try:
        r = fn(*args)
    except OSError as e:
        return err_name(e)
    return "OK" if r is None else "OK %s" % r


def short(s):
    # long names print as {x*255}
    return re.sub(r"(.)\1{15,}", lambda m: "{%s*%d}" % (m.group(1), len(m.group(0))), s)


def run_line(toks, want, extra, quiet):
    name = toks[0]
    if name not in OPS:
        return "?? unknown operation %s" % name
    args = toks[1:]
    ps = paths_of(name, args)
    ps += [os.path.normpath(p) for p in extra if os.path.normpath(p) not in ps]
    if extra == ["-"]:
        ps = []
    before = {p: lstat(p) for p in ps}
    if TICK:
        time.sleep(TICK)
    res = apply(name, args)
    out = ["%s => %s" % (shlex.join(toks), res)]
    w = want_for_me(want)
    if w is not None and res.split(" ")[0] != w:
        out.append("!! wanted %s" % w)
    if quiet:
        return "\n".join(out) if (res.split(" ")[0] != "OK" or len(out) > 1) else None
    inos = {}
    for p in ps:
        st = lstat(p)
        if isinstance(st, str):
            out.append("  %s: %s" % (p, st))
            continue
        label = inos.setdefault((st.st_dev, st.st_ino), "#%d" % (len(inos) + 1))
        line = "  %s: %s %s" % (p, fmt_stat(st), label)
        b = before[p]
        if isinstance(b, str):
            line += " new"
        else:
            for c, x, y in (("c", b.st_ctime_ns, st.st_ctime_ns), ("m", b.st_mtime_ns, st.st_mtime_ns)):
                line += " " + c + ("+" if y > x else "=" if y == x else "-")
        # exact times only where they were set explicitly
        if p == ps[0] and name in ("utimens", "lutimens") and res == "OK":
            # utimens follows a symlink: the times set are its target's
            t = os.stat(p) if name == "utimens" else st
            what = " target" if t is not st and stat.S_ISLNK(st.st_mode) else ""
            if args[2] not in ("now", "omit"):
                line += "%s mtime=%d" % (what, t.st_mtime_ns)
            if args[1] not in ("now", "omit"):
                line += " atime=%d" % t.st_atime_ns
        elif p == ps[0] and name == "stat" and "-t" in args:
            # a symlink's atime moves when it is followed (relatime)
            line += " mtime=%d" % st.st_mtime_ns
            if not stat.S_ISLNK(st.st_mode):
                line += " atime=%d" % st.st_atime_ns
        out.append(line)
    return "\n".join(out)


# Every type of entry, made by "+ mkall [PREFIX]" (as root): f a file, d a
# directory, l a symlink to f, p a FIFO, s a socket, c a character and b a
# block device. A line with %T stands for one line per type.
TYPES = "fdlpscb"
MKALL = ("write-new %sf data", "mkdir %sd 0755", "symlink f %sl", "mkfifo %sp 0644",
         "bind %ss", "mknod %sc c 0644 1 3", "mknod %sb b 0644 7 0")


def expand(line):
    if line.startswith("+ mkall"):
        prefix = line[len("+ mkall"):].strip()
        return ["+ " + m % prefix for m in MKALL]
    if "%T" in line:
        return [line.replace("%T", t) for t in TYPES]
    return [line]


def read_plan():
    blocks, cur = [], None
    for raw in sys.stdin.read().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("== "):
            cur = (line[3:].strip(), [])
            blocks.append(cur)
        elif cur is None:
            sys.exit("posix.py: a plan starts with '== NAME'")
        else:
            cur[1].extend(expand(line))
    return blocks


def main_plan(phase, root):
    global DIR_NLINK
    umask = 0 if phase == "setup" else 0o022
    os.umask(umask)
    for block, lines in read_plan():
        name, _, opts = block.partition(" ")
        DIR_NLINK = "dir-nlink" in opts.split()
        d = os.path.join(root, name)
        if phase == "setup":
            os.makedirs(d)
            os.chmod(d, 0o777)
        os.chdir(d)
        print("== " + name)
        for line in lines:
            setup = line.startswith("+ ")
            if setup != (phase == "setup"):
                continue
            toks, want, extra = parse_line(line[2:] if setup else line)
            r = run_line(toks, want, extra, quiet=setup)
            if r is not None:
                print(short(r))
        os.umask(umask)
    sys.stdout.flush()


def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()[:16]


def main_list(top, opts):
    global DIR_NLINK
    DIR_NLINK = "--dir-nlink" in opts
    entries, groups = [], {}
    for dp, dns, fns in os.walk(top):
        dns.sort()
        for n in sorted(dns + fns):
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            entries.append((rel, st))
            if not stat.S_ISDIR(st.st_mode):
                groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    entries.sort(key=lambda e: os.fsencode(e[0]))
    for rel, st in entries:
        t = ftype(st.st_mode)
        line = fmt_stat(st)
        if "--no-owner" in opts:
            line = line.replace(" %d:%d " % (st.st_uid, st.st_gid), " -:- ", 1)
        if "--mtime" in opts:
            line += " mtime=%d" % st.st_mtime_ns
        if t != "d" and st.st_nlink > 1:
            line += " group=%s" % shlex.quote(min(groups[(st.st_dev, st.st_ino)], key=os.fsencode))
        if t == "f" and "--no-sum" not in opts:
            line += " sha=" + sha256(os.path.join(top, rel))
        elif t == "l":
            line += " -> " + shlex.quote(os.readlink(os.path.join(top, rel)))
        print(short(shlex.quote(rel) + " " + line))


def checks_of(path):
    # a transcript as a list of (block, first line, all lines) checks
    out, block = [], ""
    for line in open(path, encoding="utf-8", errors="replace").read().splitlines():
        if line.startswith("== "):
            block = line[3:]
        elif line.startswith("  ") or line.startswith("!!"):
            if out:
                out[-1][2].append(line)
        else:
            out.append((block, line, [line]))
    return out


def main_diff(a, b):
    # one line per check whose result or stats differ: what to fix first
    ca, cb = checks_of(a), checks_of(b)
    setup_a = {(c[0], c[1]) for c in ca}
    bad = 0
    keyed = {}
    for c in cb:
        keyed.setdefault((c[0], c[1].split(" => ")[0]), []).append(c)
    for c in ca:
        k = (c[0], c[1].split(" => ")[0])
        other = keyed.get(k, [])
        o = other.pop(0) if other else None
        if o is not None and o[2] == c[2]:
            continue
        bad += 1
        if o is None:
            print("%s: %s / mount: no such line" % (c[0], c[1]))
            continue
        got = o[1].split(" => ", 1)[-1]
        why = "mount %s" % got if o[1] != c[1] else next(
            ("mount%s (local%s)" % (y[y.index(":"):] if ":" in y else y,
                                    x[x.index(":"):] if ":" in x else x)
             for x, y in zip(c[2], o[2]) if x != y), "mount printed more")
        print("%s: %s / %s" % (c[0], c[1], short(why)))
    for k, rest in keyed.items():
        for o in rest:
            if (o[0], o[1]) not in setup_a:
                bad += 1
                print("%s: local: no such line / mount %s" % (o[0], o[1]))
    print("# %d of %d checks differ" % (bad, len(ca)))
    return bad


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "diff":
        sys.exit(1 if main_diff(sys.argv[2], sys.argv[3]) else 0)
    elif len(sys.argv) >= 3 and sys.argv[1] in ("setup", "run"):
        main_plan(sys.argv[1], sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "list":
        main_list(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("usage: posix.py setup|run ROOT < PLAN | list DIR [--mtime] [--no-owner] [--no-sum] [--dir-nlink]")


if __name__ == "__main__":
    main()
