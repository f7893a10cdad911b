"""The PyTorch datasets: a DataLoader with 4 workers over FileDataset gives
exactly the tensors of the same loader over a local copy, and
ShardedIterableDataset covers every file once per epoch over 2 ranks of 3
workers, in an order fixed by seed and epoch."""

import collections
import os
import random

import pytest

torch = pytest.importorskip("torch", reason="python3-torch is not installed")
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from t9kfs.torch import FileDataset, ShardedIterableDataset  # noqa: E402

N = 48


def decode(b):
    """bytes -> a fixed-size float tensor (first 64 bytes) and the length."""
    t = torch.frombuffer(bytearray(b[:64].ljust(64, b"\0")), dtype=torch.uint8).float()
    return t, len(b)


@pytest.fixture(scope="module")
def dataset(client, tmp_path_factory):
    from conftest import store_for

    name = "torch%d" % os.getpid()
    repo = client.create_repo(name, store=store_for(name))
    local = tmp_path_factory.mktemp("copy")
    rnd = random.Random(5)
    for i in range(N):
        path = "img/%s/%03d.bin" % ("ab"[i % 2], i)
        data = path.encode() + rnd.randbytes(rnd.randrange(100, 300000))
        repo.put(path, data)
        os.makedirs(local / os.path.dirname(path), exist_ok=True)
        (local / path).write_bytes(data)
    repo.commit("images")
    yield repo, local
    client.delete_repo(name)


class LocalFiles(Dataset):
    def __init__(self, root, paths, transform):
        self.root, self.paths, self.transform = root, paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(os.path.join(self.root, self.paths[i]), "rb") as f:
            return self.transform(f.read())


def test_file_dataset_matches_local_copy(dataset):
    repo, local = dataset
    ds = FileDataset("%s@main" % repo.name, transform=decode)
    assert len(ds) == N and ds.commit_id == repo.resolve("main")
    ref_ds = LocalFiles(local, ds.paths, decode)
    got = list(DataLoader(ds, batch_size=5, num_workers=4))
    want = list(DataLoader(ref_ds, batch_size=5, num_workers=4))
    assert len(got) == len(want) == (N + 4) // 5
    for (gt, gl), (wt, wl) in zip(got, want):
        assert torch.equal(gt, wt) and torch.equal(gl, wl)
    # paths given, a prefix, a Ref
    sub = FileDataset(repo.ref(), paths=["img/a/000.bin"])
    assert sub[0].startswith(b"img/a/000.bin")
    assert len(FileDataset("%s@main:img/b" % repo.name)) == N // 2


def test_pinned_while_the_branch_moves(dataset):
    repo, _ = dataset
    ds = FileDataset("%s@main" % repo.name)
    before = ds[0]
    repo.put(ds.paths[0], b"changed")
    repo.commit("change one")
    try:
        assert ds[0] == before
        assert next(iter(DataLoader(ds, batch_size=None, num_workers=2))) == before
    finally:
        repo.put(ds.paths[0], before)
        repo.commit("restore")


def test_sharded_covers_every_file_once(dataset):
    repo, _ = dataset
    orders = {}
    for epoch in (0, 1):
        seen = collections.Counter()
        order = []
        for rank in range(2):
            ds = ShardedIterableDataset("%s@main:img" % repo.name, rank=rank, world_size=2,
                                        seed=3, with_path=True, transform=len)
            ds.set_epoch(epoch)
            for path, n in DataLoader(ds, batch_size=None, num_workers=3):
                assert n > len(path)
                seen[path] += 1
                order.append(path)
        assert len(seen) == N and set(seen.values()) == {1}
        orders[epoch] = order
    assert orders[0] != orders[1]  # a new order each epoch
    ds = ShardedIterableDataset("%s@main:img" % repo.name, rank=1, world_size=2, seed=3)
    again = ShardedIterableDataset("%s@main:img" % repo.name, rank=1, world_size=2, seed=3)
    assert ds.shard(2, 3) == again.shard(2, 3)  # deterministic
    with pytest.raises(ValueError):
        ShardedIterableDataset("%s@main" % repo.name, rank=2, world_size=2)
