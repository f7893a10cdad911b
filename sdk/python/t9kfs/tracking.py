"""Experiment tracking: a run of a training script recorded as a commit of
its output branch, in the layout 't9kfs run' writes (README "Experiments
are commits"), so 't9kfs show', 't9kfs compare', 'log --input' and
compare() below read both alike:

    with t9kfs.run("models@exp-a", params={"lr": 0.1}, inputs=["imagenet@v1:train"]) as run:
        for step in range(100):
            run.log_metric("loss", loss, step=step)
        run.save("model.pt", "model.pt")

At the end of the block, whether it raised or not, the branch is
committed with the metadata run.* (id, command, status, exit_code, start,
end, duration_s, host), input.N, output, param.KEY and metric.NAME (the
last value), and the files .t9kfs/run.json (the whole record),
.t9kfs/metrics.jsonl (every logged line) and .t9kfs/run.log (the run's
log lines and, when it failed, the traceback). An exception of the block
is raised again after the commit.
"""

import datetime
import fnmatch
import json
import os
import random
import socket
import sys
import threading
import time
import traceback

from .client import Ref, Repo, client as _default_client, meta_text, split_spec
from .errors import InvalidArgument

RUN_METRICS_MAX = 256  # metric names kept as metadata, as 't9kfs run'
_PLAIN = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,@%+-")


def _quote(argv):
    """argv as one shell-quoted line, quoted as 't9kfs run' quotes it."""
    out = []
    for a in argv:
        if a and all(c in _PLAIN for c in a):
            out.append(a)
        else:
            out.append("'" + a.replace("'", "'\\''") + "'")
    return " ".join(out)


def _iso(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _run_id(t):
    stamp = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ")
    return "%s-%08x" % (stamp, random.SystemRandom().getrandbits(32))


def _json_value(v):
    """A value for run.json and metrics.jsonl: JSON numbers stay numbers."""
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if hasattr(v, "item") and callable(v.item):  # numpy and torch scalars
        return v.item()
    return v


class Run:
    """One run: params, metrics, inputs and files, committed at the end.
    Made by t9kfs.run(); use it as a context manager."""

    def __init__(self, target, params=None, *, inputs=None, message=None, client=None,
                 command=None):
        self._lock = threading.Lock()
        c = client or _default_client()
        repo, branch = split_spec(target, default_ref="")
        if not branch:
            raise InvalidArgument("run: want 'REPO@BRANCH', not %r" % target)
        self.repo = Repo(c, repo)
        self.branch = branch
        head = self.repo.ref(branch)
        if not head.is_branch:
            raise InvalidArgument("run: %s@%s is not a branch" % (repo, branch))
        head.close()
        self.params = {}
        self.log_params(params or {})
        self.message = message
        self.command = command if command is not None else [
            os.path.basename(sys.executable or "python3")] + sys.argv
        self.inputs = []
        self._last = {}
        self._lines = []
        self._log = []
        self._steps = {}
        self.start = time.time()
        self.id = _run_id(self.start)
        self.host = socket.gethostname()
        self.commit_id = None
        self.status = None
        for i in inputs or []:
            self.log_input(i)

    # -- what a script records --

    def log_param(self, key, value):
        self.log_params({key: value})

    def log_params(self, params):
        """Params, kept as the text they print as (param.KEY)."""
        for k, v in params.items():
            if not isinstance(k, str) or not k:
                raise InvalidArgument("param names are non-empty strings, not %r" % (k,))
            with self._lock:
                self.params[k] = meta_text(v)

    def log_metric(self, name, value, step=None):
        """One value of a metric: a line {"step": step, name: value} of
        metrics.jsonl; the last value of each becomes metric.NAME. step
        defaults to how often this metric was logged before."""
        self.log_metrics({name: value}, step=step)

    def log_metrics(self, metrics, step=None):
        """Several metrics of one step, as one line."""
        with self._lock:
            if step is None:
                step = max((self._steps.get(k, 0) for k in metrics), default=0)
            line = {"step": step}
            for k, v in metrics.items():
                if not isinstance(k, str) or not k or k == "step":
                    raise InvalidArgument("metric names are non-empty strings other than "
                                          "'step', not %r" % (k,))
                v = _json_value(v)
                meta_text(v)  # refuses NaN and infinities now, not at commit
                line[k] = v
                if k in self._last or len(self._last) < RUN_METRICS_MAX:
                    self._last[k] = v
                self._steps[k] = max(self._steps.get(k, 0), step + 1)
            self._lines.append(json.dumps(line, separators=(", ", ": ")))

    def log_input(self, spec):
        """A dataset the run reads: 'REPO@REF[:PATH]' or a Ref (pinned now
        to its commit; input.N = REPO@COMMIT[:PATH])."""
        if isinstance(spec, Ref):
            repo, ref, commit, path = spec.repo.name, spec.spec, spec.commit_id, ""
        else:
            head, _, path = spec.partition(":")
            repo, ref = split_spec(head)
            r = self.repo if repo == self.repo.name else Repo(self.repo.client, repo)
            commit = r.resolve(ref)
        with self._lock:
            self.inputs.append({"repo": repo, "ref": ref, "commit": commit,
                                "path": path.strip("/"), "dir": None})

    def log(self, *args):
        """A line of the run's log (.t9kfs/run.log), print-style."""
        with self._lock:
            self._log.append(" ".join(str(a) for a in args))

    def save(self, local_path, repo_path=None):
        """Stores a local file (or a directory, recursively) in the output
        branch at repo_path (default: its base name); staged now, recorded
        by the run's commit."""
        local_path = os.fspath(local_path)
        if repo_path is None:
            repo_path = os.path.basename(local_path.rstrip("/"))
        repo_path = repo_path.strip("/")
        if os.path.isdir(local_path):
            for root, _, files in os.walk(local_path):
                rel = os.path.relpath(root, local_path)
                for f in sorted(files):
                    dst = repo_path if rel == "." else "%s/%s" % (repo_path, rel)
                    self.repo.put("%s/%s" % (dst, f) if dst else f,
                                  file=os.path.join(root, f), branch=self.branch)
        else:
            self.repo.put(repo_path, file=local_path, branch=self.branch)

    # -- the record --

    def _record(self, end, status, exit_code):
        dur = end - self.start
        meta = {
            "run.id": self.id,
            "run.command": _quote(self.command)[:65535],
            "run.status": status,
            "run.exit_code": str(exit_code),
            "run.start": _iso(self.start),
            "run.end": _iso(end),
            "run.duration_s": "%.3f" % dur,
            "run.host": self.host,
            "output": "%s@%s" % (self.repo.name, self.branch),
        }
        for i, inp in enumerate(self.inputs):
            meta["input.%d" % i] = "%s@%s%s" % (inp["repo"], inp["commit"],
                                               ":" + inp["path"] if inp["path"] else "")
        for k, v in self.params.items():
            meta["param." + k] = v
        for k, v in self._last.items():
            meta["metric." + k] = meta_text(v)
        doc = {
            "id": self.id, "command": list(self.command),
            "command_line": meta["run.command"], "status": status, "exit_code": exit_code,
            "start": meta["run.start"], "end": meta["run.end"], "duration_s": dur,
            "host": self.host, "inputs": self.inputs,
            "output": {"repo": self.repo.name, "branch": self.branch, "dir": None},
            "params": self.params,
            "metrics": {"last": self._last, "lines": len(self._lines)},
            "sdk": True,
        }
        return meta, doc

    def finish(self, status="ok", exit_code=0, error=None):
        """Writes the record files and commits the branch; returns the
        commit id. Called by the with block's end."""
        end = time.time()
        with self._lock:
            if error:
                self._log.append(error.rstrip("\n"))
            meta, doc = self._record(end, status, exit_code)
            files = {
                ".t9kfs/run.json": json.dumps(doc, indent=2, sort_keys=True) + "\n",
                ".t9kfs/metrics.jsonl": "".join(line + "\n" for line in self._lines),
                ".t9kfs/run.log": "".join(line + "\n" for line in self._log),
            }
        for path, text in files.items():
            self.repo.put(path, text.encode(), branch=self.branch)
        msg = self.message
        if not msg:
            msg = "run %s: %.400s" % (self.id, meta["run.command"])
            if status != "ok":
                msg += " (%s, exit %d)" % (status, exit_code)
        self.status = status
        self.commit_id = self.repo.commit(msg, meta, branch=self.branch, allow_empty=True)
        return self.commit_id

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish("ok", 0)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("interrupted", 130,
                        "".join(traceback.format_exception(exc_type, exc, tb)))
        else:
            code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
            status = "ok" if isinstance(exc, SystemExit) and code == 0 else "failed"
            self.finish(status, code, "".join(traceback.format_exception(exc_type, exc, tb)))
        return False


def run(target, params=None, *, inputs=None, message=None, client=None, command=None):
    """A Run recorded as a commit of branch target ('REPO@BRANCH') at the
    end of its with block. params: a dict (param.KEY); inputs: specs or
    Refs the run reads (input.N, pinned now); message: the commit message
    (default 'run ID: COMMAND'); command: the argv to record (default
    this Python's)."""
    return Run(target, params, inputs=inputs, message=message, client=client, command=command)


def _number_or_text(s):
    try:
        v = json.loads(s)
    except ValueError:
        return s
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else s


def compare(refs, client=None):
    """The commits of refs side by side, like dvc.api.exp_show: one flat
    dict per commit, in order, with ref, repo, commit, message, author,
    time (datetime, UTC) and every metadata key (run.*, input.N, output,
    param.*, metric.* as numbers where the text is one). refs: 'REPO@REF'
    strings, Refs, or branch globs 'REPO@exp-*' (each matching branch's
    head, by name). pandas.DataFrame(compare(...)) makes a table."""
    c = client or _default_client()
    if isinstance(refs, (str, Ref)):
        refs = [refs]
    rows = []
    repos = {}
    for spec in refs:
        if isinstance(spec, Ref):
            items = [(spec.repo, spec.spec, spec.commit_id)]
        else:
            name, ref = split_spec(spec)
            repo = repos.get(name) or repos.setdefault(name, Repo(c, name))
            if any(ch in ref for ch in "*?["):
                items = [(repo, b, cid) for b, cid in sorted(repo.branches().items())
                         if fnmatch.fnmatchcase(b, ref)]
            else:
                items = [(repo, ref, repo.resolve(ref))]
        for repo, ref, cid in items:
            commit = repo.show(cid)
            row = {"ref": "%s@%s" % (repo.name, ref), "repo": repo.name, "commit": cid,
                   "message": commit.get("message", ""), "author": commit.get("author", ""),
                   "time": datetime.datetime.fromtimestamp(commit.get("time_ns", 0) / 1e9,
                                                           datetime.timezone.utc)}
            for k, v in sorted(commit.get("meta", {}).items()):
                if k.startswith("metric.") or k in ("run.exit_code", "run.duration_s"):
                    v = _number_or_text(v)
                row[k] = v
            rows.append(row)
    return rows
