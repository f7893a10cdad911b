"""Clients, repositories, refs and files over libt9kfs (sdk/t9kfs.h).

    c = t9kfs.Client()                  # the local default server, as the CLI finds it
    ref = c.repo("imagenet").ref("v1")  # pinned to v1's commit
    with ref.open("train/cat.jpg") as f:
        head = f.read(1024)

Every object holds a C handle; close() (or the end of a with block, or
the garbage collector) lets it go. A Ref is pinned to the commit its spec
named when it was made: reads never see a branch move under them until
refresh() (or a commit through the ref itself).

Objects survive fork(): in a child (a DataLoader worker) each one opens
its C handle again on first use, pinned to the same commit.
"""

import ctypes
import io
import json
import os
import posixpath
import shutil
import stat as _stat
import tempfile
import threading

from . import _lib
from .errors import InvalidArgument, ReadOnly

_ctx = threading.local()


def _options(opts):
    parts = []
    for k, v in opts.items():
        if v is None:
            continue
        v = str(v)
        if "," in v or "=" in v and k != "cache_group":
            raise InvalidArgument("option %s: value %r may not hold ',' or '='" % (k, v))
        parts.append("%s=%s" % (k, v))
    return ",".join(parts)


def _type_of(mode):
    if _stat.S_ISDIR(mode):
        return "directory"
    if _stat.S_ISLNK(mode):
        return "symlink"
    if _stat.S_ISREG(mode):
        return "file"
    return "other"


def _norm(path):
    """A repository path as the C API takes it: '/'-separated, relative."""
    path = os.fspath(path) if not isinstance(path, str) else path
    return path.strip("/")


def split_spec(spec, default_ref="main"):
    """'REPO@REF' (or 'REPO') -> (repo, ref)."""
    if not isinstance(spec, str) or not spec:
        raise InvalidArgument("want 'REPO@REF', not %r" % (spec,))
    repo, at, ref = spec.partition("@")
    if not repo or (at and not ref):
        raise InvalidArgument("want 'REPO@REF', not %r" % (spec,))
    return repo, ref or default_ref


class _Handle:
    """A C handle that belongs to the process generation it was made in."""

    _free = None

    def __init__(self):
        self._h = None
        self._gen = -1
        self._lock = threading.Lock()

    def _set(self, h):
        self._h = h
        self._gen = _lib.generation

    def _handle(self):
        h = self._h
        if h is not None and self._gen == _lib.generation:
            return h
        with self._lock:
            if self._h is None or self._gen != _lib.generation:
                if self._gen == -2:
                    raise ValueError("%s is closed" % type(self).__name__)
                self._h = None  # a parent's handle: left to its process
                self._set(self._reopen())
            return self._h

    def _reopen(self):
        raise NotImplementedError

    def close(self):
        """Lets the C handle go (others that use it keep it alive)."""
        h, self._h = self._h, None
        if h is not None and self._gen == _lib.generation and self._free:
            type(self)._free(h)
        self._gen = -2

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _out_ptr():
    return ctypes.c_void_p()


class Client(_Handle):
    """A connection to one metadata service.

    server: "unix:PATH" or "http://HOST:PORT"; None: what the t9kfs command
    uses ($T9KFS_SERVER, $T9KFS_HOME/config, else the embedded server under
    $T9KFS_HOME, started when needed). token: None reads $T9KFS_TOKEN or
    $T9KFS_HOME/token. Options (None keeps the default): home, cache (the
    node's cache daemon), cache_group, cache_size ("256M"), prefetch
    ("64M"), prefetch_threads, author, timeout (seconds per request).
    """

    _free = staticmethod(_lib.t9kfs_client_free)

    def __init__(self, server=None, token=None, *, home=None, cache=None, cache_group=None,
                 cache_size=None, prefetch=None, prefetch_threads=None, author=None,
                 timeout=None):
        super().__init__()
        self._args = (server, token, _options({
            "home": home, "cache": cache, "cache_group": cache_group,
            "cache_size": cache_size, "prefetch": prefetch,
            "prefetch_threads": prefetch_threads, "author": author, "timeout": timeout}))
        self._set(self._reopen())
        self.server = _lib.t9kfs_client_server(self._h).decode()

    def _reopen(self):
        server, token, opts = self._args
        out = _out_ptr()
        _lib.check(_lib.t9kfs_connect(_lib.enc(server), _lib.enc(token), _lib.enc(opts),
                                      ctypes.byref(out)))
        return out.value

    def __reduce__(self):
        server, token, opts = self._args
        kw = dict(p.split("=", 1) for p in opts.split(",") if p)
        return (_client_from, (server, token, kw))

    def __repr__(self):
        return "t9kfs.Client(%r)" % self.server

    def repo(self, name):
        """Repository name (NotFound if there is none)."""
        return Repo(self, name)

    def create_repo(self, name, store=None):
        """Creates repository name (store: its URL; None: the server's
        store plus /NAME) with branch main, and returns it."""
        _lib.check(_lib.t9kfs_repo_create(self._handle(), _lib.enc(name), _lib.enc(store), None))
        return Repo(self, name)

    def delete_repo(self, name):
        """Deletes a repository's record, refs and staging (objects stay)."""
        _lib.check(_lib.t9kfs_repo_delete(self._handle(), _lib.enc(name)))

    def repos(self):
        """Every repository, as dicts (name, store, chunk, created_ns, ...)."""
        out = _out_ptr()
        _lib.check(_lib.t9kfs_repo_list(self._handle(), ctypes.byref(out)))
        return json.loads(_lib.take_string(out))["repos"]

    def ref(self, spec):
        """The ref of 'REPO@REF' ('REPO' alone: main)."""
        repo, ref = split_spec(spec)
        return Repo(self, repo).ref(ref)


def _client_from(server, token, kw):
    return Client(server, token, **kw)


_default = None
_default_lock = threading.Lock()


def client():
    """The process's default Client() (the local default server), made at
    first use; what 'REPO@REF' strings are resolved through."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def set_client(c):
    """Makes c the default client (None: make a new one at next use)."""
    global _default
    with _default_lock:
        _default = c


class Repo(_Handle):
    """A repository of a Client."""

    _free = staticmethod(_lib.t9kfs_repo_close)

    def __init__(self, client_, name):
        super().__init__()
        self.client = client_
        self.name = name
        self._set(self._reopen())

    def _reopen(self):
        out = _out_ptr()
        _lib.check(_lib.t9kfs_repo_open(self.client._handle(), _lib.enc(self.name),
                                        ctypes.byref(out)))
        return out.value

    def __reduce__(self):
        return (Repo, (self.client, self.name))

    def __repr__(self):
        return "t9kfs.Repo(%r)" % self.name

    def ref(self, spec="main"):
        """A Ref of spec (a branch, tag, commit id or prefix, ~N), pinned."""
        return Ref(self, spec)

    def resolve(self, spec):
        """spec's commit id (64 hex digits)."""
        buf = ctypes.create_string_buffer(65)
        _lib.check(_lib.t9kfs_resolve(self._handle(), _lib.enc(spec), buf, None))
        return buf.value.decode()

    def _json(self, fn, *args):
        out = _out_ptr()
        _lib.check(fn(self._handle(), *args, ctypes.byref(out)))
        return json.loads(_lib.take_string(out))

    def branch(self, name, from_="main"):
        """Creates branch name at from_ (a spec or a Ref) and returns its Ref."""
        if isinstance(from_, Ref):
            from_ = from_.commit_id
        _lib.check(_lib.t9kfs_branch_create(self._handle(), _lib.enc(name), _lib.enc(from_)))
        return Ref(self, name)

    def delete_branch(self, name):
        _lib.check(_lib.t9kfs_branch_delete(self._handle(), _lib.enc(name)))

    def tag(self, name, target="main"):
        """Creates tag name at target (a spec or a Ref) and returns its Ref."""
        if isinstance(target, Ref):
            target = target.commit_id
        _lib.check(_lib.t9kfs_tag_create(self._handle(), _lib.enc(name), _lib.enc(target)))
        return Ref(self, name)

    def delete_tag(self, name):
        _lib.check(_lib.t9kfs_tag_delete(self._handle(), _lib.enc(name)))

    def _refs(self, prefix):
        refs = self._json(_lib.t9kfs_refs, _lib.enc(prefix))["refs"]
        return {r["name"][len(prefix):]: r["commit"] for r in refs}

    def branches(self):
        """{branch name: commit id}."""
        return self._refs("branch/")

    def tags(self):
        """{tag name: commit id}."""
        return self._refs("tag/")

    def log(self, spec="main", n=10):
        """History from spec, newest first: at most n commits (0: all), as
        dicts (id, root, parents, time_ns, author, message, meta)."""
        return self._json(_lib.t9kfs_log, _lib.enc(spec), n)["commits"]

    def show(self, spec="main"):
        """One commit of spec as a dict."""
        return self._json(_lib.t9kfs_show, _lib.enc(spec))

    def diff(self, a, b):
        """Changed paths from a to b (specs or Refs): dicts with path,
        change (added, removed, modified), old and new entries."""
        a = a.commit_id if isinstance(a, Ref) else a
        b = b.commit_id if isinstance(b, Ref) else b
        return self._json(_lib.t9kfs_diff, _lib.enc(a), _lib.enc(b))["changes"]

    # -- writing to a branch --

    def put(self, path, data=None, *, file=None, branch="main"):
        """Stores data (bytes-like, or a file object to read) or the local
        file at file (a path), and stages it at path of branch."""
        h = self._handle()
        path = _lib.enc(_norm(path))
        if file is not None:
            if data is not None:
                raise TypeError("put: give data or file, not both")
            _lib.check(_lib.t9kfs_put_file(h, _lib.enc(branch), path, _lib.enc(file)))
            return
        if isinstance(data, os.PathLike):
            _lib.check(_lib.t9kfs_put_file(h, _lib.enc(branch), path, _lib.enc(data)))
            return
        if isinstance(data, str):
            raise TypeError("put: data is bytes; encode text, or pass file=PATH for a local file")
        if hasattr(data, "read"):
            with tempfile.NamedTemporaryFile(prefix="t9kfs-put-") as tmp:
                shutil.copyfileobj(data, tmp, 4 << 20)
                tmp.flush()
                _lib.check(_lib.t9kfs_put_file(h, _lib.enc(branch), path, _lib.enc(tmp.name)))
            return
        if data is None:
            raise TypeError("put: nothing to put (data or file=)")
        if isinstance(data, bytes):
            _lib.check(_lib.t9kfs_put_bytes(h, _lib.enc(branch), path, data, len(data)))
            return
        # any other buffer without a copy; its export ends before a raise,
        # so the caller's buffer can be resized or closed whatever happens
        mv = memoryview(data).cast("B")
        try:
            buf = (ctypes.c_char * len(mv)).from_buffer(mv) if not mv.readonly else bytes(mv)
            rc = _lib.t9kfs_put_bytes(h, _lib.enc(branch), path, buf, len(mv))
            del buf
        finally:
            mv.release()
        _lib.check(rc)

    def remove(self, path, branch="main"):
        """Stages the removal of path (a file, or a directory and all below)."""
        _lib.check(_lib.t9kfs_remove(self._handle(), _lib.enc(branch), _lib.enc(_norm(path))))

    def reset(self, path="", branch="main"):
        """Drops what is staged at path and below ("": all); returns how many."""
        return _lib.check(_lib.t9kfs_reset(self._handle(), _lib.enc(branch),
                                           _lib.enc(_norm(path))))

    def staged(self, branch="main"):
        """The staged changes of branch: dicts with path and entry or removed."""
        return self._json(_lib.t9kfs_staged, _lib.enc(branch))["entries"]

    def commit(self, message, meta=None, *, branch="main", allow_empty=False):
        """Commits what is staged on branch with message and meta (a dict
        of str keys; values become text) and returns the new commit's id.
        NothingToCommit when nothing is staged, unless allow_empty."""
        meta = {str(k): meta_text(v) for k, v in (meta or {}).items()}
        n = len(meta)
        keys = (ctypes.c_char_p * max(n, 1))(*[k.encode() for k in meta])
        vals = (ctypes.c_char_p * max(n, 1))(*[v.encode() for v in meta.values()])
        cid = ctypes.create_string_buffer(65)
        _lib.check(_lib.t9kfs_commit(self._handle(), _lib.enc(branch), _lib.enc(message), keys,
                                     vals, n, _lib.ALLOW_EMPTY if allow_empty else 0, cid))
        return cid.value.decode()


def meta_text(v):
    """A value as the text of a commit's metadata: strings as they are,
    numbers as JSON writes them (as 't9kfs run' does: 15 significant
    digits, '.0' on a whole float), anything else as compact JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise InvalidArgument("metadata value %r is not a JSON number" % v)
        s = "%.15g" % v
        if "e" in s:
            mant, exp = s.split("e")
            s = "%se%s%s" % (mant, "-" if exp[0] == "-" else "", exp.lstrip("+-").lstrip("0") or "0")
        elif "." not in s:
            s += ".0"
        return s
    if hasattr(v, "item") and callable(v.item):  # numpy and torch scalars
        return meta_text(v.item())
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


class Ref(_Handle):
    """A commit of a repository to read (and, for a branch, to write to),
    pinned to the commit its spec named when it was made."""

    _free = staticmethod(_lib.t9kfs_ref_close)

    def __init__(self, repo, spec, _commit=None, _is_branch=None):
        super().__init__()
        self.repo = repo
        self.spec = spec
        self._commit = _commit
        self._is_branch = _is_branch
        self._retired = []
        self._set(self._reopen())

    def _reopen(self):
        out = _out_ptr()
        # pinned: once resolved, the same commit in every process
        spec = self._commit or self.spec
        _lib.check(_lib.t9kfs_ref_open(self.repo._handle(), _lib.enc(spec), ctypes.byref(out)))
        if self._commit is None:
            self._commit = _lib.t9kfs_ref_commit(out.value).decode()
            self._is_branch = bool(_lib.t9kfs_ref_is_branch(out.value))
        return out.value

    def __reduce__(self):
        return (Ref, (self.repo, self.spec, self._commit, self._is_branch))

    def __repr__(self):
        return "t9kfs.Ref('%s@%s', commit=%s)" % (self.repo.name, self.spec, self._commit[:12])

    def __str__(self):
        return "%s@%s" % (self.repo.name, self.spec)

    @property
    def commit_id(self):
        """The pinned commit (64 hex digits)."""
        return self._commit

    @property
    def is_branch(self):
        return self._is_branch

    @property
    def pinned(self):
        """'REPO@COMMIT': this ref's data, whatever its spec names later."""
        return "%s@%s" % (self.repo.name, self._commit)

    def refresh(self):
        """Resolves the spec again (a branch's new head); returns self."""
        with self._lock:
            if self._h is not None and self._gen == _lib.generation:
                # another thread may be in a call on it: freed at close
                self._retired.append(self._h)
            self._commit = None
            self._h = None
            self._set(self._reopen())
        return self

    def close(self):
        retired, self._retired = getattr(self, "_retired", []), []
        if self._gen == _lib.generation:
            for h in retired:
                _lib.t9kfs_ref_close(h)
        super().close()

    # -- reading --

    def stat(self, path=""):
        """One entry: dict with path, type (file, directory, symlink), mode
        (st_mode), size (a directory's: its entry count), mtime_ns and id."""
        mode, size, mtime = ctypes.c_uint32(), ctypes.c_uint64(), ctypes.c_int64()
        cid = ctypes.create_string_buffer(65)
        path = _norm(path)
        _lib.check(_lib.t9kfs_stat(self._handle(), _lib.enc(path), ctypes.byref(mode),
                                   ctypes.byref(size), ctypes.byref(mtime), cid))
        return {"path": path, "type": _type_of(mode.value), "mode": mode.value,
                "size": size.value, "mtime_ns": mtime.value, "id": cid.value.decode() or None}

    def exists(self, path):
        try:
            self.stat(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path):
        try:
            return self.stat(path)["type"] == "directory"
        except FileNotFoundError:
            return False

    def isfile(self, path):
        try:
            return self.stat(path)["type"] == "file"
        except FileNotFoundError:
            return False

    def scan(self, path="", recursive=False):
        """Entries under directory path, names in byte order (recursive:
        depth first), as (relative path, st_mode, size, mtime_ns) tuples;
        streamed, one tree node per level in memory."""
        d = _out_ptr()
        _lib.check(_lib.t9kfs_dir_open(self._handle(), _lib.enc(_norm(path)),
                                       _lib.RECURSIVE if recursive else 0, ctypes.byref(d)))
        p = ctypes.c_char_p()
        mode, size, mtime = ctypes.c_uint32(), ctypes.c_uint64(), ctypes.c_int64()
        try:
            while _lib.check(_lib.t9kfs_dir_next(d, ctypes.byref(p), ctypes.byref(mode),
                                                 ctypes.byref(size), ctypes.byref(mtime))):
                yield (p.value.decode("utf-8", "surrogateescape"), mode.value, size.value,
                       mtime.value)
        finally:
            _lib.t9kfs_dir_close(d)

    def ls(self, path="", detail=False):
        """Names in directory path; detail: dicts as stat() gives."""
        path = _norm(path)
        if not detail:
            return [name for name, _, _, _ in self.scan(path)]
        return [{"path": posixpath.join(path, name) if path else name, "name": name,
                 "type": _type_of(mode), "mode": mode, "size": size, "mtime_ns": mtime}
                for name, mode, size, mtime in self.scan(path)]

    def walk(self, path=""):
        """Like os.walk, top down: (dirpath, dirnames, filenames)."""
        path = _norm(path)
        dirs, files = [], []
        for name, mode, _, _ in self.scan(path):
            (dirs if _stat.S_ISDIR(mode) else files).append(name)
        yield path, dirs, files
        for d in dirs:
            yield from self.walk(posixpath.join(path, d) if path else d)

    def files(self, path=""):
        """Every regular file below path, as paths from the root, in
        depth-first byte order of names."""
        path = _norm(path)
        for name, mode, _, _ in self.scan(path, recursive=True):
            if _stat.S_ISREG(mode):
                yield posixpath.join(path, name) if path else name

    def open(self, path, mode="rb", encoding=None, errors=None, newline=None):
        """A file of this commit: "rb" a seekable binary file (File), "r"
        text over it; on a branch "wb" a new file that is stored and staged
        when it is closed (Writer)."""
        if mode in ("rb", "br"):
            return File(self, path)
        if mode in ("r", "rt"):
            return io.TextIOWrapper(io.BufferedReader(File(self, path), 1 << 20),
                                    encoding=encoding or "utf-8", errors=errors, newline=newline)
        if mode in ("wb", "w", "wt"):
            w = Writer(self.repo, self._branch_for_write(), path)
            if "b" in mode:
                return w
            return io.TextIOWrapper(w, encoding=encoding or "utf-8", errors=errors,
                                    newline=newline, write_through=True)
        raise InvalidArgument("open: mode %r (want rb, r, or on a branch wb, w)" % mode)

    def read_bytes(self, path, start=None, end=None):
        """The bytes of path (or of [start, end), Python slice style)."""
        with File(self, path) as f:
            size = f.size
            s = 0 if start is None else (start + size if start < 0 else start)
            e = size if end is None else (end + size if end < 0 else end)
            s, e = max(0, min(s, size)), max(0, min(e, size))
            return f.pread(max(0, e - s), s)

    def read_text(self, path, encoding="utf-8"):
        return self.read_bytes(path).decode(encoding)

    def readlink(self, path):
        out = _out_ptr()
        _lib.check(_lib.t9kfs_readlink(self._handle(), _lib.enc(_norm(path)), ctypes.byref(out)))
        return _lib.take_string(out)

    def show(self):
        """The pinned commit as a dict (id, parents, author, message, meta, ...)."""
        return self.repo.show(self._commit)

    def log(self, n=10):
        """History from the pinned commit, newest first (n: at most; 0: all)."""
        return self.repo.log(self._commit, n)

    def diff(self, other):
        """What changed from this commit to other (a Ref or a spec)."""
        return self.repo.diff(self._commit, other)

    def branch(self, name):
        """A new branch at this commit; its Ref."""
        return self.repo.branch(name, self._commit)

    def tag(self, name):
        """A new tag at this commit; its Ref."""
        return self.repo.tag(name, self._commit)

    # -- writing (branches only) --

    def _branch_for_write(self):
        if not self._is_branch:
            raise ReadOnly("%s@%s is a commit or a tag: write to a branch" %
                           (self.repo.name, self.spec))
        return self.spec

    def put(self, path, data=None, *, file=None):
        """Stores data (bytes, a file object) or a local file (file=PATH or
        a pathlib.Path as data) and stages it at path of this branch;
        commit() records it."""
        self.repo.put(path, data, file=file, branch=self._branch_for_write())

    def remove(self, path):
        self.repo.remove(path, branch=self._branch_for_write())

    def reset(self, path=""):
        return self.repo.reset(path, branch=self._branch_for_write())

    def staged(self):
        return self.repo.staged(branch=self._branch_for_write())

    def commit(self, message, meta=None, allow_empty=False):
        """Commits what is staged on this branch (meta: a dict) and moves
        this ref to the new commit; returns its id."""
        cid = self.repo.commit(message, meta, branch=self._branch_for_write(),
                               allow_empty=allow_empty)
        self.refresh()
        return cid


class File(io.RawIOBase):
    """A seekable binary file of a commit. Reads are verified chunk by
    chunk; sequential readers get the chunks ahead fetched in parallel.
    pread(n, off) reads without moving the position (thread-safe)."""

    def __init__(self, ref, path):
        super().__init__()
        self.ref = ref
        self.path = _norm(path)
        self.name = "%s@%s/%s" % (ref.repo.name, ref.spec, self.path)
        self.mode = "rb"
        self._pos = 0
        self._gen = -1
        self._h = None
        self._handle()
        self.size = _lib.t9kfs_file_size(self._h)

    def _handle(self):
        if self._h is not None and self._gen == _lib.generation:
            return self._h
        if self.closed:
            raise ValueError("I/O operation on closed file")
        out = _out_ptr()
        _lib.check(_lib.t9kfs_open(self.ref._handle(), _lib.enc(self.path), ctypes.byref(out)))
        self._h, self._gen = out.value, _lib.generation
        return self._h

    def __repr__(self):
        return "<t9kfs.File %s>" % self.name

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError("whence %r" % whence)
        if pos < 0:
            raise ValueError("negative seek position %d" % pos)
        self._pos = pos
        return pos

    def pread(self, n, offset):
        """n bytes at offset (fewer at the end of the file)."""
        if self.closed:
            raise ValueError("I/O operation on closed file")
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        return _lib.pread_bytes(self._handle(), n, offset)

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.size - self._pos
        b = self.pread(size, self._pos)
        self._pos += len(b)
        return b

    def readall(self):
        return self.read(-1)

    read1 = read

    def readinto(self, b):
        if self.closed:
            raise ValueError("I/O operation on closed file")
        mv = memoryview(b).cast("B")
        n = max(0, min(len(mv), self.size - self._pos))
        if n == 0:
            return 0
        got = _lib.check(_lib.t9kfs_pread(self._handle(), (ctypes.c_char * len(mv)).from_buffer(mv),
                                          n, self._pos))
        self._pos += got
        return got

    readinto1 = readinto

    def close(self):
        if not self.closed:
            h, self._h = self._h, None
            if h is not None and self._gen == _lib.generation:
                _lib.t9kfs_close(h)
        super().close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass


class Writer(io.RawIOBase):
    """A new file of a branch: written to a local spool, stored and staged
    at close (commit() of the ref or repo records it). discard() drops it
    unstored; a writer whose with block raises is discarded too."""

    def __init__(self, repo, branch, path, on_close=None):
        super().__init__()
        self.repo = repo
        self.branch = branch
        self.path = _norm(path)
        self.name = "%s@%s/%s" % (repo.name, branch, self.path)
        self.mode = "wb"
        self._on_close = on_close  # replaces the put (fsspec transactions)
        self._spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, prefix="t9kfs-")
        if not self.path:
            raise InvalidArgument("no path to write")

    def writable(self):
        return True

    def write(self, b):
        return self._spool.write(b)

    def tell(self):
        return self._spool.tell()

    def discard(self):
        if not self.closed:
            self._spool.close()
            super().close()

    def _store(self):
        sp = self._spool
        if not sp._rolled:
            with sp._file.getbuffer() as mv:
                self.repo.put(self.path, mv, branch=self.branch)
        else:
            sp.flush()
            self.repo.put(self.path, file="/proc/self/fd/%d" % sp.fileno(), branch=self.branch)

    def close(self):
        if self.closed:
            return
        keep = False
        try:
            if self._on_close:
                keep = self._on_close(self)  # True: it stores the spool later
            else:
                self._store()
        finally:
            if not keep:
                self._spool.close()
            super().close()

    def store_held(self):
        """Stores and stages a spool a transaction held back at close."""
        try:
            self._store()
        finally:
            self._spool.close()

    def drop_held(self):
        self._spool.close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        else:
            self.close()
        return False
