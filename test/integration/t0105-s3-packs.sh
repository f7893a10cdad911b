#!/bin/bash
# Packs on a real S3 server (Ceph RGW): a repository on s3:// puts the
# chunks of large files into pack objects by default; import and export
# of a large file then take a request per pack, not per chunk; a re-import
# finds every chunk through the chunk index and uploads nothing; an edit
# uploads only what changed; a file written through a mount is packed;
# mounts read packed chunks, through a cache daemon too; a damaged or
# missing pack is a clear error, never data.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"
. "$(dirname "$0")/lib-mount.sh"
. "$(dirname "$0")/lib-cache.sh"

export T9KFS_AUTHOR=tester

requests() { sed -n 's/.*: \([0-9]*\) requests, .*/\1/p' "$1" | tail -n 1; }
up_bytes() { sed -n 's/.*heads skipped, \(.*\) up, .*/\1/p' "$1" | tail -n 1; }
count() { store_tool "$(s3_url "repos/$1")" count "$2"; }

test_expect_success 'packs are on by default on s3://, off on file://' '
	t9kfs repo create def --store "$(s3_url repos/def)" >/dev/null &&
	t9kfs repo list --json >list &&
	grep -A12 "\"name\": \"def\"" list | grep -q "\"pack_size\": 16777216" &&
	t9kfs repo create local --store "file://$TEST_DIR/local" >/dev/null &&
	t9kfs repo list --json >list &&
	! grep -A12 "\"name\": \"local\"" list | grep -q "\"pack_size\": [1-9]"
'

# Chunks of ~256 KiB in packs of 4 MiB: a 40 MB file is ~150 chunks in
# ~10 packs.
test_expect_success 'import of a large file: a request per pack, not per chunk' '
	t9kfs repo create pk --store "$(s3_url repos/pk)" --min 64K --avg 256K --max 1M \
		--pack-size 4M >/dev/null &&
	mkdir -p src/d && head -c 40000000 /dev/urandom >src/big.bin &&
	for i in 1 2 3 4 5; do head -c 200000 /dev/urandom >src/d/s$i; done &&
	T9KFS_LOG=info t9kfs import src pk@main -m "v1" >/dev/null 2>log &&
	packs=$(count pk packs/) &&
	{ [ "$packs" -ge 9 ] && [ "$packs" -le 12 ]; } &&
	[ "$(count pk chunks/)" -le 10 ] &&
	n=$(requests log) &&
	{ [ "$n" -lt 60 ] || { echo "import made $n requests"; exit 1; }; }
'

test_expect_success 'export of it: the same bytes, a request per pack range' '
	T9KFS_LOG=info t9kfs export pk@main out1 >/dev/null 2>log &&
	diff -r src out1 &&
	n=$(requests log) &&
	{ [ "$n" -lt 60 ] || { echo "export made $n requests"; exit 1; }; }
'

test_expect_success 'a re-import finds every chunk in the index: nothing uploaded' '
	packs=$(count pk packs/) &&
	T9KFS_LOG=info t9kfs import src pk@main:again -m "v2" >/dev/null 2>log &&
	[ "$(up_bytes log)" = "0 B" ] &&
	[ "$(count pk packs/)" = "$packs" ] &&
	t9kfs export pk@main:again out2 >/dev/null && diff -r src out2
'

test_expect_success 'an edit in the middle of the file uploads about what changed' '
	packs=$(count pk packs/) &&
	mkdir -p v3 &&
	{ head -c 20000000 src/big.bin && echo inserted && tail -c +20000001 src/big.bin; } \
		>v3/big.bin &&
	T9KFS_LOG=info t9kfs import v3 pk@main:v3 -m "v3" >/dev/null 2>log &&
	[ "$(count pk packs/)" = $((packs + 1)) ] &&
	t9kfs export pk@main:v3 out3 >/dev/null && cmp v3/big.bin out3/big.bin
'

test_expect_success 'a mount reads packed chunks from the store' '
	mount_t9kfs pk@main mnt &&
	cmp src/big.bin mnt/big.bin &&
	cmp v3/big.bin mnt/v3/big.bin &&
	umount_t9kfs mnt
'

test_expect_success 'a file written through a branch mount goes into packs' '
	packs=$(count pk packs/) &&
	head -c 12000000 /dev/urandom >ckpt.bin &&
	mount_t9kfs pk@main mnt &&
	cp ckpt.bin mnt/ckpt.bin && sync -f mnt/ckpt.bin &&
	umount_t9kfs mnt &&
	[ "$(count pk packs/)" -gt "$packs" ] &&
	t9kfs commit pk@main -m "ckpt" >/dev/null &&
	t9kfs get pk@main:ckpt.bin ckpt.out && cmp ckpt.bin ckpt.out
'

test_expect_success 'a mount reads packed chunks through a cache daemon, warmup too' '
	start_daemon c1 --capacity 256M &&
	mount_t9kfs pk@main mnt --cache "$D/c1/cache.sock" &&
	cmp src/big.bin mnt/big.bin &&
	umount_t9kfs mnt &&
	misses=$(stat_of c1 misses) && [ "$misses" -gt 0 ] &&
	mount_t9kfs pk@main mnt --cache "$D/c1/cache.sock" &&
	cmp src/big.bin mnt/big.bin &&
	umount_t9kfs mnt &&
	[ "$(stat_of c1 misses)" = "$misses" ] &&
	t9kfs warmup pk@main v3 --cache "$D/c1/cache.sock" >out &&
	! grep -q "packs skipped" out &&
	[ "$(stat_of c1 misses)" -gt "$misses" ] &&
	stop_daemon c1 && daemon_logs_clean
'

# A repository of one file, so that every pack is that file's.
test_expect_success 'a damaged pack: export fails naming the chunk, leaves no file' '
	t9kfs repo create one --store "$(s3_url repos/one)" --min 64K --avg 256K --max 1M \
		--pack-size 4M >/dev/null &&
	mkdir -p one && head -c 20000000 /dev/urandom >one/big.bin &&
	t9kfs import one one@main -m "v1" >/dev/null &&
	key=$(store_tool "$(s3_url repos/one)" list packs/ | sort -k2 -n | sed -n "\$s/ .*//p") &&
	store_tool "$(s3_url repos/one)" cat "$key" >pack &&
	b=$(od -An -tu1 -j100000 -N1 pack | tr -d " ") &&
	printf "\\$(printf %o $((255 - b)))" | dd of=pack bs=1 seek=100000 conv=notrunc 2>/dev/null &&
	! store_tool "$(s3_url repos/one)" cat "$key" | cmp -s - pack &&
	store_tool "$(s3_url repos/one)" put-file "$key" pack &&
	test_must_fail t9kfs export one@main out4 2>err &&
	test_one_line_error err "corrupt" &&
	grep -q "big.bin" err &&
	[ ! -e out4/big.bin ]
'

test_expect_success 'a missing pack: export fails with a clear error, no file' '
	key=$(store_tool "$(s3_url repos/one)" list packs/ | sed -n "1s/ .*//p") &&
	store_tool "$(s3_url repos/one)" delete "$key" &&
	test_must_fail t9kfs export one@main out5 2>err &&
	test_one_line_error err "${key#packs/}" &&
	grep -q "not found" err &&
	[ ! -e out5/big.bin ]
'

test_done
