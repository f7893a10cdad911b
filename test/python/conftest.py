"""The SDK's pytest suite against a real metadata service: the embedded
server the library itself starts under a private T9KFS_HOME (the t9kfs
binary: $T9KFS_BIN, default ./t9kfs of the source tree), on its file://
store, or with every repository on the store that T9KFS_TEST_STORE names
(a URL with {name} where the repository's name goes, e.g. an s3:// bucket
of the RGW test/integration/t0901-sdk-s3.sh starts).

The package is imported from the source tree (sdk/python) and loads
build/libt9kfs.so.0 ('make' builds it).
"""

import itertools
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "sdk", "python"))
os.environ.setdefault("T9KFS_BIN", os.path.join(TOP, "t9kfs"))
os.environ.setdefault("T9KFS_AUTHOR", "pytest")
for var in ("T9KFS_SERVER", "T9KFS_TOKEN", "T9KFS_CACHE", "T9KFS_CACHE_GROUP", "T9KFS_STORE"):
    os.environ.pop(var, None)

import t9kfs  # noqa: E402


def pytest_report_header(config):
    return "t9kfs %s: library %s, server binary %s, store %s" % (
        t9kfs.__version__, t9kfs._lib.path, os.environ["T9KFS_BIN"],
        os.environ.get("T9KFS_TEST_STORE", "file:// under T9KFS_HOME"))


@pytest.fixture(scope="session")
def home():
    """A private T9KFS_HOME for the session, its server stopped at the end."""
    d = os.environ.get("T9KFS_TEST_HOME") or tempfile.mkdtemp(prefix="t9kfs-pytest.")
    os.environ["T9KFS_HOME"] = d
    yield d
    subprocess.run([os.environ["T9KFS_BIN"], "--home", d, "server", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if not os.environ.get("T9KFS_TEST_HOME"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def client(home):
    """The default client: the embedded server of home, started by the library."""
    c = t9kfs.Client()
    t9kfs.set_client(c)
    yield c
    t9kfs.set_client(None)
    c.close()


_names = itertools.count()


def store_for(name):
    fmt = os.environ.get("T9KFS_TEST_STORE")
    return fmt.format(name=name) if fmt else None


@pytest.fixture
def new_repo(client):
    """make(name=None) -> a new repository (a unique name per call)."""
    made = []

    def make(name=None):
        name = name or "r%d-%d" % (os.getpid(), next(_names))
        r = client.create_repo(name, store=store_for(name))
        made.append(name)
        return r

    yield make
    for name in made:
        try:
            client.delete_repo(name)
        except t9kfs.NotFound:
            pass


@pytest.fixture
def repo(new_repo):
    return new_repo()


def cli(*args, check=True, **kw):
    """Runs the t9kfs command (same home and server) and returns its stdout."""
    p = subprocess.run([os.environ["T9KFS_BIN"], *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("t9kfs %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout
