"""Exceptions of the t9kfs package: one class per kind of failure of the
C library, each carrying its message ("branch 'x' not found in
repository 'y'") and code (a negative errno, or one of T9KFS_E*).

They derive from the built-in exception a Python program already catches
for the same failure: NotFound is a FileNotFoundError, Exists a
FileExistsError, InvalidArgument a ValueError, and so on.
"""

import errno

ECORRUPT = -30701
EBADURL = -30702
EUSAGE = -30703
ECONFLICT = -30704
ENOTFOUND = -30705


class Error(Exception):
    """A failed call of the t9kfs library: .code and .message."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


class NotFound(Error, FileNotFoundError):
    """A repository, ref, path or commit that is not there."""


class Exists(Error, FileExistsError):
    """A repository, branch or tag that exists already."""


class Conflict(Error):
    """A ref moved meanwhile, or a merge conflict."""


class NothingToCommit(Error):
    """A commit with nothing staged (use allow_empty=True)."""


class PermissionDenied(Error, PermissionError):
    """The service refused the token."""


class InvalidArgument(Error, ValueError):
    """A bad name, path, option or argument."""


class IsADirectory(Error, IsADirectoryError):
    """A directory where a file was wanted."""


class NotADirectory(Error, NotADirectoryError):
    """A file where a directory was wanted."""


class ConnectionFailed(Error, ConnectionError):
    """The metadata service or the store cannot be reached."""


class Corrupt(Error):
    """An object whose bytes do not match its id or its format."""


class ReadOnly(Error, PermissionError):
    """A write through a commit or a tag: only branches take writes."""


_BY_CODE = {
    ENOTFOUND: NotFound,
    -errno.ENOENT: NotFound,
    -errno.EEXIST: Exists,
    ECONFLICT: Conflict,
    -errno.ENODATA: NothingToCommit,
    -errno.EACCES: PermissionDenied,
    -errno.EPERM: PermissionDenied,
    -errno.EINVAL: InvalidArgument,
    -errno.ENAMETOOLONG: InvalidArgument,
    EUSAGE: InvalidArgument,
    EBADURL: InvalidArgument,
    -errno.EISDIR: IsADirectory,
    -errno.ENOTDIR: NotADirectory,
    -errno.ECONNREFUSED: ConnectionFailed,
    -errno.ECONNRESET: ConnectionFailed,
    -errno.EHOSTUNREACH: ConnectionFailed,
    -errno.ETIMEDOUT: ConnectionFailed,
    ECORRUPT: Corrupt,
}


def raise_for(code, message):
    """Raises the exception of a negative code with message."""
    if code == -errno.ENOMEM:
        raise MemoryError(message)
    raise _BY_CODE.get(code, Error)(message or "error %d" % code, code)
