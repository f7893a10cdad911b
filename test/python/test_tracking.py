"""Experiment tracking: t9kfs.run() writes the record 't9kfs run' writes
(README "Experiments are commits"), the CLI's show, compare and log
--input read it, a block that raises is recorded as failed (and raised),
and t9kfs.compare() puts runs side by side."""

import json
import sys

import pytest

import t9kfs
from conftest import cli


@pytest.fixture
def models(new_repo):
    data = new_repo()
    data.put("train/x.bin", b"x" * 5000)
    data_commit = data.commit("data")
    data.tag("v1", data_commit)
    out = new_repo()
    out.branch("exp-a")
    out.branch("exp-b")
    return data, out


def test_run_record(models, tmp_path):
    data, out = models
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "1.pt").write_bytes(b"one")
    with t9kfs.run("%s@exp-a" % out.name, params={"lr": 0.1, "opt": "adam"},
                   inputs=["%s@v1:train" % data.name]) as run:
        run.log_params({"epochs": 2})
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metrics({"top1": 0.75, "top5": 0.9}, step=2)
        run.log("epoch done")
        run.save(model, "model.pt")
        run.save(tmp_path / "ckpt")
    assert run.status == "ok" and out.resolve("exp-a") == run.commit_id
    meta = out.show("exp-a")["meta"]
    assert meta["run.id"] == run.id and meta["run.status"] == "ok"
    assert meta["run.exit_code"] == "0" and float(meta["run.duration_s"]) >= 0
    assert meta["run.start"].endswith("Z") and meta["run.host"]
    assert meta["run.command"].startswith("python")
    assert meta["input.0"] == "%s@%s:train" % (data.name, data.resolve("v1"))
    assert meta["output"] == "%s@exp-a" % out.name
    assert meta["param.lr"] == "0.1" and meta["param.epochs"] == "2"
    assert meta["metric.loss"] == "0.333333333333333" and meta["metric.top1"] == "0.75"
    assert "metric.step" not in meta
    ref = out.ref("exp-a")
    lines = [json.loads(x) for x in ref.read_text(".t9kfs/metrics.jsonl").splitlines()]
    assert lines[0] == {"step": 0, "loss": 1.0} and lines[-1] == {"step": 2, "top1": 0.75,
                                                                   "top5": 0.9}
    doc = json.loads(ref.read_text(".t9kfs/run.json"))
    assert doc["id"] == run.id and doc["status"] == "ok" and doc["params"]["opt"] == "adam"
    assert doc["metrics"]["last"]["loss"] == pytest.approx(1 / 3) and doc["metrics"]["lines"] == 4
    assert doc["inputs"][0]["commit"] == data.resolve("v1")
    assert ref.read_text(".t9kfs/run.log") == "epoch done\n"
    assert ref.read_bytes("model.pt") == b"weights" and ref.read_bytes("ckpt/1.pt") == b"one"
    assert out.show("exp-a")["message"] == "run %s: %s" % (run.id, meta["run.command"][:400])

    # the CLI reads the same record
    shown = json.loads(cli("show", "--json", "%s@exp-a" % out.name))
    assert shown["run"]["status"] == "ok" and shown["run"]["params"]["lr"] == "0.1"
    assert shown["run"]["metrics"]["top1"] == 0.75
    assert shown["run"]["inputs"][0]["commit"] == data.resolve("v1")
    assert run.id in cli("log", "--input", "%s@v1" % data.name)


def test_failed_block_is_recorded_and_raised(models):
    _, out = models
    head = out.resolve("exp-b")
    with pytest.raises(ValueError, match="diverged"):
        with t9kfs.run("%s@exp-b" % out.name, params={"lr": 10}) as run:
            run.log_metric("loss", float(1e30))
            raise ValueError("diverged")
    c = out.show("exp-b")
    assert c["parents"] == [head] and c["id"] == run.commit_id
    assert c["meta"]["run.status"] == "failed" and c["meta"]["run.exit_code"] == "1"
    assert c["meta"]["metric.loss"] == "1e30"
    assert "(failed, exit 1)" in c["message"]
    assert "ValueError: diverged" in out.ref("exp-b").read_text(".t9kfs/run.log")


def test_run_errors(models):
    data, out = models
    with pytest.raises(t9kfs.InvalidArgument):
        t9kfs.run("%s@v1" % data.name)  # a tag: not a branch
    with pytest.raises(t9kfs.InvalidArgument):
        t9kfs.run(out.name)
    with pytest.raises(t9kfs.NotFound):
        t9kfs.run("%s@nobranch" % out.name)
    with t9kfs.run("%s@exp-a" % out.name, command=["train.py", "--lr", "it's"]) as run:
        with pytest.raises(t9kfs.InvalidArgument):
            run.log_metric("loss", float("nan"))
        with pytest.raises(t9kfs.InvalidArgument):
            run.log_metric("step", 1)
    assert out.show("exp-a")["meta"]["run.command"] == "train.py --lr 'it'\\''s'"


def test_compare(models):
    _, out = models
    for b, lr, loss in (("exp-a", 0.1, 0.5), ("exp-b", 0.01, 0.25)):
        with t9kfs.run("%s@%s" % (out.name, b), params={"lr": lr}) as run:
            run.log_metric("loss", loss)
    rows = t9kfs.compare(["%s@exp-*" % out.name])
    assert [r["ref"] for r in rows] == ["%s@exp-a" % out.name, "%s@exp-b" % out.name]
    assert [r["metric.loss"] for r in rows] == [0.5, 0.25]
    assert [r["param.lr"] for r in rows] == ["0.1", "0.01"]
    assert rows[0]["run.status"] == "ok" and isinstance(rows[0]["run.duration_s"], float)
    one = t9kfs.compare(out.ref("exp-b"))
    assert len(one) == 1 and one[0]["commit"] == out.resolve("exp-b")
    pd = pytest.importorskip("pandas", reason="python3-pandas is not installed")
    df = pd.DataFrame(rows).set_index("ref")
    assert df.loc["%s@exp-b" % out.name, "metric.loss"] == 0.25
    assert sys.modules["t9kfs"].compare is t9kfs.compare
