"""Reads through the node's cache daemon (Client(cache=...), as 't9kfs
mount --cache'): the daemon serves and keeps the chunks, the bytes are
the same, and a daemon that dies later does not fail a read (the store
is read instead). A daemon that is not there at the first read is an
error that names it."""

import os
import subprocess
import time

import pytest

import t9kfs
from conftest import cli


@pytest.fixture
def daemon(home, tmp_path):
    d = tmp_path / "cache"
    sock = "unix:%s/cache.sock" % d
    p = subprocess.Popen([os.environ["T9KFS_BIN"], "cache", "serve", "--dir", str(d),
                          "--capacity", "256M"], stdout=subprocess.DEVNULL,
                         stderr=open(tmp_path / "cache.log", "wb"))
    for _ in range(100):
        if cli("cache", "stats", "--cache", sock, check=False):
            break
        time.sleep(0.1)
    else:
        p.kill()
        pytest.fail("cache daemon did not start: %s" % (tmp_path / "cache.log").read_text())
    yield sock, d, p
    p.terminate()
    p.wait(10)


def test_reads_through_the_cache_daemon(repo, client, daemon, home):
    sock, d, proc = daemon
    data = os.urandom(6 << 20)
    repo.put("big.bin", data)
    repo.put("small.bin", os.urandom(200_000))
    repo.commit("data")
    tok = open(os.path.join(home, "token")).read().strip()
    # a chunk cache smaller than the file: every read of it asks the daemon
    c = t9kfs.Client(client.server, tok, cache=sock, cache_size="2M")
    ref = c.repo(repo.name).ref()
    assert ref.read_bytes("big.bin") == data
    assert ref.read_bytes("small.bin") == repo.ref().read_bytes("small.bin")
    # the daemon kept them: chunk files under its directory
    kept = sum(len(f) for _, _, f in os.walk(d))
    assert kept >= 3, sorted(os.walk(d))
    # a daemon that dies: reads of a repo already open go on from the store
    proc.terminate()
    proc.wait(10)
    assert ref.read_bytes("big.bin") == data
    # one that is not there at a repo's first read is said at once
    other = t9kfs.Client(client.server, tok, cache=sock).repo(repo.name).ref()
    with pytest.raises(t9kfs.ConnectionFailed, match="cache unix:.*cache.sock"):
        other.read_bytes("big.bin")


def test_cache_options(client, home):
    tok = open(os.path.join(home, "token")).read().strip()
    with pytest.raises(t9kfs.InvalidArgument, match="exclude"):
        t9kfs.Client(client.server, tok, cache="unix:/x", cache_group="127.0.0.1:1")
