"""t9kfs: versioned datasets from Python, at the speed of the C core.

    import t9kfs
    ref = t9kfs.Client().repo("imagenet").ref("v1")   # pinned to v1's commit
    ref.ls("train")[:3]
    data = ref.read_bytes("train/cat.jpg")

    import pandas as pd                               # fsspec: t9kfs://REPO@REF/PATH
    df = pd.read_csv("t9kfs://imagenet@v1/labels.csv")

    with t9kfs.run("models@exp-a", params={"lr": 0.1}) as run:   # a run is a commit
        run.log_metric("loss", 0.42, step=1)

The package is a thin layer over libt9kfs.so (sdk/t9kfs.h): reads are
the mount's verified, prefetching reads, without FUSE. See sdk/README.md.
"""

from . import _lib
from .client import Client, File, Ref, Repo, Writer, client, meta_text, set_client, split_spec
from .errors import (Conflict, ConnectionFailed, Corrupt, Error, Exists, InvalidArgument,
                     IsADirectory, NotADirectory, NotFound, NothingToCommit, PermissionDenied,
                     ReadOnly)
from .tracking import Run, compare, run

__version__ = _lib.version

__all__ = [
    "Client", "Repo", "Ref", "File", "Writer", "client", "set_client", "ref", "open",
    "run", "Run", "compare", "meta_text", "split_spec",
    "Error", "NotFound", "Exists", "Conflict", "NothingToCommit", "PermissionDenied",
    "InvalidArgument", "IsADirectory", "NotADirectory", "ConnectionFailed", "Corrupt", "ReadOnly",
]


def ref(spec):
    """The Ref of 'REPO@REF' (or a Ref, returned as is) through the default client."""
    if isinstance(spec, Ref):
        return spec
    return client().ref(spec)


def open(url, mode="rb", **kwargs):  # noqa: A001 - the module's own open
    """Opens 'REPO@REF/PATH' (or t9kfs://REPO@REF/PATH) through the default client."""
    if url.startswith("t9kfs://"):
        url = url[len("t9kfs://"):]
    spec, _, path = url.partition("/")
    return ref(spec).open(path, mode, **kwargs)


def _register_fsspec():
    try:
        import fsspec
    except ImportError:
        return
    fsspec.register_implementation("t9kfs", "t9kfs.spec.T9kfsFileSystem", clobber=True)


_register_fsspec()
