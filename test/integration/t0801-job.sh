#!/bin/bash
# t9kfs job (issue 15), offline: no cluster. 'job submit --dry-run' renders
# a matrix of flags (Job and PyTorchJob, default/Volcano/Kueue scheduling,
# GPUs, cache group with node affinity and warmup) against a real metadata
# service and a cache group whose members registered their nodes with
# 'cache serve --node-name'. test/job/validate-job.mjs checks every render
# offline (kubernetes-models for the core types; JSON schemas written from
# the published CRDs for PyTorchJob and PodGroup; unknown fields; our
# rules) and writes the fields that matter, which must equal the golden
# files in test/job/golden (commit ids as <V1>, <MAIN>; T9KFS_UPDATE_GOLDEN=1
# rewrites them). Inputs are pinned
# to the commit their ref had at submit time. Bad input: one error line,
# nothing on stdout. Without --dry-run, kubectl (a fake one here) gets the
# YAML on stdin; list/get/logs/delete run it with our labels.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cache.sh"

read -r P1 P2 P3 <<<"$(free_ports 3)"
META="unix:$T9KFS_HOME/meta.sock"
GOLDEN="$TOP/test/job/golden"
IMAGE=ghcr.io/t9kfs/t9kfs:0.1.0 # csi/deploy's, checked below

commit_of() { # REPO@REF: its commit id
	t9kfs log "$1" -n 1 --json | sed -n 's/.*"id": "\([0-9a-f]\{64\}\)".*/\1/p' | head -n 1
}

# submit ARGS...: t9kfs job submit --dry-run ARGS, YAML on stdout
submit() {
	t9kfs job submit --dry-run "$@"
}

test_expect_success 'setup: repos, a tag, a later commit on main; a cache group on two nodes' '
	mkdir -p src/train src/val && echo a >src/train/a && echo b >src/val/b &&
	t9kfs repo create imagenet >/dev/null && t9kfs repo create models >/dev/null &&
	t9kfs import src imagenet@main -m v1 >/dev/null &&
	t9kfs tag create imagenet@v1 >/dev/null &&
	echo c >src/train/c && t9kfs import src imagenet@main -m v2 >/dev/null &&
	t9kfs branch create models@exp1 >/dev/null &&
	start_daemon c1 --capacity 16M --listen 127.0.0.1:$P1 --meta "$META" --group-name pool --node-name node-b.test &&
	start_daemon c2 --capacity 16M --listen 127.0.0.1:$P2 --meta "$META" --group-name pool --node-name node-a.test &&
	start_daemon c3 --capacity 16M --listen 127.0.0.1:$P3 --meta "$META" --group-name pool &&
	start_daemon c4 --capacity 16M --listen 127.0.0.1:$(free_ports 1) --meta "$META" --group-name nonodes &&
	test_wait 10 sh -c "[ \$(\"$T9KFS_BIN\" cache stats --group @pool | grep -c \"^# \") = 3 ]" &&
	commit_of imagenet@v1 >v1.id && commit_of imagenet@main >main.id &&
	[ "$(cat v1.id)" != "$(cat main.id)" ] &&
	grep -rho "ghcr.io/t9kfs/t9kfs:[^ ]*" "$TOP"/csi/deploy/*.yaml | sort -u >deploy-image &&
	echo $IMAGE >want-image && test_cmp want-image deploy-image
'
V1=$(cat "$TEST_DIR/v1.id" 2>/dev/null)
MAIN=$(cat "$TEST_DIR/main.id" 2>/dev/null)

test_expect_success 'job --help and each subcommand'"'"'s; t9kfs --help lists job' '
	t9kfs --help | grep -q "^  job  *render and submit a training job to Kubernetes$" &&
	t9kfs job --help >out && grep -q "^usage: t9kfs job submit" out &&
	t9kfs help job | grep -q "^usage: t9kfs job submit" &&
	t9kfs job submit --help >out && grep -q "t9kfs run --in-pod" out &&
	grep -q "IMG must have t9kfs on its PATH" out &&
	for s in list get logs delete; do
		t9kfs job $s --help >out && grep -q "^usage: t9kfs job $s" out || exit 1
	done &&
	test_must_fail t9kfs job 2>err && grep -q "^usage: t9kfs job" err &&
	test_must_fail t9kfs job nosuch 2>err && test_one_line_error err "unknown command .job nosuch."
'

# ---- the matrix: kind x scheduler x GPUs x cache group (none, @pool, @pool + warmup)

mkdir -p "$TEST_DIR/matrix"
render_matrix() {
	local kind sched gpus cache f
	for kind in job pytorchjob; do
	for sched in default volcano kueue; do
	for gpus in 0 8; do
	for cache in none group warmup; do
		f="$TEST_DIR/matrix/$kind-$sched-gpu$gpus-$cache.yaml"
		set -- --image pytorch/pytorch:2.3 --name "m-$kind-$sched-$gpus-$cache" --namespace ml \
			--data imagenet@v1:train=/data/train --data imagenet@main:val=/data/val \
			--output models@exp1=/out --param lr=0.1 --param epochs=3 -e NCCL_DEBUG=INFO
		[ $kind = pytorchjob ] && set -- "$@" --kind pytorchjob --workers 4
		[ $sched = volcano ] && set -- "$@" --scheduler volcano --queue research --priority-class high
		[ $sched = kueue ] && set -- "$@" --scheduler kueue --queue team-a
		[ $gpus = 0 ] || set -- "$@" --gpus $gpus --cpu 16 --memory 64Gi
		[ $cache = none ] || set -- "$@" --cache-group @pool
		[ $cache = warmup ] && set -- "$@" --warmup
		submit "$@" -- python train.py --epochs 3 >"$f" 2>"$f.err" || { cat "$f.err"; return 1; }
		[ ! -s "$f.err" ] || { cat "$f.err"; return 1; }
	done; done; done; done
}

test_expect_success 'the matrix renders: 36 documents sets, nothing on stderr' '
	render_matrix && [ "$(ls matrix/*.yaml | wc -l)" = 36 ]
'

test_expect_success 'inputs are pinned to the commit of their ref at submit time, not branch names' '
	f=matrix/job-default-gpu0-none.yaml &&
	grep -q "^              ref: '"'"'\?$V1'"'"'\?$" $f &&
	grep -q "^              ref: '"'"'\?$MAIN'"'"'\?$" $f &&
	! grep -q "ref: main$" $f && ! grep -q "ref: v1$" $f &&
	grep -q "^              ref: exp1$" $f &&
	grep -q -- "- imagenet@$V1:train=/data/train$" $f &&
	grep -q -- "- imagenet@$MAIN:val=/data/val$" $f &&
	grep -q -- "- models@exp1=/out$" $f &&
	echo d >src/train/d && t9kfs import src imagenet@main -m v3 >/dev/null &&
	new=$(commit_of imagenet@main) && [ "$new" != "$MAIN" ] &&
	submit --image x --name again --data imagenet@main=/data -- true >again.yaml &&
	grep -q -- "- imagenet@$new=/data$" again.yaml && grep -q "ref: '"'"'\?$new" again.yaml
'

NPM="$TOP/build/npm"
have_module() { # NAME MAJOR
	[ "$(node -p "require('$NPM/node_modules/$1/package.json').version.split('.')[0]" 2>/dev/null)" = "$2" ]
}
npm_ok=
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	npm_why="node and npm are not installed (Debian: nodejs npm)"
elif ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
	npm_why="node $(node --version) is older than 20"
elif have_module kubernetes-models 5 && have_module yaml 2; then
	npm_ok=1
else # as t0710 does, into the git-ignored build/
	mkdir -p "$NPM"
	if npm install --prefix "$NPM" --no-save --no-audit --no-fund --fetch-retries 1 --fetch-timeout 30000 \
		kubernetes-models@5 yaml@2 >"$TEST_DIR/npm.log" 2>&1; then
		npm_ok=1
	else
		npm_why="npm could not install kubernetes-models@5 and yaml@2: $(grep -m1 -i err "$TEST_DIR/npm.log" || tail -n 1 "$TEST_DIR/npm.log")"
	fi
fi
[ -n "$npm_ok" ] || say "# skipping the offline schema checks: $npm_why"

# T9KFS_UPDATE_GOLDEN=1 writes what this run rendered as the golden files
# (review the diff before committing it).
update_golden() { # FILE GOLDEN-NAME
	[ -z "${T9KFS_UPDATE_GOLDEN:-}" ] || { mkdir -p "$GOLDEN" && cp "$1" "$GOLDEN/$2"; }
}

validate() { # ARGS: validate-job.mjs with the modules, binary and image
	node "$TOP/test/job/validate-job.mjs" --modules "$NPM/node_modules" --bin "$T9KFS_BIN" --image $IMAGE \
		--commit V1="$V1" --commit MAIN="$MAIN" "$@"
}

if [ -n "$npm_ok" ]; then
	rc=0
	validate --summary "$TEST_DIR/matrix.txt" "$TEST_DIR"/matrix/*.yaml >"$TEST_DIR/matrix.out" 2>&1 || rc=$?
	say "# $(tail -n 1 "$TEST_DIR/matrix.out")"
	fails() { grep "^FAIL" "$TEST_DIR/matrix.out" | grep "$@" || true; }

	test_expect_success 'matrix: Job, Pod template and PodGroup schemas, unknown fields (kubernetes-models, CRD schemas)' '
		[ "$(grep -c "^ok   .*: schema (" matrix.out)" -ge 42 ] &&
		grep -q "^ok   .*#0 PyTorchJob: schema (kubeflow.org/v1 PyTorchJob, test/job/pytorchjob.schema.json)" matrix.out &&
		grep -q "^ok   .*#0 PodGroup: schema (scheduling.volcano.sh/v1beta1 PodGroup, test/job/podgroup.schema.json)" matrix.out &&
		grep -q "^ok   .*#1 Job: schema (batch/v1 Job, kubernetes-models)" matrix.out &&
		f=$(fails -e "schema" -e "YAML") && { [ -z "$f" ] || { echo "$f"; exit 1; }; }
	'

	test_expect_success 'matrix: labels, pinned volumes, mounts, credentials, run and warmup command lines' '
		grep -q "^ok   .*: flags of .t9kfs warmup. are in its --help" matrix.out &&
		f=$(fails -v -e "schema" -e "YAML") && { [ -z "$f" ] || { echo "$f"; exit 1; }; } &&
		[ $rc = 0 ]
	'

	test_expect_success 'matrix: the fields that matter equal the golden file (test/job/golden/matrix.txt)' '
		update_golden matrix.txt matrix.txt && test_cmp "$GOLDEN/matrix.txt" matrix.txt
	'

	test_expect_success 'golden: the README example as a whole (test/job/golden/example.yaml)' '
		submit --image pytorch/pytorch:2.3 --name resnet50 --workers 4 --gpus 8 --cpu 32 \
			--memory 256Gi --data imagenet@v1:train=/data --output models@exp1=/models \
			--param lr=0.1 --scheduler volcano --queue research --cache-group @pool --warmup \
			-- torchrun --nproc-per-node 8 train.py --data /data --out /models >example.yaml &&
		sed "s/'"'"'$V1'"'"'/<V1>/g; s/$V1/<V1>/g" example.yaml >example.golden && # quoted or not
		update_golden example.golden example.yaml && test_cmp "$GOLDEN/example.yaml" example.golden &&
		validate example.yaml >example.out || { grep -v "^ok" example.out; exit 1; }
	'

	test_expect_success 'YAML: strings that YAML readers would take for something else stay strings' '
		vals=(yes No on OFF y null "~" "" " lead" "trail " 0400 0x1F 1:20 1e3 .inf -1 +1 "2001-12-14"
			"a: b" "a #b" "#x" "- x" "---" "@pool" "*ref" "&a" "!tag" "%x" "|" ">" "[a]" "{a}"
			"'"'"'q'"'"'" "\"dq\"" "back\\slash" "$(printf "two\nlines")" "$(printf "tab\there")"
			"$(printf "nel\302\205ls\342\200\250")" "$(printf "bom\357\273\277")" "é ü 中" "$(printf "c1\302\232")") &&
		args=() && i=0 && for v in "${vals[@]}"; do args+=(-e "V$i=$v"); i=$((i + 1)); done &&
		submit --image x --name strings "${args[@]}" --param "k=$(printf "a\nb")" -- echo "${vals[@]}" >strings.yaml &&
		printf "%s\0" "${vals[@]}" >want.bin &&
		node -e "
			const YAML = require(process.argv[1]);
			const fs = require(\"fs\");
			const want = fs.readFileSync(process.argv[3], \"utf8\").split(\"\\0\").slice(0, -1);
			for (const version of [\"1.1\", \"1.2\"]) {
				const job = YAML.parse(fs.readFileSync(process.argv[2], \"utf8\"), { version });
				const c = job.spec.template.spec.containers[0];
				const env = c.env.filter((e) => /^V[0-9]+$/.test(e.name)).map((e) => e.value);
				const args = c.command.slice(c.command.indexOf(\"--\") + 1).slice(1);
				if (JSON.stringify(env) !== JSON.stringify(want) || JSON.stringify(args) !== JSON.stringify(want)) {
					console.log(version, JSON.stringify(env), JSON.stringify(args)); process.exit(1);
				}
				if (!c.command.includes(\"k=a\\nb\")) process.exit(1);
			}" "$NPM/node_modules/yaml" strings.yaml want.bin
	'
else
	for t in schemas rules golden-matrix golden-example yaml-strings validator-rejects; do
		say "ok - # SKIP $t: $npm_why"
	done
fi

# ---- cache group: affinity from the members' nodes

test_expect_success 'cache group @pool: preferred affinity for its members'"'"' nodes, sorted, nodeless ones left out' '
	grep -A12 "affinity:" matrix/job-default-gpu0-group.yaml >aff &&
	grep -q "preferredDuringSchedulingIgnoredDuringExecution:" aff &&
	grep -q "weight: 100" aff && grep -q "key: kubernetes.io/hostname" aff &&
	grep -A2 "values:" aff | tr -d " " >vals && printf "values:\n-node-a.test\n-node-b.test\n" >want &&
	test_cmp want vals &&
	! grep -q "affinity:" matrix/job-default-gpu0-none.yaml &&
	[ "$(grep -c "cacheGroup: .@pool.$" matrix/job-default-gpu0-group.yaml)" = 3 ]
'

test_expect_success 'cache group without node names: no affinity, a note; HOST:PORT list: attribute only' '
	submit --image x --name nn --data imagenet@v1=/d --cache-group @nonodes -- true >nn.yaml 2>nn.err &&
	! grep -q affinity nn.yaml && test_one_line_error nn.err "no member of cache group .nonodes. names its Kubernetes node" &&
	submit --image x --name hp --data imagenet@v1=/d --cache-group 127.0.0.1:$P1 --warmup -- true >hp.yaml &&
	! grep -q affinity hp.yaml && grep -q "cacheGroup: '"'"'127.0.0.1:$P1'"'"'$" hp.yaml &&
	grep -A6 "args:" hp.yaml | grep -q -- "- '"'"'127.0.0.1:$P1'"'"'$"
'

# ---- bad input: one error line, nothing on stdout, exit status non-zero

bad() { # PATTERN ARGS...: submit ARGS fails with one error line matching PATTERN
	local pat=$1
	shift
	test_must_fail t9kfs job submit "$@" >bad.out 2>bad.err &&
	[ ! -s bad.out ] || { echo "stdout:"; cat bad.out; return 1; }
	test_one_line_error bad.err "$pat"
}
OK=(--image x --name ok --data imagenet@v1=/data --output models@exp1=/out)

test_expect_success 'bad: an unknown repository or ref' '
	bad "^t9kfs: --data nosuch@v1: repository .nosuch. not found$" --image x --data nosuch@v1=/d --dry-run -- true &&
	bad "^t9kfs: --data imagenet@v9: no branch, tag or commit .v9. in repository .imagenet.$" --image x --data imagenet@v9=/d --dry-run -- true &&
	bad "^t9kfs: --output nosuch@main: repository .nosuch. not found$" --image x --output nosuch@main=/o --dry-run -- true
'

test_expect_success 'bad: an output that is not a branch (a tag, a commit)' '
	bad "^t9kfs: --output imagenet@v1: .v1. is not a branch" --image x --output imagenet@v1=/o --dry-run -- true &&
	bad "^t9kfs: --output imagenet@$V1: .* is not a branch" --image x --output imagenet@$V1=/o --dry-run -- true &&
	bad "^t9kfs: --output models@main: the output is a whole branch, no :PATH$" --image x --output models@main:sub=/o --dry-run -- true
'

test_expect_success 'bad: a DIR that is not absolute, or not plain' '
	bad "^t9kfs: --data imagenet@v1=data: DIR .data. is not an absolute path$" --image x --data imagenet@v1=data --dry-run -- true &&
	bad "^t9kfs: --output models@exp1=out: DIR .out. is not an absolute path$" --image x --output models@exp1=out --dry-run -- true &&
	bad "DIR ./a/../b. has a .\.. or .\.\.. component$" --image x --data imagenet@v1=/a/../b --dry-run -- true &&
	bad "DIR may not be ./.$" --image x --data imagenet@v1=/ --dry-run -- true &&
	bad "^t9kfs: two mounts at /d: give each its own DIR$" --image x --data imagenet@v1=/d --output models@exp1=/d/ --dry-run -- true
'

test_expect_success 'bad: no -- before the command, nothing after it' '
	bad "^t9kfs: missing .--. and the command to run" "${OK[@]}" --dry-run &&
	bad "^t9kfs: unexpected .python.: put .--. before the command" "${OK[@]}" --dry-run python train.py &&
	bad "^t9kfs: no command after .--." "${OK[@]}" --dry-run -- &&
	bad "^t9kfs: missing .--. and the command" --image x --name -- --dry-run
'

test_expect_success 'bad: kubectl missing without --dry-run (nothing resolved, printed or applied)' '
	mkdir -p nobin &&
	test_must_fail env PATH="$TEST_DIR/nobin" "$T9KFS_BIN" job submit "${OK[@]}" -- true >bad.out 2>bad.err &&
	[ ! -s bad.out ] &&
	test_one_line_error bad.err "^t9kfs: kubectl is not on the PATH: install kubectl and point it at the cluster, or print the YAML with --dry-run$" &&
	test_must_fail env PATH="$TEST_DIR/nobin" "$T9KFS_BIN" job list >bad.out 2>bad.err &&
	test_one_line_error bad.err "^t9kfs: kubectl is not on the PATH"
'

test_expect_success 'bad: options that do not fit together, malformed values' '
	bad "^t9kfs: --image IMG is required" --data imagenet@v1=/d --dry-run -- true &&
	bad "^t9kfs: --kind job runs one pod: use --kind pytorchjob for --workers 4$" --image x --kind job --workers 4 --dry-run -- true &&
	bad "^t9kfs: --scheduler kueue needs --queue" --image x --scheduler kueue --dry-run -- true &&
	bad "^t9kfs: --queue needs --scheduler volcano or kueue$" --image x --queue q --dry-run -- true &&
	bad "^t9kfs: --warmup loads the inputs into a cache group: give --cache-group$" --image x --data imagenet@v1=/d --warmup --dry-run -- true &&
	bad "^t9kfs: --cache-group @nosuch: " --image x --data imagenet@v1=/d --cache-group @nosuch --dry-run -- true &&
	bad "^t9kfs: --name .Bad_Name.: want 1-50 of a-z" --image x --name Bad_Name --dry-run -- true &&
	bad "^t9kfs: --name .1abc.: want 1-50" --image x --name 1abc --dry-run -- true &&
	bad "^t9kfs: --cpu .lots.: want a quantity" --image x --cpu lots --dry-run -- true &&
	bad "^t9kfs: invalid value .-1. for --gpus" --image x --gpus -1 --dry-run -- true &&
	bad "^t9kfs: -e .1X=y.: .1X. is not a valid variable name$" --image x -e 1X=y --dry-run -- true &&
	bad "^t9kfs: -e T9KFS_TOKEN: the pods read the token from the Secret t9kfs-credentials" --image x -e T9KFS_TOKEN=s --dry-run -- true &&
	bad "^t9kfs: --param .lr.: want KEY=VALUE$" --image x --param lr --dry-run -- true &&
	bad "^t9kfs: unknown option .--gpux." --image x --gpux 1 --dry-run -- true &&
	bad "^t9kfs: --output is given twice" --image x --output models@exp1=/a --output models@exp1=/b --dry-run -- true
'

test_expect_success '-e T9KFS_SERVER=URL: the pods'"'"' (and warmup'"'"'s) metadata service' '
	submit --image x --name srv -e T9KFS_SERVER=http://meta.example:7000 --data imagenet@v1=/d \
		--cache-group @pool --warmup -- true >srv.yaml &&
	[ "$(grep -c "value: http://meta.example:7000$" srv.yaml)" = 2 ] &&
	[ "$(grep -c "name: T9KFS_SERVER" srv.yaml)" = 2 ] && ! grep -q t9kfs-meta.t9kfs.svc srv.yaml
'

# ---- kubectl: a fake one records what it was given

mkdir -p "$TEST_DIR/fakebin"
cat >"$TEST_DIR/fakebin/kubectl" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$TEST_DIR/kubectl.args"
case "\$1" in
apply) cat >"$TEST_DIR/kubectl.stdin"; [ -e "$TEST_DIR/kubectl.fail" ] && { echo "error: the server said no" >&2; exit 1; }; echo "job.batch/ok created" ;;
api-resources) cat "$TEST_DIR/kubectl.types" ;;
*) echo "kubectl \$1 ran" ;;
esac
EOF
chmod +x "$TEST_DIR/fakebin/kubectl"
printf 'pods\njobs.batch\npytorchjobs.kubeflow.org\npodgroups.scheduling.volcano.sh\n' >"$TEST_DIR/kubectl.types"
kc() { # ARGS: t9kfs with the fake kubectl first on the PATH
	PATH="$TEST_DIR/fakebin:$PATH" "$T9KFS_BIN" "$@"
}

test_expect_success 'submit: kubectl apply -f - gets exactly the --dry-run YAML' '
	rm -f kubectl.args && submit "${OK[@]}" -- python train.py >want.yaml &&
	kc job submit "${OK[@]}" -- python train.py >out 2>err &&
	echo "apply -f -" >want && test_cmp want kubectl.args && test_cmp want.yaml kubectl.stdin &&
	grep -q "^job.batch/ok created$" out && grep -q "^submitted job .ok.: " out && [ ! -s err ]
'

test_expect_success 'submit: kubectl failing is our failure, with its message' '
	touch kubectl.fail && rm -f kubectl.args &&
	test_must_fail kc job submit "${OK[@]}" -- true >out 2>err &&
	rm kubectl.fail && [ ! -s out ] &&
	grep -q "^error: the server said no$" err &&
	grep -q "^t9kfs: .kubectl apply. failed (exit status 1; its message is above)$" err
'

test_expect_success 'list, get, logs, delete: kubectl with our labels, on the types the cluster serves' '
	rm -f kubectl.args &&
	kc job list >/dev/null && kc job list -A >/dev/null && kc job get ok --namespace ml >/dev/null &&
	kc job logs ok -f >/dev/null && kc job delete ok -n ml >/dev/null &&
	printf "pods\njobs.batch\n" >kubectl.types && kc job delete ok >/dev/null &&
	cat >want <<-\EOF &&
	api-resources -o name
	get jobs.batch,pytorchjobs.kubeflow.org -l t9kfs.io/job -L t9kfs.io/job
	api-resources -o name
	get jobs.batch,pytorchjobs.kubeflow.org -l t9kfs.io/job -L t9kfs.io/job -A
	api-resources -o name
	get jobs.batch,pytorchjobs.kubeflow.org,podgroups.scheduling.volcano.sh,pods -l t9kfs.io/job=ok -o wide -n ml
	logs -l t9kfs.io/job=ok --all-containers=true --prefix=true --tail=-1 --follow --max-log-requests=100
	api-resources -o name
	delete jobs.batch,pytorchjobs.kubeflow.org,podgroups.scheduling.volcano.sh -l t9kfs.io/job=ok -n ml
	api-resources -o name
	delete jobs.batch -l t9kfs.io/job=ok
	EOF
	test_cmp want kubectl.args
'

test_expect_success 'list, get, logs, delete: bad use' '
	test_must_fail kc job get 2>err && grep -q "^usage: t9kfs job get NAME" err &&
	test_must_fail kc job list extra 2>err && grep -q "^usage: t9kfs job list" err &&
	test_must_fail kc job get Bad_Name 2>err && test_one_line_error err "^t9kfs: .Bad_Name. is not a job name" &&
	test_must_fail kc job delete ok -A 2>err && grep -q "^usage: t9kfs job delete" err &&
	: >kubectl.types && test_must_fail kc job list 2>err &&
	test_one_line_error err "^t9kfs: .kubectl api-resources. lists no jobs.batch"
'

# ---- the validator itself: broken renders must fail, naming the rule

if [ -n "$npm_ok" ]; then
	mkdir -p "$TEST_DIR/broken"
	b() { # NAME SOURCE SED: a broken copy of a matrix render
		sed -e "$3" "$TEST_DIR/matrix/$2.yaml" >"$TEST_DIR/broken/$1.yaml"
	}
	b pj-field pytorchjob-volcano-gpu8-warmup 's/^    backoffLimit: 0$/&\n    backofLimit: 1/'
	b pj-min pytorchjob-volcano-gpu8-warmup 's/minAvailable: 4/minAvailable: 3/'
	b pj-master pytorchjob-default-gpu0-none '0,/      replicas: 1/s//      replicas: 2/'
	b pj-podspec pytorchjob-default-gpu0-none '0,/^          containers:$/s//          hostNetwrk: true\n&/'
	b pj-tplmeta pytorchjob-default-gpu0-none '0,/        metadata:/s//&\n          generateName: x-/'
	b pg-field job-volcano-gpu8-none 's/^  minMember: 1$/  minMembers: 1/'
	b pg-min job-volcano-gpu8-none 's/^  minMember: 1$/  minMember: 2/'
	b job-branch job-default-gpu0-none "s/ref: '\?$V1'\?$/ref: v1/"
	b job-prop job-default-gpu0-none '0,/mountPropagation: HostToContainer/s//mountPropagation: None/'
	b job-run job-default-gpu0-none 's/- --in-pod/- --inpod/'
	b job-aff job-default-gpu0-group 's/weight: 100/weight: 50/'
	b job-kueue job-kueue-gpu0-none '/^  suspend: true$/d'
	rc=0
	validate "$TEST_DIR"/broken/*.yaml >"$TEST_DIR/broken.out" 2>&1 || rc=$?
	expect_fail() { # TEXT: broken.out has a FAIL line containing TEXT
		grep "^FAIL" "$TEST_DIR/broken.out" | grep -qF -- "$1" ||
			{ echo "no FAIL with '$1' in:"; grep "^FAIL" "$TEST_DIR/broken.out"; return 1; }
	}

	test_expect_success 'validator: broken renders fail, each naming its rule' '
		[ $rc = 1 ] &&
		expect_fail "pj-field.yaml#0 PyTorchJob: schema (kubeflow.org/v1 PyTorchJob, test/job/pytorchjob.schema.json), unknown fields: /spec/runPolicy must NOT have additional properties '"'"'backofLimit'"'"'" &&
		expect_fail "pj-min.yaml#0 PyTorchJob Master: Volcano: schedulingPolicy.minAvailable = every pod (the operator'"'"'s PodGroup): minAvailable 3, pods 4" &&
		expect_fail "pj-master.yaml#0 PyTorchJob: schema (kubeflow.org/v1 PyTorchJob, test/job/pytorchjob.schema.json), unknown fields: /spec/pytorchReplicaSpecs/Master/replicas must be equal to constant" &&
		expect_fail "pj-podspec.yaml#0 PyTorchJob: schema" && grep "^FAIL.*pj-podspec" broken.out | grep -qF "hostNetwrk is not a field" &&
		expect_fail "pj-tplmeta.yaml#0 PyTorchJob: schema" && grep "^FAIL.*pj-tplmeta" broken.out | grep -qF "additional properties '"'"'generateName'"'"'" &&
		expect_fail "pg-field.yaml#0 PodGroup: schema (scheduling.volcano.sh/v1beta1 PodGroup, test/job/podgroup.schema.json), unknown fields: /spec must NOT have additional properties '"'"'minMembers'"'"'" &&
		expect_fail "pg-min.yaml#1 Job pod: Volcano: the pods name a PodGroup of this render with minMember = every pod: minMember 2, pods 1" &&
		expect_fail "job-branch.yaml#0 Job pod: volume data-0: t9kfs CSI inline volume: read-only input ref '"'"'v1'"'"' is not a commit id" &&
		expect_fail "job-prop.yaml#0 Job pod container train: volume mounts: existing volumes; t9kfs ones HostToContainer, inputs read-only: /data/train: mountPropagation None" &&
		expect_fail "job-run.yaml#0 Job pod container train: runs t9kfs run --in-pod" &&
		expect_fail "job-aff.yaml#0 Job pod: cache affinity: preferred, weight 100, kubernetes.io/hostname In the group'"'"'s nodes: not one term of weight 100" &&
		expect_fail "job-kueue.yaml#0 Job: Kueue: queue label on the workload, created suspended: not suspend: true"
	'
fi

test_expect_success 'no sanitizer report from the cache daemons' '
	daemon_logs_clean
'

test_done
