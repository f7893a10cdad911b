"""The fsspec filesystem: t9kfs://REPO@REF/PATH through fsspec.open,
fs.ls, fs.find, pandas, writes committed with fs.commit, and transactions
that either commit everything or leave the branch as it was."""

import io

import pytest

fsspec = pytest.importorskip("fsspec", reason="python3-fsspec is not installed")

import t9kfs  # noqa: E402


@pytest.fixture
def fs(client):
    return fsspec.filesystem("t9kfs", client=client, skip_instance_cache=True)


@pytest.fixture
def data(repo):
    repo.put("labels.csv", b"name,label\ncat.jpg,0\ndog.jpg,1\n")
    repo.put("train/a/1.bin", b"\x01" * 10)
    repo.put("train/a/2.bin", b"\x02" * 20)
    repo.put("train/b/3.bin", b"\x03" * 30)
    cid = repo.commit("data")
    repo.tag("v1", cid)
    return repo


def test_read_round_trip(fs, data):
    r = data.name
    with fsspec.open("t9kfs://%s@v1/labels.csv" % r, "rb") as f:
        assert f.read().startswith(b"name,label")
    with fsspec.open("t9kfs://%s@v1/labels.csv" % r, "rt") as f:
        assert f.readline() == "name,label\n"
    assert fs.ls("%s@v1" % r, detail=False) == ["%s@v1/labels.csv" % r, "%s@v1/train" % r]
    info = fs.info("t9kfs://%s@v1/train/a/2.bin" % r)
    assert info["type"] == "file" and info["size"] == 20 and info["name"] == "%s@v1/train/a/2.bin" % r
    assert fs.info("%s@v1/train" % r)["type"] == "directory"
    assert fs.find("%s@v1/train" % r) == ["%s@v1/train/a/1.bin" % r, "%s@v1/train/a/2.bin" % r,
                                          "%s@v1/train/b/3.bin" % r]
    assert fs.find("%s@v1" % r, maxdepth=1) == ["%s@v1/labels.csv" % r]
    assert "%s@v1/train/a" % r in fs.find("%s@v1/train" % r, withdirs=True)
    assert sorted(fs.glob("%s@v1/train/*/*.bin" % r)) == fs.find("%s@v1/train" % r)
    assert fs.cat("%s@v1/train/b/3.bin" % r) == b"\x03" * 30
    assert fs.cat_file("%s@v1/train/b/3.bin" % r, 5, 8) == b"\x03" * 3
    assert fs.exists("%s@v1/labels.csv" % r) and not fs.exists("%s@v1/nope" % r)
    assert fs.isdir("%s@v1/train/a" % r) and fs.isfile("%s@v1/labels.csv" % r)
    assert fs.size("%s@v1/train/a/1.bin" % r) == 10
    assert fs.modified("%s@v1/labels.csv" % r).year > 2000
    with pytest.raises(FileNotFoundError):
        fs.info("%s@v1/nope" % r)
    with pytest.raises(FileNotFoundError):
        fs.ls("%s@nobranch" % r)
    with pytest.raises(t9kfs.ReadOnly):
        fs.pipe("%s@v1/new.txt" % r, b"x")


def test_pandas_read_csv(fs, data):
    pd = pytest.importorskip("pandas", reason="python3-pandas is not installed")
    df = pd.read_csv("t9kfs://%s@v1/labels.csv" % data.name)
    assert list(df.columns) == ["name", "label"] and df["label"].tolist() == [0, 1]
    # and back: a frame written to a branch, committed, read again
    with fs.open("%s@main/out.csv" % data.name, "w") as f:
        df.assign(label=df["label"] + 10).to_csv(f, index=False)
    fs.commit("%s@main" % data.name, "scores")
    assert pd.read_csv("t9kfs://%s@main/out.csv" % data.name)["label"].tolist() == [10, 11]


def test_writes_and_commit(fs, data, tmp_path):
    r = data.name
    fs.pipe("%s@main/new/a.txt" % r, b"piped")
    local = tmp_path / "up.bin"
    local.write_bytes(b"uploaded" * 100)
    fs.put_file(str(local), "%s@main/new/up.bin" % r)
    fs.rm("%s@main/train/b" % r, recursive=True)
    with pytest.raises(IsADirectoryError):
        fs.rm("%s@main/train/a" % r)
    staged = sorted(e["path"] for e in data.staged())
    assert staged == ["new/a.txt", "new/up.bin", "train/b"]
    cid = fs.commit("t9kfs://%s@main" % r, "via fsspec", meta={"tool": "fsspec"})
    assert data.show("main")["meta"] == {"tool": "fsspec"} and data.resolve("main") == cid
    assert fs.cat("%s@main/new/up.bin" % r) == b"uploaded" * 100
    assert not fs.exists("%s@main/train/b" % r)
    out = tmp_path / "down.bin"
    fs.get_file("%s@main/new/up.bin" % r, str(out))
    assert out.read_bytes() == b"uploaded" * 100


def test_transaction(fs, data):
    r = data.name
    head = data.resolve("main")
    # a block that raises stages nothing and commits nothing
    with pytest.raises(RuntimeError):
        with fs.transaction("%s@main" % r, message="never"):
            fs.pipe("%s@main/t/1.txt" % r, b"one")
            with fs.open("%s@main/t/2.txt" % r, "wb") as f:
                f.write(b"two")
            fs.rm("%s@main/labels.csv" % r)
            raise RuntimeError("boom")
    assert data.resolve("main") == head and data.staged() == []
    assert fs.exists("%s@main/labels.csv" % r)
    # one that completes commits everything at once
    with fs.transaction("%s@main" % r, message="together", meta={"n": 2}) as tx:
        fs.pipe("%s@main/t/1.txt" % r, b"one")
        with fs.open("%s@main/t/2.txt" % r, "w") as f:
            f.write("two")
        fs.rm("%s@main/labels.csv" % r)
        assert not fs.exists("%s@main/t/1.txt" % r)  # nothing before the end
    cid = tx.commits["%s@main" % r]
    assert data.resolve("main") == cid and data.show(cid)["message"] == "together"
    assert fs.cat("%s@main/t/2.txt" % r) == b"two" and not fs.exists("%s@main/labels.csv" % r)
    assert [c["path"] for c in data.diff(head, cid)] == ["labels.csv", "t/1.txt", "t/2.txt"]
    # a commit that fails at the end (the branch is gone) leaves nothing staged
    data.branch("gone")
    with pytest.raises(t9kfs.NotFound):
        with fs.transaction("%s@gone" % r, message="lost"):
            fs.pipe("%s@gone/x.txt" % r, b"x")
            data.delete_branch("gone")
    assert data.staged() == []
