#!/bin/bash
# `make demo`: the main job on the embedded default. Starts a local
# metadata server under a temporary T9KFS_HOME, creates a repository from a
# small generated dataset, branches, changes a few files, commits with
# metadata, shows log, diff and compare, mounts the result with FUSE, runs
# a "training" job on it recorded as a commit (t9kfs run, show, log
# --input), renders it as a Kubernetes job, and serves the data to "pods"
# through the CSI driver (as root, scripts/demo-csi.sh). Cleans up after itself (unmounting too), so it
# runs twice in a row.
set -euo pipefail
cd "$(dirname "$0")/.."
T9KFS=$PWD/t9kfs
export T9KFS_HOME=$(mktemp -d /tmp/t9kfs-demo.XXXXXX)
export T9KFS_AUTHOR="demo <demo@t9kfs>"
cleanup() {
	"$T9KFS" umount "$T9KFS_HOME/mnt" >/dev/null 2>&1 || true
	"$T9KFS" server stop >/dev/null 2>&1 || true
	rm -rf "$T9KFS_HOME"
}
trap cleanup EXIT
data=$T9KFS_HOME/dataset

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

# A small image-classification-like dataset: 3 classes x 40 files of
# 20-200 KiB random bytes, labels and a README.
mkdir -p "$data"
for cls in cat dog bird; do
	mkdir -p "$data/train/$cls"
	for i in $(seq -w 1 40); do
		head -c $(((RANDOM % 180 + 20) * 1024)) /dev/urandom >"$data/train/$cls/$i.jpg"
	done
done
for i in $(seq 1 120); do echo "$i,$((i % 3))"; done >"$data/labels.csv"
echo "toy dataset v1" >"$data/README"

run "$T9KFS" server start
run "$T9KFS" repo create toy
run "$T9KFS" import "$data" toy@main -m "import v1" --meta source=generated --meta samples=120
run "$T9KFS" ls -l toy@main
run "$T9KFS" branch create toy@relabel --from main

# change a few files on the branch: relabel, drop a bad image, add one
step "t9kfs put / rm on toy@relabel"
sed 's/,0$/,2/' "$data/labels.csv" >"$T9KFS_HOME/labels.csv"
"$T9KFS" put "$T9KFS_HOME/labels.csv" toy@relabel:labels.csv
"$T9KFS" rm toy@relabel:train/dog/07.jpg
head -c 65536 /dev/urandom >"$T9KFS_HOME/new.jpg"
"$T9KFS" put "$T9KFS_HOME/new.jpg" toy@relabel:train/bird/41.jpg
run "$T9KFS" status toy@relabel
run "$T9KFS" commit toy@relabel -m "relabel class 0 as 2, drop a bad image" --meta lr=0.01 --meta val_acc=0.87
run "$T9KFS" log --meta toy@relabel
run "$T9KFS" diff toy@main toy@relabel
run "$T9KFS" compare toy@main toy@relabel
run "$T9KFS" merge toy@relabel toy@main
run "$T9KFS" export toy@main:train/bird "$T9KFS_HOME/export"
step "ls $T9KFS_HOME/export | wc -l"
ls "$T9KFS_HOME/export" | wc -l

# storage that does not grow forever: retention rules, accounting, gc
run "$T9KFS" branch delete toy@relabel
# (no grace period here: nothing else writes to this demo's store)
run "$T9KFS" retention set toy --keep-last 1 --grace 0s --min-grace 0s
run "$T9KFS" du toy
run "$T9KFS" gc toy --dry-run
run "$T9KFS" gc toy
# who may do what: a token that may only read toy
run "$T9KFS" token create reader --repo toy:read --expires 1d
run "$T9KFS" token list
# the web console, served by the same server
run "$T9KFS" ui
step "curl -s \$(t9kfs ui) | grep -o '<title>.*</title>'"
curl -s "$("$T9KFS" ui)" | grep -o '<title>.*</title>' || true

if [ -e /dev/fuse ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$T9KFS_HOME/mnt"
	run "$T9KFS" mount toy@main "$T9KFS_HOME/mnt"
	step "ls $T9KFS_HOME/mnt/train; cmp of a mounted file with the source"
	ls "$T9KFS_HOME/mnt/train"
	cmp "$T9KFS_HOME/mnt/train/cat/01.jpg" "$data/train/cat/01.jpg" && echo "identical"
	run "$T9KFS" umount "$T9KFS_HOME/mnt"
	# a training run with its data declared, recorded as a commit
	run "$T9KFS" branch create toy@runs --from main
	cat >"$T9KFS_HOME/train.sh" <<-\EOF
	#!/bin/sh
	# counts the images of each class as its "model"; logs two metrics
	for c in /data/*; do echo "$(basename "$c") $(ls "$c" | wc -l)"; done >"$T9KFS_OUTPUT/model.txt"
	echo '{"step": 1, "loss": 0.9, "acc": 0.51}' >>"$T9KFS_METRICS"
	echo '{"step": 2, "loss": 0.4, "acc": 0.83}' >>"$T9KFS_METRICS"
	echo "trained on $(cat /data/*/* | wc -c) bytes"
	EOF
	chmod +x "$T9KFS_HOME/train.sh"
	run "$T9KFS" run --data toy@main:train=/data --output toy@runs="$T9KFS_HOME/out" \
		--param lr=0.01 -- "$T9KFS_HOME/train.sh"
	run "$T9KFS" show toy@runs
	run "$T9KFS" log --input toy@main --repo toy
	step "$T9KFS job submit --dry-run --image pytorch/pytorch:2.3 --workers 2 --gpus 1 ...  (first 40 lines)"
	"$T9KFS" job submit --dry-run --image pytorch/pytorch:2.3 --workers 2 --gpus 1 \
		--data toy@main:train=/data --output toy@runs=/out --param lr=0.01 -- python train.py \
		>"$T9KFS_HOME/job.yaml"
	sed -n 1,40p "$T9KFS_HOME/job.yaml"
	if /usr/bin/python3 -c "import grpc, grpc_tools" 2>/dev/null; then
		scripts/demo-csi.sh
	else
		step "skipping the CSI driver: needs python3-grpcio and python3-grpc-tools"
	fi
else
	step "skipping the mount and the CSI driver: they need root and /dev/fuse"
fi
