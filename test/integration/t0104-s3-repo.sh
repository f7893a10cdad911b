#!/bin/bash
# A repository whose store is s3:// (a real Ceph RGW started by lib-s3.sh),
# end to end through the local server: create (packs of 16 MiB by
# default), the chunk index's pack check, import, commit, branch, merge,
# export; a re-import uploads no chunk again; a chunk missing
# during an export leaves no partial file; and a store that refuses every
# write moves no ref.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

test_cleanup t9kfs server stop
export T9KFS_AUTHOR=tester

test_expect_success 'repo create on s3:// writes its first commit there' '
	t9kfs repo create onS3 --store "$(s3_url repos/onS3)" >out &&
	grep -q "store s3://$S3_BUCKET/repos/onS3" out &&
	[ "$(store_tool "$(s3_url repos/onS3)" count meta/)" -ge 2 ]
'

test_expect_success 'an s3:// repository gets packs of 16 MiB unless told otherwise' '
	t9kfs repo create packs0 --store "$(s3_url repos/packs0)" --pack-size 0 >/dev/null &&
	t9kfs repo list --json | tr -d " \n" >list &&
	grep -q "\"name\":\"onS3\",\"pack_size\":16777216," list &&
	grep -q "\"name\":\"packs0\",\"pack_size\":0," list &&
	t9kfs repo delete packs0 >/dev/null
'

test_expect_success 'the chunk index checks the pack with a HEAD on the s3:// store' '
	P=5050505050505050505050505050505050505050505050505050505050505050 &&
	C=6060606060606060606060606060606060606060606060606060606060606060 &&
	body="{\"pack\":\"$P\",\"chunks\":[{\"id\":\"$C\",\"length\":9,\"offset\":1000,\"stored_length\":24}]}" &&
	idx() {
		curl -sS --unix-socket "$T9KFS_HOME/meta.sock" -o reply -w "%{http_code}" \
			-H "Authorization: Bearer $(cat "$T9KFS_HOME/token")" "$@"
	} &&
	[ "$(idx -d "$body" http://t9kfs/api/v1/repos/onS3/chunk-index)" = 404 ] &&
	grep -q "pack $P is not in the store" reply &&
	store_tool "$(s3_url repos/onS3)" put packs/$P 1023 1 &&
	[ "$(idx -d "$body" http://t9kfs/api/v1/repos/onS3/chunk-index)" = 400 ] &&
	grep -q "is 1023 bytes, but a chunk range ends at 1024" reply &&
	[ "$(idx http://t9kfs/api/v1/repos/onS3/chunk-index/$C)" = 404 ] &&
	store_tool "$(s3_url repos/onS3)" put packs/$P 1024 1 &&
	[ "$(idx -d "$body" http://t9kfs/api/v1/repos/onS3/chunk-index)" = 200 ] &&
	[ "$(idx http://t9kfs/api/v1/repos/onS3/chunk-index/$C)" = 200 ] &&
	grep -q "^{\"pack\":\"$P\",\"offset\":1000,\"stored_length\":24,\"length\":9}$" reply
'

test_expect_success 'import -m, export: the same tree comes back' '
	mkdir -p src/a && head -c 3000000 /dev/urandom >src/a/big.bin &&
	for i in 1 2 3 4 5; do echo "small $i" >src/a/s$i.txt; done &&
	ln -s a/big.bin src/link &&
	t9kfs import src onS3@main -m "v1" >/dev/null &&
	t9kfs export onS3@main out1 && diff -r src out1 &&
	[ "$(store_tool "$(s3_url repos/onS3)" count chunks/)" -ge 1 ]
'

test_expect_success 'branch, put, commit, merge on s3://' '
	t9kfs branch create onS3@exp &&
	echo new >n && t9kfs put n onS3@exp:a/new.txt &&
	t9kfs commit onS3@exp -m "add" >/dev/null &&
	t9kfs merge onS3@exp onS3@main | grep -q fast-forwarded &&
	t9kfs cat onS3@main:a/new.txt | grep -q new
'

# The client's store counters, logged at close: "... N heads skipped, X up, Y down".
up_bytes() { sed -n 's/.*heads skipped, \(.*\) up, .*/\1/p' "$1" | tail -n 1; }
skipped() { sed -n 's/.* \([0-9]*\) heads skipped.*/\1/p' "$1" | tail -n 1; }

test_expect_success 'a fresh import skips most HEADs; a re-import uploads no chunk again' '
	t9kfs repo create dedup --store "$(s3_url repos/dedup)" >/dev/null &&
	mkdir -p dd/d && head -c 12000000 /dev/urandom >dd/big.bin &&
	for i in $(seq 1 30); do head -c 300000 /dev/urandom >dd/d/f$i; done &&
	T9KFS_LOG=info t9kfs import dd dedup@main -m "v1" >/dev/null 2>log1 &&
	[ "$(skipped log1)" -gt 0 ] &&
	chunks=$(store_tool "$(s3_url repos/dedup)" count chunks/) &&
	packs=$(store_tool "$(s3_url repos/dedup)" count packs/) &&
	[ "$chunks" -ge 30 ] && [ "$packs" -ge 1 ] &&
	T9KFS_LOG=info t9kfs import dd dedup@main:again -m "v2" >/dev/null 2>log2 &&
	[ "$(skipped log2)" = 0 ] &&
	[ "$(up_bytes log2)" = "0 B" ] &&
	[ "$(store_tool "$(s3_url repos/dedup)" count chunks/)" = "$chunks" ] &&
	[ "$(store_tool "$(s3_url repos/dedup)" count packs/)" = "$packs" ] &&
	t9kfs export dedup@main:again dd-out && diff -r dd dd-out
'

requests() { sed -n 's/.*: \([0-9]*\) requests, .*/\1/p' "$1" | tail -n 1; }

# How many metadata objects of store URL are file manifests (magic "T9KM"
# after the 12-byte object header, zstd-compressed when byte 5 is 1).
manifests() {
	local key n=0 magic
	for key in $(store_tool "$1" list meta/ | cut -d" " -f1); do
		store_tool "$1" cat "$key" >obj || return 1
		if [ "$(od -An -tu1 -j5 -N1 obj | tr -d " ")" = 1 ]; then
			magic=$(tail -c +13 obj | zstd -dc | head -c 4)
		else
			magic=$(tail -c +13 obj | head -c 4)
		fi
		[ "$magic" = T9KM ] && n=$((n + 1))
	done
	echo "$n"
}

# A file of one chunk is one object: its import PUTs the chunk and no
# manifest, and an export GETs just the chunk. With a manifest per file
# both took more than 2 requests per file; now they stay under 2.
test_expect_success 'one-chunk files: one object each, same bytes back' '
	t9kfs repo create single --store "$(s3_url repos/single)" >/dev/null &&
	mkdir -p sg/d && for i in $(seq 1 40); do head -c 100000 /dev/urandom >sg/d/f$i; done &&
	head -c 9000000 /dev/urandom >sg/big &&
	T9KFS_LOG=info t9kfs import sg/d single@main:d -m "v1" >/dev/null 2>log &&
	[ "$(store_tool "$(s3_url repos/single)" count chunks/)" = 40 ] &&
	[ "$(manifests "$(s3_url repos/single)")" = 0 ] &&
	n=$(requests log) &&
	{ [ "$n" -lt 80 ] || { echo "import made $n requests for 40 one-chunk files"; exit 1; }; } &&
	t9kfs stat --json single@main:d/f7 | grep -q "\"chunk\"" &&
	t9kfs put sg/big single@main:big && t9kfs commit single@main -m "v2" >/dev/null &&
	[ "$(manifests "$(s3_url repos/single)")" = 1 ] &&
	T9KFS_LOG=info t9kfs export single@main sg-out >/dev/null 2>log &&
	diff -r sg sg-out &&
	n=$(requests log) &&
	{ [ "$n" -lt 80 ] || { echo "export made $n requests for 40 one-chunk files"; exit 1; }; }
'

test_expect_success 'a pack missing during an export: clear error, no partial file' '
	t9kfs repo create holes --store "$(s3_url repos/holes)" >/dev/null &&
	mkdir hs && head -c 40000000 /dev/urandom >hs/big.bin &&
	t9kfs import hs holes@main -m "v1" >/dev/null &&
	key=$(store_tool "$(s3_url repos/holes)" list packs/ | sed -n "2s/ .*//p") &&
	[ -n "$key" ] &&
	store_tool "$(s3_url repos/holes)" delete "$key" &&
	test_must_fail t9kfs export holes@main hs-out 2>err &&
	test_one_line_error err "big.bin" &&
	grep -q "not found" err &&
	[ ! -e hs-out/big.bin ]
'

test_expect_success 'a store that refuses writes: clear error, no ref moves, nothing staged' '
	head=$(t9kfs log --oneline -n 1 onS3@main) &&
	mkdir more && head -c 500000 /dev/urandom >more/x.bin &&
	test_must_fail env AWS_SECRET_ACCESS_KEY=wrong "$T9KFS_BIN" import more onS3@main -m "bad" 2>err &&
	test_one_line_error err "SignatureDoesNotMatch" &&
	[ "$(t9kfs log --oneline -n 1 onS3@main)" = "$head" ] &&
	t9kfs status onS3@main | grep -q "nothing staged"
'

test_expect_success 'a repo on an unreachable store is refused and not created' '
	test_must_fail t9kfs repo create nowhere \
		--store "s3://b/p?endpoint=http://127.0.0.1:9&deadline=2" 2>err &&
	test_one_line_error err "127.0.0.1:9" &&
	! t9kfs repo list | grep -q nowhere
'

test_done
