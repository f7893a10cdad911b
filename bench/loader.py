#!/usr/bin/python3
"""The data-loader workload's reader and generator (bench/loader.sh).

    loader.py gen DIR CLASSES PER_CLASS SIDE
    loader.py epoch DIR WORKERS BATCH

gen: writes CLASSES directories of PER_CLASS PNG images of SIDE x SIDE
RGB pixels under DIR (deterministic: seeded noise over a gradient, so
each PNG is a few KiB to tens of KiB, as small training images are).

epoch: two epochs of torchvision's ImageFolder over DIR (PIL decode and
ToTensor) through a torch DataLoader with WORKERS worker processes,
batches of BATCH, shuffled with a fixed seed: the first as the caller
left the caches (cold: caches dropped, a fresh mount), the second at
once in the same process (warm). Each epoch is timed from building the
dataset (the directory scan) to its last batch, so worker start-up and
the scan count, as in training. Prints one JSON line: images, bytes of
the files, and the seconds of each epoch; fails if an epoch misses an
image.
"""

import json
import os
import sys
import time


def gen(root, classes, per_class, side):
    import random

    from PIL import Image

    rnd = random.Random(42)
    for c in range(classes):
        d = os.path.join(root, "class%02d" % c)
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            base = rnd.randrange(256)
            px = bytes(
                (base + x + y + rnd.randrange(64)) & 0xFF
                for y in range(side)
                for x in range(side)
                for _ in range(3)
            )
            Image.frombytes("RGB", (side, side), px).save(
                os.path.join(d, "img%05d.png" % i), optimize=False
            )


def epoch(root, workers, batch):
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.set_num_threads(1)
    out = {"workers": workers, "batch": batch}
    for name in ("cold", "warm"):
        t0 = time.monotonic()
        ds = datasets.ImageFolder(root, transform=transforms.ToTensor())
        g = torch.Generator()
        g.manual_seed(1)
        dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, generator=g)
        n = 0
        for x, _ in dl:
            n += x.shape[0]
        out[name] = time.monotonic() - t0
        if n != len(ds):
            sys.exit("loader.py: the epoch saw %d of %d images" % (n, len(ds)))
        out["images"] = n
    out["bytes"] = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs
    )
    print(json.dumps(out))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "epoch":
        epoch(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
