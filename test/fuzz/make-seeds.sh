#!/bin/sh
# Writes the small valid seed objects of the fuzz targets into
# DIR/<target>/ (default build/fuzz/seeds), following the layouts in
# meta/object.h and cache/proto.h. `make fuzz` runs it; nothing it
# writes is committed.
set -e
out=${1:-build/fuzz/seeds}

# le VALUE BYTES: VALUE as BYTES little-endian bytes
le() {
	v=$1 n=$2
	while [ "$n" -gt 0 ]; do
		printf "\\$(printf %03o $((v & 255)))"
		v=$((v >> 8)) n=$((n - 1))
	done
}
# oid BYTE: a 32-byte id of one repeated byte
oid() {
	e="\\$(printf %03o "$1")" k=32
	while [ "$k" -gt 0 ]; do printf "$e"; k=$((k - 1)); done
}
# str LENBYTES TEXT: length-prefixed text
str() { le ${#2} "$1"; printf %s "$2"; }
# entry NAME MODE SIZE MTIME: leaf item with an id payload
entry() { str 2 "$1"; le "$2" 4; le "$3" 8; le "$4" 8; le 0 1; oid 7; }
# chunk_entry NAME SIZE: a file of exactly one chunk (payload 2)
chunk_entry() { str 2 "$1"; le 33188 4; le "$2" 8; le 6 8; le 2 1; oid 8; }
# inline_entry NAME MODE TEXT: leaf item with inline bytes
inline_entry() { str 2 "$1"; le "$2" 4; le ${#3} 8; le 5 8; le 1 1; str 4 "$3"; }

# Tree version 2 (meta/object.h): after mtime a flags byte (1 owner, 2
# link group, 4 subdirectory count), then uid+gid, a device's
# major+minor, link id+nlink, the count, and payload 3 (none) for special
# files.
# owned_entry NAME MODE UID GID TEXT: an inline file with an owner
owned_entry() { str 2 "$1"; le "$2" 4; le ${#5} 8; le 5 8; le 1 1; le "$3" 4; le "$4" 4;
	le 1 1; str 4 "$5"; }
# special_entry NAME MODE [MAJOR MINOR]: a fifo, socket or device, no owner
special_entry() { str 2 "$1"; le "$2" 4; le 0 8; le 9 8; le 0 1;
	[ $# -gt 2 ] && { le "$3" 4; le "$4" 4; }; le 3 1; }
# counted_dir NAME ENTRIES SUBDIRS: an owned directory with its subdirectory count
counted_dir() { str 2 "$1"; le 16877 4; le "$2" 8; le 7 8; le 5 1; le 0 4; le 0 4;
	le "$3" 4; le 0 1; oid 9; }
# linked_entry NAME LINKID NLINK: an owned one-chunk file in a link group
linked_entry() { str 2 "$1"; le 33261 4; le 5000 8; le 6 8; le 3 1; le 1000 4; le 100 4;
	le "$2" 8; le "$3" 4; le 2 1; oid 8; }

mkdir -p $out/fuzz_manifest $out/fuzz_tree $out/fuzz_commit

{ printf 'T9KM\1\0\0\0'; le 0 8; le 0 4; } >$out/fuzz_manifest/empty
{ printf 'T9KM\1\0\0\0'; le 1000 8; le 1 4; le 0 1; oid 1; le 1000 4; } \
	>$out/fuzz_manifest/one-object
{ printf 'T9KM\1\0\0\0'; le 1300 8; le 2 4; le 0 1; oid 1; le 1000 4;
  le 1 1; oid 2; le 300 4; oid 3; le 4096 8; le 120 4; } >$out/fuzz_manifest/object-and-pack

{ printf 'T9KT\1\0\0\0'; le 0 4; } >$out/fuzz_tree/empty-leaf
{ printf 'T9KT\1\0\0\0'; le 4 4;
  entry data 16877 3 1700000000; inline_entry hi.txt 33188 'hello';
  entry model.bin 33261 123456789 -1; inline_entry z 41471 'hi.txt'; } >$out/fuzz_tree/leaf
{ printf 'T9KT\2\0\0\0'; le 8 4;
  special_entry blk 24992 8 1; special_entry chr 8630 1 3; counted_dir dir 10 3;
  special_entry fifo 4516; linked_entry h1 81985529216486895 2;
  linked_entry h2 81985529216486895 2; owned_entry own 33188 1000 1000 'data';
  special_entry sock 49645; } >$out/fuzz_tree/leaf-v2
# a version 2 leaf also holds entries without an owner (flags 0)
{ printf 'T9KT\2\0\0\0'; le 2 4; str 2 a; le 33188 4; le 1 8; le 5 8; le 0 1; le 1 1;
  str 4 'x'; owned_entry b 33188 0 0 'y'; } >$out/fuzz_tree/leaf-v2-mixed
owned_entry alone 33188 0 0 'z' >$out/fuzz_tree/entry-v2
special_entry dev 8630 1 5 >$out/fuzz_tree/entry-v2-device
{ printf 'T9KT\1\1\0\0'; le 2 4; str 2 m; oid 4; le 2 8; str 2 zz; oid 5; le 3 8; } \
	>$out/fuzz_tree/inner
inline_entry notes 33188 'x' >$out/fuzz_tree/entry
chunk_entry img.jpg 100000 >$out/fuzz_tree/chunk-entry
{ printf 'T9KT\1\0\0\0'; le 2 4; chunk_entry a.jpg 4097; chunk_entry b.jpg 4194304; } \
	>$out/fuzz_tree/chunk-leaf

{ printf 'T9KK\1\0\0\0'; oid 9; le 0 8; le 0 2; le 0 4; le 0 2; } >$out/fuzz_commit/root
{ printf 'T9KK\1\2\0\0'; oid 9; oid 10; oid 11; le 1700000000000000000 8;
  str 2 'Ada <ada@example.org>'; str 4 'merge experiment'; le 2 2;
  str 2 loss; str 4 0.25; str 2 lr; str 4 0.1; } >$out/fuzz_commit/merge

# fuzz_cache_proto: a selector byte (1: GET, then its flags byte and
# payload; 2: HELLO; 3: DROP; 4: CHUNK), see test/fuzz/fuzz_cache_proto.c.
# get_head FLAGS N: selector, flags, store URL, item count
get_head() { le 1 1; le "$1" 1; str 2 file:///srv/store; le "$2" 4; }
mkdir -p $out/fuzz_cache_proto
# today's items: 32 id, u32 len
{ get_head 0 2; oid 1; le 4096 4; oid 2; le 1 4; } >$out/fuzz_cache_proto/get-objects
# F_LOC (16) | F_WARM (4): 32 id, u32 len, u8 loc, and for loc 1
# 32 pack id, u64 off, u32 stored_len
{ get_head 20 3; oid 1; le 4096 4; le 0 1;
  oid 2; le 300 4; le 1 1; oid 3; le 4096 8; le 120 4;
  oid 4; le 70000 4; le 1 1; oid 3; le 4216 8; le 70012 4; } >$out/fuzz_cache_proto/get-located
{ get_head 16 1; oid 5; le 1 4; le 1 1; oid 6; le 0 8; le 13 4; } \
	>$out/fuzz_cache_proto/get-one-packed
{ le 2 1; le 1 1; le 1 1; } >$out/fuzz_cache_proto/hello
{ le 3 1; oid 7; le 100 4; } >$out/fuzz_cache_proto/drop
{ le 4 1; le 0 4; le 2 1; le 2 1; le 0 2; oid 8; le 100 4; } >$out/fuzz_cache_proto/chunk
