# Helpers for the gc tests (t0106 on file://, t0107 on a real S3 server).
# Source it after lib.sh:
#   jq_ FILE EXPR            a Python expression over the JSON in FILE (as d)
#   jlist FILE EXPR          the same, a list printed one item a line, sorted
#   gc_json OUT ARGS...      t9kfs gc --json ARGS, the result into OUT
#   commit_at REPO@BR AGE M  commits what is staged, dated AGE ago ("3 days");
#                            prints the full commit id
#   add_file REPO@BR PATH SIZE SEED  puts SIZE random bytes (seeded) at PATH

jq_() {
	/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d})
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" "$2"
}

jlist() {
	/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for v in sorted(eval(sys.argv[2], {"d": d})): print(v)' "$1" "$2"
}

gc_json() {
	local out=$1
	shift
	t9kfs gc --json "$@" >"$out"
}

seeded() { # SIZE SEED: deterministic bytes
	/usr/bin/python3 -c 'import random, sys
r = random.Random(int(sys.argv[2]))
sys.stdout.buffer.write(r.randbytes(int(sys.argv[1])))' "$1" "$2"
}

add_file() {
	local spec=$1 path=$2 size=$3 seed=$4 f
	f=$(mktemp "$TEST_DIR/add.XXXXXX")
	seeded "$size" "$seed" >"$f"
	t9kfs put "$f" "$spec:$path" >/dev/null
	rm -f "$f"
}

commit_at() {
	local spec=$1 age=$2 msg=$3 short
	short=$(t9kfs commit "$spec" -m "$msg" --date "@$(date -d "-$age" +%s)" |
		sed -n 's/^committed \([0-9a-f]*\) .*/\1/p')
	t9kfs show --json "${spec%@*}@$short" | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["id"])'
}
