"""Client, Repo, Ref and File against a real server: every call, its
errors as the right exceptions, and reads that match what was put."""

import io
import os
import pathlib
import pickle
import random
import threading

import pytest

import t9kfs
from conftest import cli


def test_connect_and_errors(client, home, tmp_path):
    assert client.server == "unix:%s/meta.sock" % home
    # the same server by address and token
    tok = open(os.path.join(home, "token")).read().strip()
    with t9kfs.Client(client.server, tok, cache_size="16M", timeout=30) as c:
        assert any(r["name"] for r in c.repos()) or c.repos() == []
    with pytest.raises(t9kfs.PermissionDenied, match="token"):
        t9kfs.Client(client.server, "wrong").repos()
    with pytest.raises(t9kfs.ConnectionFailed, match="127.0.0.1:9"):
        t9kfs.Client("http://127.0.0.1:9", "x", timeout=2)
    with pytest.raises(t9kfs.InvalidArgument, match="prefetch"):
        t9kfs.Client(client.server, tok, prefetch="lots")
    # no server, and no binary to start one: says what to do
    env_bin = os.environ.pop("T9KFS_BIN")
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = "/nonexistent"
    try:
        lib_dir_bin = os.path.join(os.path.dirname(os.path.dirname(t9kfs._lib.path)), "t9kfs")
        if not os.path.exists(lib_dir_bin):
            with pytest.raises(t9kfs.ConnectionFailed, match="T9KFS_BIN"):
                t9kfs.Client(home=str(tmp_path / "nohome"))
    finally:
        os.environ["T9KFS_BIN"] = env_bin
        os.environ["PATH"] = path
    assert isinstance(t9kfs.NotFound("x"), FileNotFoundError)


def test_repos(client, new_repo):
    r = new_repo()
    names = [x["name"] for x in client.repos()]
    assert r.name in names
    with pytest.raises(t9kfs.Exists):
        client.create_repo(r.name)
    with pytest.raises(t9kfs.NotFound, match="nope-repo"):
        client.repo("nope-repo")
    with pytest.raises(t9kfs.InvalidArgument):
        client.repo("../x")
    client.delete_repo(r.name)
    with pytest.raises(t9kfs.NotFound):
        client.repo(r.name)


def test_put_commit_read(repo, tmp_path):
    rnd = random.Random(1)
    big = rnd.randbytes(9 << 20)
    local = tmp_path / "local.bin"
    local.write_bytes(b"from a local file\n")
    os.chmod(local, 0o600)
    repo.put("a/small.txt", b"hello\n")
    repo.put("a/big.bin", big)
    repo.put("a/view.bin", memoryview(bytearray(b"0123456789"))[2:5])
    repo.put("local.txt", file=str(local))
    repo.put("path.txt", pathlib.Path(local))
    repo.put("stream.bin", io.BytesIO(b"streamed" * 1000))
    with pytest.raises(TypeError):
        repo.put("x.txt", "text is not bytes")
    with pytest.raises(t9kfs.NotFound):
        repo.put("x", b"1", branch="nobranch")
    with pytest.raises(t9kfs.InvalidArgument):
        repo.put("a/../b", b"1")
    staged = [e["path"] for e in repo.staged()]
    assert staged == sorted(staged) and "a/big.bin" in staged
    cid = repo.commit("v1", {"lr": 0.1, "epochs": 3, "note": "first", "ok": True})
    assert len(cid) == 64 and repo.resolve("main") == cid
    with pytest.raises(t9kfs.NothingToCommit):
        repo.commit("again")
    empty = repo.commit("empty", allow_empty=True)
    assert repo.log("main", 2)[0]["id"] == empty

    ref = repo.ref(cid[:12])
    assert ref.commit_id == cid and not ref.is_branch
    assert ref.show()["meta"] == {"lr": "0.1", "epochs": "3", "note": "first", "ok": "true"}
    assert ref.read_bytes("a/small.txt") == b"hello\n"
    assert ref.read_bytes("a/big.bin") == big
    assert ref.read_bytes("a/big.bin", 5 << 20, (5 << 20) + 10) == big[5 << 20:(5 << 20) + 10]
    assert ref.read_bytes("a/big.bin", -7) == big[-7:]
    assert ref.read_bytes("a/view.bin") == b"234"
    assert ref.read_text("local.txt") == "from a local file\n"
    assert ref.stat("local.txt")["mode"] & 0o777 == 0o600
    assert ref.read_bytes("path.txt") == local.read_bytes()
    assert ref.read_bytes("stream.bin") == b"streamed" * 1000
    st = ref.stat("a/big.bin")
    assert st["type"] == "file" and st["size"] == len(big) and len(st["id"]) == 64
    assert ref.stat("a/small.txt")["id"] is None  # inline in its tree entry
    assert ref.stat("")["type"] == "directory" and ref.stat("/a/")["size"] == 3


def test_file_object(repo):
    data = bytes(range(256)) * 40000  # 10 MB, several chunks
    repo.put("f.bin", data)
    repo.commit("f")
    ref = repo.ref()
    with ref.open("f.bin") as f:
        assert f.size == len(data) and f.seekable() and f.readable()
        assert f.read(3) == data[:3] and f.tell() == 3
        assert f.seek(-2, io.SEEK_END) == len(data) - 2
        assert f.read() == data[-2:] and f.read(10) == b""
        f.seek(1 << 20)
        buf = bytearray(100000)
        assert f.readinto(buf) == 100000 and buf == data[1 << 20:(1 << 20) + 100000]
        assert f.pread(5, 7) == data[7:12] and f.tell() == (1 << 20) + 100000
        f.seek(0)
        assert f.read() == data
        with pytest.raises(ValueError):
            f.seek(-1)
    with pytest.raises(ValueError):
        f.read(1)
    # buffered and text views of it
    assert io.BufferedReader(ref.open("f.bin")).read(4) == data[:4]
    repo.put("t.txt", "line one\nline two\n".encode())
    repo.commit("t")
    with repo.ref().open("t.txt", "r") as t:
        assert t.readlines() == ["line one\n", "line two\n"]


def test_listing(repo):
    for p in ("b/2.txt", "b/1.txt", "a/x/deep.txt", "top.txt"):
        repo.put(p, p.encode())
    repo.commit("tree")
    ref = repo.ref()
    assert ref.ls() == ["a", "b", "top.txt"]
    d = ref.ls("b", detail=True)
    assert [e["path"] for e in d] == ["b/1.txt", "b/2.txt"] and d[0]["type"] == "file"
    assert list(ref.walk()) == [("", ["a", "b"], ["top.txt"]), ("a", ["x"], []),
                                ("a/x", [], ["deep.txt"]), ("b", [], ["1.txt", "2.txt"])]
    assert list(ref.files()) == ["a/x/deep.txt", "b/1.txt", "b/2.txt", "top.txt"]
    assert list(ref.files("a")) == ["a/x/deep.txt"]
    assert [e[0] for e in ref.scan("", recursive=True)] == [
        "a", "a/x", "a/x/deep.txt", "b", "b/1.txt", "b/2.txt", "top.txt"]
    assert ref.exists("a/x") and ref.isdir("a/x") and ref.isfile("top.txt")
    assert not ref.exists("zz") and not ref.isfile("a")
    with pytest.raises(t9kfs.NotFound, match="'nope' not found"):
        ref.stat("nope")
    with pytest.raises(t9kfs.NotADirectory):
        ref.ls("top.txt")
    with pytest.raises(t9kfs.IsADirectory):
        ref.open("a")
    with pytest.raises(t9kfs.InvalidArgument):
        ref.stat("a/../top.txt")


def test_refs_history_and_staging(repo):
    repo.put("x.txt", b"1")
    c1 = repo.commit("one")
    main = repo.ref("main")
    assert main.is_branch and main.commit_id == c1
    exp = main.branch("exp")
    assert exp.is_branch and repo.branches() == {"exp": c1, "main": c1}
    v1 = main.tag("v1")
    assert repo.tags() == {"v1": c1} and str(v1) == "%s@v1" % repo.name
    with pytest.raises(t9kfs.Exists):
        repo.tag("v1")
    with pytest.raises(t9kfs.ReadOnly):
        v1.put("y.txt", b"2")
    with pytest.raises(t9kfs.ReadOnly):
        v1.open("y.txt", "wb")
    exp.put("y.txt", b"2")
    exp.remove("x.txt")
    exp.put("z.txt", b"3")
    assert exp.reset("z.txt") == 1
    assert sorted(e["path"] for e in exp.staged()) == ["x.txt", "y.txt"]
    c2 = exp.commit("two", {"k": "v"})
    assert exp.commit_id == c2  # moved with its own commit
    assert main.commit_id == c1 and main.refresh().commit_id == c1
    changes = main.diff(exp)
    assert [(c["path"], c["change"]) for c in changes] == [("x.txt", "removed"),
                                                            ("y.txt", "added")]
    assert [c["message"] for c in exp.log(0)][:2] == ["two", "one"]
    assert len(exp.log(1)) == 1
    # a ref stays pinned while its branch moves on
    old = repo.ref("exp")
    with repo.ref("exp").open("y.txt", "wb") as w:
        w.write(b"new")
    repo.commit("three", branch="exp")
    assert old.read_bytes("y.txt") == b"2"
    assert old.refresh().read_bytes("y.txt") == b"new"
    with pytest.raises(t9kfs.NotFound):
        repo.ref("exp~10")
    repo.delete_tag("v1")
    repo.delete_branch("exp")
    with pytest.raises(t9kfs.NotFound):
        repo.delete_branch("exp")


def test_threads_read_one_file(repo):
    data = random.Random(7).randbytes(24 << 20)
    repo.put("big.bin", data)
    repo.commit("big")
    f = repo.ref().open("big.bin")
    bad = []

    def reader(seed):
        rnd = random.Random(seed)
        for _ in range(40):
            off = rnd.randrange(len(data))
            n = rnd.randrange(1, 1 << 20)
            if f.pread(n, off) != data[off:off + n]:
                bad.append((off, n))

    ts = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad
    f.close()


def test_fork_and_pickle(repo):
    repo.put("p.txt", b"pinned")
    repo.commit("p")
    ref = repo.ref()
    assert ref.read_bytes("p.txt") == b"pinned"
    f = ref.open("p.txt")
    # a child of fork() opens its own handles, pinned to the same commit
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ok = ref.read_bytes("p.txt") == b"pinned" and f.read() == b"pinned"
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(r)
    f.close()
    again = pickle.loads(pickle.dumps(ref))
    assert again.commit_id == ref.commit_id and again.read_bytes("p.txt") == b"pinned"


def test_cli_reads_what_the_sdk_wrote(repo):
    repo.put("dir/hello.txt", b"hello from python\n")
    cid = repo.commit("from the sdk", {"who": "sdk"})
    assert cli("cat", "%s@main:dir/hello.txt" % repo.name) == "hello from python\n"
    assert cid[:12] in cli("log", "--oneline", "-n", "1", "%s@main" % repo.name)
