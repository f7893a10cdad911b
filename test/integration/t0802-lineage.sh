#!/bin/bash
# Lineage and comparison of runs, against the embedded local server: run
# commits written with the layout of README "Experiments are commits"
# (as 't9kfs run' writes them), then show, compare (ranges, globs, mixes,
# --json, --only-changed) and log --input, and their errors.
. "$(dirname "$0")/lib.sh"

test_cleanup t9kfs server stop
export T9KFS_AUTHOR="tester"

# mkrun BRANCH RUNID STATUS EXIT LR LOSS INPUT...: commits a run's record
# on models@BRANCH and prints the commit id.
mkrun() {
	local branch=$1 id=$2 status=$3 code=$4 lr=$5 loss=$6 n=0 in word=ok
	local args=()
	shift 6
	for in in "$@"; do
		args+=(--meta "input.$n=$in" --meta "input.$n.dir=/data$n")
		n=$((n + 1))
	done
	[ "$status" = ok ] || word="exit $code"
	mkdir -p rec
	printf '{"step":1,"loss":%s}\n' "$loss" >rec/metrics.jsonl
	printf '{"run.id":"%s"}\n' "$id" >rec/run.json
	echo "training $id" >rec/run.log
	echo "model of $id" >rec/model.bin
	for f in metrics.jsonl run.json run.log; do
		t9kfs put rec/$f "models@$branch:.t9kfs/$f" >/dev/null
	done
	t9kfs put rec/model.bin "models@$branch:model.bin" >/dev/null
	t9kfs commit "models@$branch" -m "run $id: python train.py --lr $lr ($word)" \
		--meta run.id="$id" --meta run.command="python train.py --lr $lr" \
		--meta run.status="$status" --meta run.exit_code="$code" \
		--meta run.start=2025-01-01T00:00:00Z --meta run.end=2025-01-01T00:00:12Z \
		--meta run.duration_s=12.5 --meta run.host=node1 "${args[@]}" \
		--meta output="models@$branch" --meta output.dir=/out \
		--meta param.lr="$lr" --meta param.epochs=3 \
		--meta metric.loss="$loss" --meta metric.acc=0.9 | awk '{print $2}'
}

cid() { cat "ids/$1"; }

test_expect_success 'setup: two data commits, another repo, runs on exp-a, exp-b, sweep, main, long' '
	mkdir ids &&
	t9kfs repo create data >/dev/null && t9kfs repo create other >/dev/null &&
	t9kfs repo create models >/dev/null &&
	echo a >a && echo b >b &&
	t9kfs put a data@main:train/a >/dev/null && t9kfs put a data@main:val/a >/dev/null &&
	t9kfs commit data@main -m "data v1" --meta source=imagenet | awk "{print \$2}" >ids/D1 &&
	t9kfs tag create data@v1 --from main >/dev/null &&
	t9kfs put b data@main:train/b >/dev/null &&
	t9kfs commit data@main -m "data v2" --meta source=imagenet2 | awk "{print \$2}" >ids/D2 &&
	t9kfs put a other@main:x/a >/dev/null &&
	t9kfs commit other@main -m "other data" | awk "{print \$2}" >ids/O1 &&
	D1=$(cid D1) D2=$(cid D2) O1=$(cid O1) &&
	for b in exp-a exp-b sweep side long; do
		t9kfs branch create models@$b --from main >/dev/null || return 1
	done &&
	mkrun exp-a r1 ok 0 0.1 0.31 "data@$D1:train" >ids/R1 &&
	mkrun exp-b r2 failed 1 0.01 0.25 "data@$D2:train" >ids/R2 &&
	t9kfs branch create models@keep --from exp-a >/dev/null &&
	mkrun sweep r3 ok 0 0.3 0.5 "data@$D1" "other@$O1:x" >ids/R3 &&
	mkrun sweep r4 ok 0 0.2 0.4 "data@$D2:train" >ids/R4 &&
	mkrun sweep r5 ok 0 0.1 0.3 "other@$O1:x" >ids/R5 &&
	mkrun side r6 ok 0 0.1 0.2 "data@$D1:val" >ids/R6 &&
	t9kfs put a models@main:notes.txt >/dev/null &&
	t9kfs commit models@main -m "notes" >/dev/null &&
	t9kfs merge -m "merge side" models@side models@main | grep -q "merged into" &&
	t9kfs branch delete models@side >/dev/null &&
	mkrun long r8 ok 0 0.1 0.9 "data@$D1:train" >ids/R8 &&
	for i in $(seq 101); do
		t9kfs commit --allow-empty models@long -m "step $i" >/dev/null || return 1
	done &&
	for r in R1 R2 R3 R4 R5 R6 R8; do [ ${#D1} = 64 ] && [ "$(cid $r | wc -c)" = 65 ] || return 1; done
'

test_expect_success 'show: a run, grouped: status, command, times, inputs with their names, output, params, metrics' '
	t9kfs show models@exp-a >out &&
	grep -q "^commit $(cid R1)$" out &&
	grep -q "^Author:  tester <admin>$" out &&
	grep -q "^    run r1: python train.py --lr 0.1 (ok)$" out &&
	grep -q "^Run r1$" out &&
	grep -q "^  status  *ok (exit code 0)$" out &&
	grep -q "^  command  *python train.py --lr 0.1$" out &&
	grep -q "^  start  *2025-01-01T00:00:00Z$" out &&
	grep -q "^  duration  *12.5 s$" out &&
	grep -q "^  host  *node1$" out &&
	grep -q "^Inputs$" out &&
	grep -q "^  input.0  *data@$(cid D1):train at /data0 (tag v1)$" out &&
	grep -q "^  output  *models@exp-a at /out$" out &&
	grep -q "^Params$" out && grep -q "^  lr  *0.1$" out && grep -q "^  epochs  *3$" out &&
	grep -q "^Metrics$" out && grep -q "^  loss  *0.31$" out &&
	t9kfs show models@exp-b >out &&
	grep -q "^  status  *failed (exit code 1)$" out &&
	grep -q "^  input.0  *data@$(cid D2):train at /data0 (branch main)$" out &&
	t9kfs show models@sweep~2 >out &&
	grep -q "^  input.0  *data@$(cid D1) at /data0 (tag v1)$" out &&
	grep -q "^  input.1  *other@$(cid O1):x at /data1 (branch main)$" out
'

test_expect_success 'show: a plain commit, its meta; by id prefix and tag' '
	t9kfs show data@v1 >out &&
	grep -q "^commit $(cid D1)$" out && grep -q "^    data v1$" out &&
	grep -q "^Meta$" out && grep -q "^  source  *imagenet$" out &&
	! grep -q "^Run" out &&
	D1=$(cid D1) && t9kfs show data@${D1:0:10} >out2 && test_cmp out out2
'

test_expect_success 'show --json: the commit as served plus the run grouped' '
	t9kfs show --json models@exp-a >j &&
	D1=$(cid D1) R1=$(cid R1) python3 -c "
import json, os, sys
c = json.load(open(\"j\"))
assert c[\"id\"] == os.environ[\"R1\"] and c[\"message\"].startswith(\"run r1:\")
assert len(c[\"parents\"]) == 1 and c[\"author\"] == \"tester <admin>\" and c[\"root\"]
assert c[\"meta\"][\"param.lr\"] == \"0.1\"
r = c[\"run\"]
assert r[\"id\"] == \"r1\" and r[\"status\"] == \"ok\" and r[\"exit_code\"] == 0
assert r[\"duration_s\"] == 12.5 and r[\"host\"] == \"node1\"
assert r[\"command\"] == \"python train.py --lr 0.1\"
assert r[\"start\"] == \"2025-01-01T00:00:00Z\" and r[\"end\"] == \"2025-01-01T00:00:12Z\"
i = r[\"inputs\"]
assert len(i) == 1 and i[0][\"repo\"] == \"data\" and i[0][\"commit\"] == os.environ[\"D1\"]
assert i[0][\"path\"] == \"train\" and i[0][\"dir\"] == \"/data0\" and i[0][\"names\"] == [\"tag/v1\"]
assert r[\"output\"][\"repo\"] == \"models\" and r[\"output\"][\"branch\"] == \"exp-a\"
assert r[\"output\"][\"dir\"] == \"/out\"
assert r[\"params\"] == {\"lr\": \"0.1\", \"epochs\": \"3\"}
assert r[\"metrics\"] == {\"loss\": 0.31, \"acc\": 0.9}
assert r[\"other\"] == {}
" &&
	grep -q "\"acc\": 0.9,\?$" j &&
	t9kfs show --json data@v1 >j &&
	python3 -c "import json; c = json.load(open(\"j\")); assert c[\"run\"] is None and c[\"meta\"] == {\"source\": \"imagenet\"}"
'

test_expect_success 'show: odd records: a gone input repository, a string metric, no @' '
	t9kfs repo create gone >/dev/null &&
	G=$(t9kfs log --oneline gone@main | cut -c1-12) &&
	t9kfs branch create models@odd --from main >/dev/null &&
	t9kfs commit --allow-empty models@odd -m "odd run" --meta run.id=odd \
		--meta input.0=gone@$G --meta input.1=nowhere --meta input.02=x \
		--meta input.5.dir=/lonely --meta metric.note=diverged --meta metric.big=1e999 \
		--meta param.x= >/dev/null &&
	t9kfs repo delete gone >/dev/null &&
	t9kfs show models@odd >out &&
	grep -q "^  input.0  *gone@$G (its refs are unknown: repository .gone. not found)$" out &&
	grep -q "^  input.1  *nowhere (its refs are unknown: " out &&
	grep -q "^  note  *diverged$" out && grep -q "^  big  *1e999$" out &&
	grep -q "^  input.02  *x$" out && grep -q "^  input.5.dir  *\/lonely$" out &&
	t9kfs show --json models@odd >j &&
	python3 -c "
import json
r = json.load(open(\"j\"))[\"run\"]
assert r[\"metrics\"] == {\"note\": \"diverged\", \"big\": \"1e999\"}, r
assert [i[\"names\"] for i in r[\"inputs\"]] == [None, None]
assert r[\"inputs\"][1][\"repo\"] == \"\" and r[\"inputs\"][1][\"spec\"] == \"nowhere\"
assert r[\"other\"] == {\"input.02\": \"x\", \"input.5.dir\": \"/lonely\"}
assert r[\"params\"] == {\"x\": \"\"} and \"status\" not in r
" &&
	t9kfs branch delete models@odd >/dev/null
'

test_expect_success 'the run files are in the commit' '
	t9kfs cat models@exp-a:.t9kfs/metrics.jsonl | grep -q "\"loss\":0.31" &&
	t9kfs ls models@exp-a:.t9kfs >ls && printf "metrics.jsonl\nrun.json\nrun.log\n" >want &&
	test_cmp want ls
'

test_expect_success 'compare a glob: the heads of exp-*, rows grouped, differing ones marked' '
	t9kfs compare "models@exp-*" >out &&
	head -1 out | grep -q "^  *exp-a  *exp-b *$" &&
	R1=$(cid R1) R2=$(cid R2) && grep -q "^  commit  *${R1:0:12}  *${R2:0:12} *$" out &&
	grep -q "^run$" out && grep -q "^inputs$" out && grep -q "^params$" out &&
	grep -q "^metrics$" out && grep -q "^data$" out &&
	grep -q "^\* status  *ok  *failed *$" out &&
	grep -q "^\* exit_code  *0  *1 *$" out &&
	grep -q "^  duration_s  *12.5  *12.5 *$" out &&
	grep -q "^  host  *node1  *node1 *$" out &&
	D1=$(cid D1) D2=$(cid D2) &&
	grep -q "^\* input.0  *data@${D1:0:12}:train  *data@${D2:0:12}:train *$" out &&
	grep -q "^\* lr  *0.1  *0.01 *$" out &&
	grep -q "^  epochs  *3  *3 *$" out &&
	grep -q "^\* loss  *0.31  *0.25 *$" out &&
	grep -q "^  acc  *0.9  *0.9 *$" out &&
	grep -q "^  changed vs first  *-  *4 paths, [0-9]* B *$" out
'

test_expect_success 'compare --only-changed hides the rows equal in every column' '
	t9kfs compare --only-changed "models@exp-*" >out &&
	grep -q "^\* lr " out && grep -q "^\* loss " out && grep -q "^\* status " out &&
	! grep -q "^  acc " out && ! grep -q "^  epochs " out && ! grep -q "^  host " out &&
	! grep -q "^  duration_s " out &&
	grep -q "^  commit " out && grep -q "^  changed vs first " out
'

test_expect_success 'compare a range: B first-parent history after A, oldest first' '
	t9kfs compare models@sweep~3..sweep >out &&
	head -1 out | grep -q "^  *sweep~2  *sweep~1  *sweep *$" &&
	R3=$(cid R3) R4=$(cid R4) R5=$(cid R5) &&
	grep -q "^  commit  *${R3:0:12}  *${R4:0:12}  *${R5:0:12} *$" out &&
	grep -q "^\* lr  *0.3  *0.2  *0.1 *$" out &&
	O1=$(cid O1) && grep -q "^\* input.1  *other@${O1:0:12}:x  *-  *- *$" out &&
	t9kfs compare models@sweep~2..sweep~1 models@exp-a >out &&
	head -1 out | grep -q "^  *sweep~1  *exp-a *$"
'

test_expect_success 'compare a mix of a range, a glob and plain refs of two repositories' '
	t9kfs compare models@sweep~2..sweep "models@exp-*" data@main >out &&
	head -1 out | grep -q "^  *models@sweep~1  *models@sweep  *models@exp-a  *models@exp-b  *data@main *$" &&
	grep -q "^  changed vs first  *-  *[0-9]* paths, [0-9]* B  *[0-9]* paths, [0-9]* B  *[0-9]* paths, [0-9]* B  *- *$" out &&
	grep -q "^\* source  *-  *-  *-  *-  *imagenet2 *$" out
'

test_expect_success 'compare --json: one object per commit with meta, run and changed' '
	t9kfs compare --json models@sweep~3..sweep models@exp-a >j &&
	R3=$(cid R3) R1=$(cid R1) python3 -c "
import json, os
a = json.load(open(\"j\"))
assert [x[\"ref\"] for x in a] == [\"sweep~2\", \"sweep~1\", \"sweep\", \"exp-a\"], a
assert a[0][\"commit\"] == os.environ[\"R3\"] and a[3][\"commit\"] == os.environ[\"R1\"]
assert all(x[\"repo\"] == \"models\" for x in a)
assert a[0][\"changed\"] is None
for x in a[1:]:
    assert set(x[\"changed\"]) == {\"added\", \"removed\", \"modified\", \"bytes\"}, x
assert a[1][\"changed\"][\"modified\"] >= 1 and a[1][\"changed\"][\"added\"] == 0
assert a[0][\"meta\"][\"param.lr\"] == \"0.3\" and a[0][\"run\"][\"params\"][\"lr\"] == \"0.3\"
assert a[0][\"run\"][\"metrics\"][\"loss\"] == 0.5 and a[3][\"run\"][\"status\"] == \"ok\"
assert a[0][\"message\"].startswith(\"run r3:\")
"
'

test_expect_success 'compare of plain commits keeps its table' '
	t9kfs compare data@main~1 data@main >out &&
	grep -q "^source  *imagenet  *imagenet2" out &&
	grep -q "^data vs first  *-  *1 paths, 2 B" out &&
	! grep -q "^params" out && ! grep -q "^\*" out &&
	t9kfs compare --only-changed data@main~1 data@v1 >out &&
	! grep -q "^source" out && grep -q "^commit" out
'

test_expect_success 'compare: at most 100 commits, said so' '
	t9kfs compare --json models@long~100..long >j &&
	python3 -c "import json; a = json.load(open(\"j\")); assert len(a) == 100 and a[-1][\"ref\"] == \"long\" and a[0][\"ref\"] == \"long~99\""  &&
	test_must_fail t9kfs compare models@long~101..long 2>err &&
	test_one_line_error err "range .models@long~101..long. holds more than 100 commits" &&
	test_must_fail t9kfs compare models@long~60..long models@long~50..long 2>err &&
	test_one_line_error err "at most 100 commits"
'

lineage_ids() {
	awk "{print \$2}" "$1" | sort
}

test_expect_success 'log --input: exactly the runs that read the data commit, each once' '
	t9kfs log --input data@v1 >out &&
	R1=$(cid R1) R3=$(cid R3) R6=$(cid R6) R8=$(cid R8) &&
	printf "%s\n" ${R1:0:12} ${R3:0:12} ${R6:0:12} ${R8:0:12} | sort >want &&
	lineage_ids out >got && test_cmp want got &&
	grep -q "^models ${R1:0:12} run r1: python train.py --lr 0.1 (ok)  (input.0: train)$" out &&
	grep -q "^models ${R3:0:12} run r3: .*  (input.0: /)$" out &&
	grep -q "^models ${R6:0:12} run r6: .*  (input.0: val)$" out
'

test_expect_success 'log --input: by id prefix, by branch, REF~N; --repo; -n' '
	D1=$(cid D1) && t9kfs log --input data@${D1:0:8} >out2 &&
	t9kfs log --input data@v1 >out && test_cmp out out2 &&
	t9kfs log --input data@main~1 >out2 && test_cmp out out2 &&
	t9kfs log --input data@main >out &&
	R2=$(cid R2) R4=$(cid R4) &&
	printf "%s\n" ${R2:0:12} ${R4:0:12} | sort >want &&
	lineage_ids out >got && test_cmp want got &&
	t9kfs log --input data@v1 --repo data >out && test ! -s out &&
	t9kfs log --input data@v1 --repo data --repo models >out && [ $(wc -l <out) = 4 ] &&
	t9kfs log --input data@v1 -n 2 >out && [ $(wc -l <out) = 2 ] &&
	t9kfs log --input other@main >out &&
	R3=$(cid R3) R5=$(cid R5) &&
	printf "%s\n" ${R3:0:12} ${R5:0:12} | sort >want &&
	lineage_ids out >got && test_cmp want got &&
	grep -q "(input.1: x)$" out
'

test_expect_success 'log --input --json: an array of {repo, branch, commit, inputs}' '
	t9kfs log --input data@v1 --json >j &&
	R1=$(cid R1) R6=$(cid R6) python3 -c "
import json, os
a = json.load(open(\"j\"))
assert len(a) == 4, a
ids = {x[\"commit\"][\"id\"] for x in a}
assert os.environ[\"R1\"] in ids and os.environ[\"R6\"] in ids
assert all(x[\"repo\"] == \"models\" for x in a)
r1 = [x for x in a if x[\"commit\"][\"id\"] == os.environ[\"R1\"]][0]
assert r1[\"branch\"] in (\"exp-a\", \"keep\") and r1[\"commit\"][\"meta\"][\"run.id\"] == \"r1\"
assert r1[\"inputs\"] == [{\"key\": \"input.0\", \"spec\": r1[\"commit\"][\"meta\"][\"input.0\"], \"path\": \"train\", \"dir\": \"/data0\"}]
r6 = [x for x in a if x[\"commit\"][\"id\"] == os.environ[\"R6\"]][0]
assert r6[\"branch\"] == \"main\"
" &&
	t9kfs log --input data@v1 --repo data --json >j &&
	python3 -c "import json; assert json.load(open(\"j\")) == []"
'

test_expect_success 'bad input: unknown repo or ref' '
	test_must_fail t9kfs show nope@main 2>err && test_one_line_error err "repository .nope. not found" &&
	test_must_fail t9kfs show models@nope 2>err &&
	test_one_line_error err "no branch, tag or commit .nope. in repository .models." &&
	test_must_fail t9kfs compare models@exp-a nope@main 2>err &&
	test_one_line_error err "repository .nope. not found" &&
	test_must_fail t9kfs compare models@exp-a models@nope 2>err &&
	test_one_line_error err "no branch, tag or commit .nope." &&
	test_must_fail t9kfs compare models@nope..exp-a 2>err &&
	test_one_line_error err "no branch, tag or commit .nope." &&
	test_must_fail t9kfs log --input nope@v1 2>err &&
	test_one_line_error err "repository .nope. not found" &&
	test_must_fail t9kfs log --input data@nope 2>err &&
	test_one_line_error err "no branch, tag or commit .nope. in repository .data." &&
	test_must_fail t9kfs log --input data@v1 --repo nope 2>err &&
	test_one_line_error err "repository .nope. not found"
'

test_expect_success 'bad input: malformed ranges, a glob matching nothing, paths' '
	test_must_fail t9kfs compare models@exp-a.. models@exp-b 2>err &&
	test_one_line_error err "malformed range .models@exp-a...: want REPO@A..B" &&
	test_must_fail t9kfs compare models@..exp-a models@exp-b 2>err &&
	test_one_line_error err "malformed range" &&
	test_must_fail t9kfs compare models@exp-a...exp-b 2>err &&
	test_one_line_error err "malformed range" &&
	test_must_fail t9kfs compare models@exp-a..exp-b 2>err &&
	test_one_line_error err "not on the first-parent history of .exp-b." &&
	test_must_fail t9kfs compare models@exp-a..exp-a models@exp-b 2>err &&
	test_one_line_error err "is empty" &&
	test_must_fail t9kfs compare "models@nothing-*" models@exp-a 2>err &&
	test_one_line_error err "no branch of repository .models. matches .nothing-\*." &&
	test_must_fail t9kfs compare models@exp-a 2>err &&
	test_one_line_error err "compare wants at least two commits" &&
	test_must_fail t9kfs compare models@exp-a:x models@exp-b 2>err &&
	test_one_line_error err "without :PATH" &&
	test_must_fail t9kfs show models@exp-a:x 2>err && test_one_line_error err "without :PATH" &&
	test_must_fail t9kfs log --input data@v1:train 2>err && test_one_line_error err "without :PATH"
'

test_expect_success 'bad input: missing arguments and options, one line each' '
	test_must_fail t9kfs show 2>err && test_one_line_error err "show wants one REPO@REF" &&
	test_must_fail t9kfs compare 2>err && test_one_line_error err "compare wants commits" &&
	test_must_fail t9kfs log --input 2>err &&
	test_one_line_error err "option .--input. wants a value" &&
	test_must_fail t9kfs log --input data@v1 models@exp-a 2>err &&
	test_one_line_error err "takes no other REPO@REF" &&
	test_must_fail t9kfs log --repo models 2>err && test_one_line_error err "--repo goes with --input" &&
	test_must_fail t9kfs log --input data@v1 --repo "bad/name" 2>err && test_one_line_error err "repository" &&
	test_must_fail t9kfs compare --bogus models@exp-a 2>err &&
	test_one_line_error err "unknown option .--bogus." &&
	test_must_fail t9kfs show --json 2>err && test_one_line_error err "show wants one REPO@REF"
'

test_expect_success '--help of show, compare and log' '
	t9kfs show --help | grep -q "^usage: t9kfs show" &&
	t9kfs compare --help | grep -q "REPO@A..B" &&
	t9kfs log --help | grep -q "log --input REPO@REF" &&
	t9kfs help show | grep -q "^usage: t9kfs show" &&
	t9kfs --help | grep -q "^  show "
'

test_done
