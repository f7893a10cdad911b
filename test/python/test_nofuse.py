"""The SDK where FUSE is absent: a child process in its own mount
namespace with /dev/fuse hidden (/dev/null bound over it) reads, lists,
writes and commits through the package, and never loads libfuse."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CHILD = textwrap.dedent("""
    import os, stat, sys
    st = os.stat("/dev/fuse")
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3), "/dev/fuse is not hidden"
    try:
        os.open("/dev/fuse", os.O_RDWR)  # /dev/null: opens, but is no FUSE device
    except OSError:
        pass
    sys.path.insert(0, sys.argv[1])
    import t9kfs
    repo = t9kfs.client().repo(sys.argv[2])
    ref = repo.ref("main")
    assert ref.read_bytes("hello.txt") == b"no fuse needed\\n"
    assert ref.ls() == ["hello.txt"]
    repo.put("written.txt", b"also without fuse")
    repo.commit("from a namespace without /dev/fuse")
    assert repo.ref("main").read_bytes("written.txt") == b"also without fuse"
    maps = open("/proc/self/maps").read()
    assert "libfuse" not in maps, "libfuse was loaded"
    print("nofuse ok")
""")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare(1) to hide /dev/fuse in a mount namespace")
@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="no /dev/fuse to hide")
def test_reads_and_writes_with_dev_fuse_hidden(repo, home):
    repo.put("hello.txt", b"no fuse needed\n")
    repo.commit("hello")
    script = "mount --bind /dev/null /dev/fuse && exec %s -c %s %s %s" % (
        sys.executable, _q(CHILD), _q(os.path.join(TOP, "sdk", "python")), _q(repo.name))
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0 and "nofuse ok" in p.stdout, p.stderr
    assert repo.ref("main").read_bytes("written.txt") == b"also without fuse"


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"
