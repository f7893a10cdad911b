"""PyTorch datasets over a commit of a repository, read without a mount.

    from t9kfs.torch import FileDataset, ShardedIterableDataset
    ds = FileDataset("imagenet@v1", transform=decode)          # map-style
    loader = torch.utils.data.DataLoader(ds, batch_size=64, num_workers=4)

    it = ShardedIterableDataset("imagenet@v1:train", transform=decode, seed=0)
    for epoch in range(10):
        it.set_epoch(epoch)                                     # a new order
        for batch in torch.utils.data.DataLoader(it, batch_size=64, num_workers=4): ...

Both pin the commit their ref names when they are made: every worker,
every rank and every epoch reads the same bytes, even when a branch moves
on. Each DataLoader worker opens its own handles (the library is not
shared across fork), with its own chunk cache.
"""

import os
import random

import torch.utils.data as _data

from .client import Ref, client as _default_client


def _pin(ref, client=None):
    """(Ref pinned to a commit, path prefix) of a Ref or 'REPO@REF[:PATH]'."""
    if isinstance(ref, Ref):
        return ref, ""
    head, _, prefix = ref.partition(":")
    return (client or _default_client()).ref(head), prefix.strip("/")


class FileDataset(_data.Dataset):
    """Map-style: item i is the bytes of paths[i], passed to transform.

    ref: a Ref or 'REPO@REF[:PATH]' (PATH: only files under it); paths:
    the files, relative to the root (None: every regular file under the
    ref, in depth-first byte order of names). The commit is fixed when the
    dataset is made (.commit_id)."""

    def __init__(self, ref, paths=None, transform=None, client=None):
        self.ref, prefix = _pin(ref, client)
        self.commit_id = self.ref.commit_id
        self.paths = list(paths) if paths is not None else list(self.ref.files(prefix))
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        data = self.ref.read_bytes(self.paths[i])
        return self.transform(data) if self.transform else data


def _rank_and_world(rank, world_size):
    if rank is not None and world_size is not None:
        return rank, world_size
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return (dist.get_rank() if rank is None else rank,
                    dist.get_world_size() if world_size is None else world_size)
    except ImportError:  # pragma: no cover
        pass
    return (int(os.environ.get("RANK", "0")) if rank is None else rank,
            int(os.environ.get("WORLD_SIZE", "1")) if world_size is None else world_size)


class ShardedIterableDataset(_data.IterableDataset):
    """Iterable: each file once per epoch over all ranks and DataLoader
    workers, in a shuffled order that depends only on seed and epoch.

    The file list (sorted) is shuffled with random.Random(seed + epoch)
    when shuffle, then worker w of rank r (of world_size ranks with W
    workers each) takes every (world_size * W)-th file from r * W + w.
    rank and world_size default to torch.distributed's, else $RANK and
    $WORLD_SIZE, else 0 and 1. Yields transform(bytes) (or the bytes), or
    (path, ...) pairs when with_path."""

    def __init__(self, ref, paths=None, transform=None, shuffle=True, seed=0, rank=None,
                 world_size=None, with_path=False, client=None):
        self.ref, prefix = _pin(ref, client)
        self.commit_id = self.ref.commit_id
        self.paths = sorted(paths) if paths is not None else sorted(self.ref.files(prefix))
        self.transform = transform
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.rank, self.world_size = _rank_and_world(rank, world_size)
        self.with_path = with_path
        if not 0 <= self.rank < self.world_size:
            raise ValueError("rank %d is not in a world of %d" % (self.rank, self.world_size))

    def set_epoch(self, epoch):
        """The epoch whose order the next iteration follows."""
        self.epoch = epoch

    def shard(self, worker_id=0, num_workers=1):
        """The paths worker worker_id of num_workers of this rank reads
        this epoch, in order."""
        order = list(self.paths)
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        total = self.world_size * num_workers
        return order[self.rank * num_workers + worker_id::total]

    def __iter__(self):
        info = _data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for path in self.shard(wid, nw):
            data = self.ref.read_bytes(path)
            out = self.transform(data) if self.transform else data
            yield (path, out) if self.with_path else out
