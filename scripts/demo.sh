#!/bin/bash
# `make demo`: what t9kfs does today, on the embedded default store.
# Builds nothing itself (make demo builds ./t9kfs first); keeps its state in
# a temporary T9KFS_HOME and removes it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
T9KFS=$PWD/t9kfs
export T9KFS_HOME=$(mktemp -d /tmp/t9kfs-demo.XXXXXX)
trap 'rm -rf "$T9KFS_HOME"' EXIT
work=$T9KFS_HOME/work
mkdir -p "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a 64 MiB 'dataset' shard: half random bytes, half text"
head -c 33554432 /dev/urandom >"$work/shard.bin"
head -c 33554432 < <(yes "image_0001.jpg,label=cat,split=train") >>"$work/shard.bin"
ls -l "$work/shard.bin"

step "t9kfs chunk put: content-defined chunks, SHA-256 ids, zstd where it pays"
"$T9KFS" chunk put "$work/shard.bin" >"$work/v1.manifest"
head -n 3 "$work/v1.manifest"; echo "... ($(wc -l <"$work/v1.manifest") chunks)"

step "edit the shard: insert 9 bytes at offset 1,000,000, then store it again"
{ head -c 1000000 "$work/shard.bin"; printf 'INSERTED!'; tail -c +1000001 "$work/shard.bin"; } >"$work/shard2.bin"
"$T9KFS" chunk put "$work/shard2.bin" >"$work/v2.manifest"
shared=$(comm -12 <(cut -d' ' -f1 "$work/v1.manifest" | sort) <(cut -d' ' -f1 "$work/v2.manifest" | sort) | wc -l)
echo "chunks shared by both versions: $shared of $(wc -l <"$work/v2.manifest")"

step "read version 2 back from its chunks, verified against their ids"
"$T9KFS" chunk get -o "$work/restored.bin" $(cut -d' ' -f1 "$work/v2.manifest")
cmp "$work/shard2.bin" "$work/restored.bin" && echo "restored file is identical"

step "t9kfs chunk verify: every stored chunk checked"
"$T9KFS" chunk verify
du -sh "$T9KFS_HOME/store"
