"""The C library under the package: libt9kfs.so.0 through ctypes.

Finding it, in order: $T9KFS_LIB (a path), a copy beside this package,
build/libt9kfs.so.0 of the source tree this package sits in
(sdk/python/t9kfs -> build/), then the system's loader (ldconfig,
LD_LIBRARY_PATH). ctypes releases the GIL around every call, so reads in
threads run in parallel.

Fork safety: the library runs threads (prefetch, the service's
connections). A child of fork() must not touch its parent's handles: each
handle remembers the process generation it was made in, and the wrappers
(client.py) open new ones in a child, leaking the parent's there rather
than freeing what belongs to threads that do not exist in the child.
"""

import ctypes
import ctypes.util
import os
import sys

from .errors import raise_for

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = [
    os.environ.get("T9KFS_LIB", ""),
    os.path.join(_HERE, "libt9kfs.so.0"),
    os.path.normpath(os.path.join(_HERE, "..", "..", "..", "build", "libt9kfs.so.0")),
]

API_VERSION = 1
RECURSIVE = 1
ALLOW_EMPTY = 1


def _load():
    tried = []
    for path in _CANDIDATES:
        if path and os.path.exists(path):
            return ctypes.CDLL(path), path
        if path:
            tried.append(path)
    name = ctypes.util.find_library("t9kfs") or "libt9kfs.so.0"
    try:
        return ctypes.CDLL(name), name
    except OSError as e:
        raise ImportError(
            "t9kfs: cannot load libt9kfs.so.0 (run 'make' in the t9kfs source tree, or set "
            "T9KFS_LIB); tried %s and the system loader: %s" % (", ".join(tried), e)
        ) from e


lib, path = _load()

c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_uint32 = ctypes.c_uint32
c_uint64 = ctypes.c_uint64
c_int64 = ctypes.c_int64
P = ctypes.POINTER


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = argtypes
    return f


t9kfs_version = _fn("t9kfs_version", c_char_p)
t9kfs_api_version = _fn("t9kfs_api_version", c_int)
t9kfs_errmsg = _fn("t9kfs_errmsg", c_char_p)
t9kfs_free = _fn("t9kfs_free", None, c_void_p)
t9kfs_connect = _fn("t9kfs_connect", c_int, c_char_p, c_char_p, c_char_p, P(c_void_p))
t9kfs_client_free = _fn("t9kfs_client_free", None, c_void_p)
t9kfs_client_server = _fn("t9kfs_client_server", c_char_p, c_void_p)
t9kfs_repo_create = _fn("t9kfs_repo_create", c_int, c_void_p, c_char_p, c_char_p, P(c_void_p))
t9kfs_repo_delete = _fn("t9kfs_repo_delete", c_int, c_void_p, c_char_p)
t9kfs_repo_list = _fn("t9kfs_repo_list", c_int, c_void_p, P(c_void_p))
t9kfs_repo_open = _fn("t9kfs_repo_open", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_repo_close = _fn("t9kfs_repo_close", None, c_void_p)
t9kfs_resolve = _fn("t9kfs_resolve", c_int, c_void_p, c_char_p, c_char_p, P(c_int))
t9kfs_ref_open = _fn("t9kfs_ref_open", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_ref_close = _fn("t9kfs_ref_close", None, c_void_p)
t9kfs_ref_commit = _fn("t9kfs_ref_commit", c_char_p, c_void_p)
t9kfs_ref_is_branch = _fn("t9kfs_ref_is_branch", c_int, c_void_p)
t9kfs_stat = _fn("t9kfs_stat", c_int, c_void_p, c_char_p, P(c_uint32), P(c_uint64),
                 P(c_int64), c_char_p)
t9kfs_readlink = _fn("t9kfs_readlink", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_dir_open = _fn("t9kfs_dir_open", c_int, c_void_p, c_char_p, c_int, P(c_void_p))
t9kfs_dir_next = _fn("t9kfs_dir_next", c_int, c_void_p, P(c_char_p), P(c_uint32), P(c_uint64),
                     P(c_int64))
t9kfs_dir_close = _fn("t9kfs_dir_close", None, c_void_p)
t9kfs_open = _fn("t9kfs_open", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_file_size = _fn("t9kfs_file_size", c_uint64, c_void_p)
t9kfs_pread = _fn("t9kfs_pread", c_int64, c_void_p, c_void_p, c_size_t, c_uint64)
t9kfs_close = _fn("t9kfs_close", None, c_void_p)
t9kfs_put_file = _fn("t9kfs_put_file", c_int, c_void_p, c_char_p, c_char_p, c_char_p)
t9kfs_put_bytes = _fn("t9kfs_put_bytes", c_int, c_void_p, c_char_p, c_char_p, c_void_p, c_size_t)
t9kfs_remove = _fn("t9kfs_remove", c_int, c_void_p, c_char_p, c_char_p)
t9kfs_reset = _fn("t9kfs_reset", c_int, c_void_p, c_char_p, c_char_p)
t9kfs_staged = _fn("t9kfs_staged", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_commit = _fn("t9kfs_commit", c_int, c_void_p, c_char_p, c_char_p, P(c_char_p),
                   P(c_char_p), c_size_t, c_int, c_char_p)
t9kfs_log = _fn("t9kfs_log", c_int, c_void_p, c_char_p, c_size_t, P(c_void_p))
t9kfs_show = _fn("t9kfs_show", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_diff = _fn("t9kfs_diff", c_int, c_void_p, c_char_p, c_char_p, P(c_void_p))
t9kfs_refs = _fn("t9kfs_refs", c_int, c_void_p, c_char_p, P(c_void_p))
t9kfs_branch_create = _fn("t9kfs_branch_create", c_int, c_void_p, c_char_p, c_char_p)
t9kfs_branch_delete = _fn("t9kfs_branch_delete", c_int, c_void_p, c_char_p)
t9kfs_tag_create = _fn("t9kfs_tag_create", c_int, c_void_p, c_char_p, c_char_p)
t9kfs_tag_delete = _fn("t9kfs_tag_delete", c_int, c_void_p, c_char_p)

if t9kfs_api_version() < API_VERSION:
    raise ImportError("t9kfs: %s implements API %d, this package needs %d"
                      % (path, t9kfs_api_version(), API_VERSION))

version = t9kfs_version().decode()

# The process generation: bumped in a child of fork(), so handles made
# before it are known stale there.
generation = 0


def _after_fork_in_child():
    global generation
    generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def enc(s):
    """A str (or bytes, or os.PathLike) as the bytes the C API takes."""
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return os.fsencode(s)


def check(rc):
    """rc of a C call: returned when >= 0, else the exception it means,
    with the message the library left for this thread."""
    if rc < 0:
        raise_for(rc, t9kfs_errmsg().decode("utf-8", "replace"))
    return rc


def take_string(p):
    """A char * the library returned through char **, as str; freed."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        t9kfs_free(p.value)


# Reading into a new bytes object without a second copy: CPython's
# PyBytes_FromStringAndSize(NULL, n) makes one whose bytes may be written
# until anyone else sees it. Elsewhere (PyPy) a bytearray is copied.
if sys.implementation.name == "cpython":
    _new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
    _new_bytes.restype = ctypes.py_object
    _new_bytes.argtypes = (c_void_p, ctypes.c_ssize_t)
    _BYTES_DATA = sys.getsizeof(b"") - 1  # offsetof(PyBytesObject, ob_sval)

    def pread_bytes(fh, n, off):
        b = _new_bytes(None, n)
        got = check(t9kfs_pread(fh, id(b) + _BYTES_DATA, n, off))
        return b if got == n else b[:got]
else:  # pragma: no cover
    def pread_bytes(fh, n, off):
        buf = bytearray(n)
        got = check(t9kfs_pread(fh, (ctypes.c_char * n).from_buffer(buf), n, off))
        return bytes(buf[:got])
