#!/usr/bin/python3
"""The CSI client of bench/csi.sh: one long-lived process, one gRPC channel
to the driver, each Node call timed with time.perf_counter (no process
start per call, as kubelet holds one connection).

usage: csi_bench.py ENDPOINT WORK RESULTS REPO REF,REF,... RUNS TARGETS

Each run stages every REF as volume REPO@REF at WORK/stage/N and publishes
it to WORK/pod/N (read-only, as kubelet would), then unpublishes and
unstages them; then stages the first REF once more at WORK/fan/stage and
publishes it to TARGETS targets WORK/fan/tN, and takes that down. Each
call's milliseconds go to RESULTS as a JSON line. Between the phases it
prints "pause NAME RUN" and waits for a line on stdin, so the caller can
look at the mounts and processes; "done" at the end. Any failed call is
one line on stderr and exit status 1. CSI_PB is the folder of the stubs
test/csi/csi.py --gen makes.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.environ["CSI_PB"])
import grpc  # noqa: E402
import csi_pb2  # noqa: E402
import csi_pb2_grpc  # noqa: E402

TIMEOUT_S = 180  # the driver's own limit for a mount is 170 s
READY_S = 20


class Bench:
    def __init__(self, endpoint, results, repo):
        self.channel = grpc.insecure_channel(endpoint)
        self.node = csi_pb2_grpc.NodeStub(self.channel)
        self.identity = csi_pb2_grpc.IdentityStub(self.channel)
        self.out = open(results, "a", encoding="utf-8")
        self.repo = repo
        cap = csi_pb2.VolumeCapability()
        cap.mount.SetInParent()
        cap.access_mode.mode = csi_pb2.VolumeCapability.AccessMode.MULTI_NODE_READER_ONLY
        self.cap = cap

    def wait_ready(self):
        """Returns once Probe says ready (the driver is still starting)."""
        deadline = time.monotonic() + READY_S
        while True:
            try:
                if self.identity.Probe(csi_pb2.ProbeRequest(), timeout=2).ready.value:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                sys.exit("csi_bench: the driver did not answer Probe within %d s" % READY_S)
            time.sleep(0.05)

    def call(self, method, req, op, run, volume):
        """One timed call; its milliseconds are recorded and returned."""
        t0 = time.perf_counter()
        try:
            getattr(self.node, method)(req, timeout=TIMEOUT_S)
        except grpc.RpcError as e:
            sys.exit("csi_bench: %s of %s: %s: %s" % (method, volume, e.code().name, e.details()))
        ms = (time.perf_counter() - t0) * 1000
        self.record(op, run, volume, ms)
        return ms

    def volume(self, ref):
        return "%s@%s" % (self.repo, ref), {"repo": self.repo, "ref": ref}

    def stage(self, ref, staging, run, op="stage"):
        vid, ctx = self.volume(ref)
        req = csi_pb2.NodeStageVolumeRequest(volume_id=vid, staging_target_path=staging,
                                             volume_capability=self.cap, volume_context=ctx)
        return self.call("NodeStageVolume", req, op, run, vid)

    def publish(self, ref, staging, target, run, op="publish"):
        vid, ctx = self.volume(ref)
        req = csi_pb2.NodePublishVolumeRequest(volume_id=vid, staging_target_path=staging,
                                               target_path=target, volume_capability=self.cap,
                                               volume_context=ctx, readonly=True)
        return self.call("NodePublishVolume", req, op, run, vid)

    def unpublish(self, ref, target, run, op="unpublish"):
        vid, _ = self.volume(ref)
        req = csi_pb2.NodeUnpublishVolumeRequest(volume_id=vid, target_path=target)
        return self.call("NodeUnpublishVolume", req, op, run, vid)

    def unstage(self, ref, staging, run, op="unstage"):
        vid, _ = self.volume(ref)
        req = csi_pb2.NodeUnstageVolumeRequest(volume_id=vid, staging_target_path=staging)
        return self.call("NodeUnstageVolume", req, op, run, vid)

    def record(self, op, run, volume, ms):
        """One JSON line of RESULTS."""
        self.out.write(json.dumps({"bench": "csi", "op": op, "run": run, "volume": volume,
                                   "ms": round(ms, 3)}, separators=(",", ":")) + "\n")

    def pause(self, name, run):
        """Lets the caller look; the results so far are on disk first."""
        self.out.flush()
        print("pause %s %d" % (name, run), flush=True)
        if not sys.stdin.readline():
            sys.exit("csi_bench: the caller went away at pause %s" % name)


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    endpoint, work, results, repo, refs, runs, targets = sys.argv[1:]
    refs, runs, targets = refs.split(","), int(runs), int(targets)
    b = Bench(endpoint, results, repo)
    b.wait_ready()
    for run in range(1, runs + 1):
        vols = [(ref, "%s/stage/%d" % (work, i), "%s/pod/%d" % (work, i))
                for i, ref in enumerate(refs, 1)]
        for ref, staging, target in vols:
            ms = b.stage(ref, staging, run)
            ms += b.publish(ref, staging, target, run)
            b.record("stage_publish", run, b.volume(ref)[0], ms)
        b.pause("published", run)
        for ref, staging, target in vols:
            ms = b.unpublish(ref, target, run)
            ms += b.unstage(ref, staging, run)
            b.record("unpublish_unstage", run, b.volume(ref)[0], ms)
        b.pause("unstaged", run)
        # one volume, many pods
        ref, staging = refs[0], work + "/fan/stage"
        b.stage(ref, staging, run, op="fan_stage")
        fan = ["%s/fan/t%d" % (work, i) for i in range(1, targets + 1)]
        for target in fan:
            b.publish(ref, staging, target, run, op="fan_publish")
        b.pause("fanout", run)
        for target in fan:
            b.unpublish(ref, target, run, op="fan_unpublish")
        b.unstage(ref, staging, run, op="fan_unstage")
        b.pause("fan_unstaged", run)
    b.out.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
