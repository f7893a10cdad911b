"""An fsspec filesystem for t9kfs://REPO@REF/PATH, so pandas, datasets,
dask and every other fsspec user read t9kfs directly:

    import pandas as pd, fsspec, t9kfs
    df = pd.read_csv("t9kfs://imagenet@v1/labels.csv")
    fs = fsspec.filesystem("t9kfs")
    fs.ls("imagenet@v1/train")

Commits and tags are read-only. A branch takes writes: a file written (or
put, piped, removed) is stored and staged when it is closed, and
fs.commit("REPO@BRANCH", message) records what is staged. In a
transaction nothing is staged until its end, and then all of it is
committed at once; a block that raises stages nothing:

    with fs.transaction("imagenet@main", message="relabel"):
        with fs.open("imagenet@main/labels.csv", "w") as f:
            f.write(text)

Refs are resolved once and cached: a commit or tag for the life of the
filesystem, a branch for branch_ttl seconds (default 2, as a read-only
branch mount polls), and again after a commit through this filesystem.
"""

import datetime
import posixpath
import threading
import time

from fsspec.spec import AbstractFileSystem
from fsspec.transaction import Transaction

from .client import Client, Writer, _norm, client as _default_client, split_spec
from .errors import ReadOnly


class T9kfsTransaction(Transaction):
    """Writes held until the end of a with block, then staged and
    committed together; dropped, nothing staged, when the block raises.
    fs.transaction("REPO@BRANCH", message=, meta=) configures it; plain
    `with fs.transaction:` commits each branch written with a default
    message."""

    def __init__(self, fs):
        super().__init__(fs)
        self.target = None
        self.message = None
        self.meta = None
        self.removals = []
        self.commits = {}

    def __call__(self, target=None, message=None, meta=None):
        self.target = target
        self.message = message
        self.meta = meta
        return self

    def __enter__(self):
        self.start()
        return self

    def start(self):
        self.files = []
        self.removals = []
        self.commits = {}
        self.fs._intrans = True

    def complete(self, commit=True):
        files, removals = self.files, self.removals
        self.files, self.removals = [], []
        self.fs._intrans = False
        for f in files:  # still open: held as they are
            if not f.closed:
                f.close()
        if not commit:
            for f in files:
                f.drop_held()
            return
        staged = []  # (repo, branch, path): undone if anything fails
        try:
            targets = {}
            for f in files:
                f.store_held()
                staged.append((f.repo, f.branch, f.path))
                targets[(f.repo.name, f.branch)] = f.repo
            for repo, branch, path in removals:
                repo.remove(path, branch=branch)
                staged.append((repo, branch, path))
                targets[(repo.name, branch)] = repo
            if self.target:
                name, branch = split_spec(self.target)
                if (name, branch) not in targets:
                    targets[(name, branch)] = self.fs._repo(name)
            for (name, branch), repo in targets.items():
                msg = self.message or "fsspec transaction: %d paths" % len(
                    [s for s in staged if s[0].name == name and s[1] == branch])
                self.commits["%s@%s" % (name, branch)] = repo.commit(
                    msg, self.meta, branch=branch, allow_empty=bool(self.target))
                self.fs._forget("%s@%s" % (name, branch))
                staged = [s for s in staged if (s[0].name, s[1]) != (name, branch)]
        except BaseException:
            for f in files:
                if not f._spool.closed:
                    f.drop_held()
            for repo, branch, path in staged:
                try:
                    repo.reset(path, branch=branch)
                except Exception:  # pragma: no cover - best effort
                    pass
            raise


class T9kfsFileSystem(AbstractFileSystem):
    """t9kfs://REPO@REF/PATH. client: a t9kfs.Client (None: the default
    one, or one made from server, token and options when given)."""

    protocol = "t9kfs"
    root_marker = ""

    def __init__(self, client=None, server=None, token=None, branch_ttl=2.0, **options):
        super().__init__(client=client, server=server, token=token, branch_ttl=branch_ttl,
                         **options)
        if client is None and (server or token or options):
            client = Client(server, token, **options)
        self._client = client
        self.branch_ttl = branch_ttl
        self._refs = {}
        self._repos = {}
        self._lock = threading.Lock()

    @property
    def client(self):
        return self._client or _default_client()

    @property
    def transaction(self):
        if self._transaction is None:
            self._transaction = T9kfsTransaction(self)
        return self._transaction

    def start_transaction(self):
        self._transaction = T9kfsTransaction(self)
        self._transaction.start()
        return self._transaction

    # -- paths and refs --

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = super()._strip_protocol(path)
        return path.lstrip("/")

    @staticmethod
    def _split(path):
        spec, _, p = path.partition("/")
        repo, ref = split_spec(spec)
        return repo, ref, _norm(p)

    def _repo(self, name):
        with self._lock:
            r = self._repos.get(name)
        if r is None:
            r = self.client.repo(name)
            with self._lock:
                r = self._repos.setdefault(name, r)
        return r

    def _ref(self, repo, ref):
        key = "%s@%s" % (repo, ref)
        now = time.monotonic()
        with self._lock:
            hit = self._refs.get(key)
        if hit and (not hit[0].is_branch or now - hit[1] < self.branch_ttl):
            return hit[0]
        r = self._repo(repo).ref(ref)
        with self._lock:
            self._refs[key] = (r, now)
        return r

    def _forget(self, key):
        with self._lock:
            self._refs.pop(key, None)

    def invalidate_cache(self, path=None):
        with self._lock:
            self._refs.clear()
        super().invalidate_cache(path)

    def _resolve(self, path):
        repo, ref, p = self._split(self._strip_protocol(path))
        return self._ref(repo, ref), p

    # -- reading --

    def _info(self, ref, p, name, st):
        typ = {"file": "file", "directory": "directory", "symlink": "link"}.get(st["type"],
                                                                                "other")
        out = {"name": name, "size": st["size"] if typ != "directory" else 0, "type": typ,
               "mode": st["mode"], "mtime": st["mtime_ns"] / 1e9}
        if st.get("id"):
            out["id"] = st["id"]
        if typ == "link":
            out["destination"] = ref.readlink(p)
        return out

    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        ref, p = self._resolve(path)
        return self._info(ref, p, path, ref.stat(p))

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        ref, p = self._resolve(path)
        st = ref.stat(p)
        if st["type"] != "directory":
            out = [self._info(ref, p, path, st)]
        else:
            spec = path.partition("/")[0]
            out = []
            for e in ref.ls(p, detail=True):
                e["mtime_ns"] = e["mtime_ns"]
                out.append(self._info(ref, e["path"], "%s/%s" % (spec, e["path"]), e))
        return out if detail else [o["name"] for o in out]

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        path = self._strip_protocol(path)
        ref, p = self._resolve(path)
        spec = path.partition("/")[0]
        out = {}
        st = ref.stat(p)
        if st["type"] != "directory":
            out[path] = self._info(ref, p, path, st)
        else:
            if withdirs and p:
                out[path] = self._info(ref, p, path, st)
            for rel, mode, size, mtime in ref.scan(p, recursive=True):
                if maxdepth is not None and rel.count("/") >= maxdepth:
                    continue
                full = posixpath.join(p, rel) if p else rel
                e = {"type": {0o040000: "directory", 0o120000: "symlink"}.get(
                    mode & 0o170000, "file"), "size": size, "mode": mode, "mtime_ns": mtime}
                if e["type"] == "directory" and not withdirs:
                    continue
                name = "%s/%s" % (spec, full)
                out[name] = {"name": name, "size": size if e["type"] != "directory" else 0,
                             "type": {"symlink": "link"}.get(e["type"], e["type"]),
                             "mode": mode, "mtime": mtime / 1e9}
        return out if detail else sorted(out)

    def cat_file(self, path, start=None, end=None, **kwargs):
        ref, p = self._resolve(path)
        return ref.read_bytes(p, start, end)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        ref, p = self._resolve(path)
        if mode == "rb":
            return ref.open(p, "rb")
        if mode != "wb":
            raise ValueError("t9kfs: mode %r (want rb or wb)" % mode)
        branch = self._branch(ref)
        hold = None if autocommit else (lambda w: True)
        return Writer(self._repo(ref.repo.name), branch, p, on_close=hold)

    def modified(self, path):
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], datetime.timezone.utc)

    def ukey(self, path):
        info = self.info(path)
        return info.get("id") or "%s-%s" % (info["size"], info["mtime"])

    def checksum(self, path):
        return int(self.ukey(path)[:16], 16) if self.info(path).get("id") else super().checksum(
            path)

    # -- writing to branches --

    @staticmethod
    def _branch(ref):
        if not ref.is_branch:
            raise ReadOnly("t9kfs: %s@%s is a commit or a tag: write to a branch"
                           % (ref.repo.name, ref.spec))
        return ref.spec

    def pipe_file(self, path, value, **kwargs):
        with self.open(path, "wb") as f:
            f.write(value)

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        rpath = self._strip_protocol(rpath)
        ref, p = self._resolve(rpath)
        branch = self._branch(ref)
        if self._intrans:
            w = Writer(self._repo(ref.repo.name), branch, p, on_close=lambda w: True)
            with open(lpath, "rb") as src:
                while True:
                    b = src.read(4 << 20)
                    if not b:
                        break
                    w.write(b)
            w.close()
            self.transaction.files.append(w)
        else:
            self._repo(ref.repo.name).put(p, file=lpath, branch=branch)

    def rm_file(self, path):
        self.rm(path)

    def _rm(self, path):
        self.rm(path)

    def rm(self, path, recursive=False, maxdepth=None):
        paths = path if isinstance(path, list) else [path]
        for one in paths:
            one = self._strip_protocol(one)
            ref, p = self._resolve(one)
            branch = self._branch(ref)
            if ref.stat(p)["type"] == "directory" and not recursive:
                raise IsADirectoryError("t9kfs: %s is a directory (recursive=True)" % one)
            repo = self._repo(ref.repo.name)
            if self._intrans:
                self.transaction.removals.append((repo, branch, p))
            else:
                repo.remove(p, branch=branch)

    def mkdir(self, path, create_parents=True, **kwargs):
        pass  # directories exist by the files in them

    def makedirs(self, path, exist_ok=False):
        pass

    def commit(self, target, message, meta=None, allow_empty=False):
        """Commits what is staged on branch target ('REPO@BRANCH' or a path
        in it); returns the commit id."""
        target = self._strip_protocol(target)
        repo, branch, _ = self._split(target)
        cid = self._repo(repo).commit(message, meta, branch=branch, allow_empty=allow_empty)
        self._forget("%s@%s" % (repo, branch))
        return cid
