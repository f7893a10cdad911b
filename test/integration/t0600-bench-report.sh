#!/bin/bash
# make bench-report: results written by bench/lib.sh's bench_summary are
# rendered as HTML with SVG charts; a headless Chromium opens the page and
# its screenshot must show the bars; bad results are clear errors.
. "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
report=$root/bench/report.py
colors=$root/test/integration/png-colors.py
browser=$(command -v chromium-headless-shell || command -v chromium || true)
[ -n "$browser" ] || skip_all "no headless Chromium (scripts/install-deps.sh installs chromium-headless-shell)"

# Results as two workload scripts would leave them: the same helpers, real
# files under a results folder, one older file that must be ignored.
test_expect_success 'results from bench_summary' '
	mkdir results &&
	(
		. "$root/bench/lib.sh"
		bench_machine_json >results/chunk-20260101-000000.jsonl
		bench_summary results/chunk-20260101-000000.jsonl "old run" MB/s higher "t9kfs:t9kfs=1" "limit:sha=2"
		f=results/chunk-20260102-000000.jsonl
		bench_machine_json >$f
		bench_summary $f "chunk pipeline" MB/s higher "t9kfs:t9kfs=1100" "limit:openssl sha256=1700"
		f=results/mount-20260102-000000.jsonl
		bench_summary $f "seq read" MB/s higher "t9kfs:t9kfs=900" "limit:local disk=1200" \
			"peer:rclone mount=350" "peer:s3fs=500" "peer:not run="
		bench_summary $f "ls -lR" s lower "t9kfs:t9kfs=2.5" "limit:local=2.0"
	) &&
	[ "$(grep -c "\"bench\":\"summary\"" results/*.jsonl | awk -F: "{s += \$2} END {print s}")" = 4 ]
'

test_expect_success 'report.html has one chart per workload and the summary' '
	/usr/bin/python3 "$report" --results results --out out >log &&
	grep -q "3 workloads, 5 comparisons" log &&
	[ "$(grep -c "<svg" out/report.html)" = 4 ] &&
	! grep -q "old run" out/report.html &&
	! grep -q "not run" out/report.html &&
	grep -q "rclone mount" out/report.html &&
	grep -q "0.80x worse" out/report.html &&
	grep -q "2.57x better" out/report.html
'

test_expect_success 'summary.png shows the bars' '
	[ -s out/summary.png ] &&
	/usr/bin/python3 "$colors" out/summary.png "#1f77b4" >px &&
	cat px &&
	awk "{ split(\$2, a, \"=\"); split(\$3, b, \"=\"); exit !(a[2] > 2000 && b[2] > 500) }" px
'

test_expect_success 'a headless browser draws the whole report' '
	"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1400 \
		--screenshot="$PWD/page.png" "file://$PWD/out/report.html" >browser.log 2>&1 &&
	/usr/bin/python3 "$colors" page.png "#1f77b4" "#ff7f0e" "#7f7f7f" >px &&
	cat px &&
	awk "{ for (i = 3; i <= 5; i++) { split(\$i, a, \"=\"); if (a[2] < 300) exit 1 } }" px
'

test_expect_success 'no results is a clear error' '
	mkdir empty &&
	test_must_fail /usr/bin/python3 "$report" --results empty --out out2 2>err &&
	grep -q "no summary lines" err && [ ! -e out2 ] &&
	test_must_fail /usr/bin/python3 "$report" --results missing 2>err &&
	grep -q "no results folder" err
'

test_expect_success 'a damaged results file is named' '
	mkdir bad && echo "{not json" >bad/s3-20260101-000000.jsonl &&
	test_must_fail /usr/bin/python3 "$report" --results bad 2>err &&
	grep -q "s3-20260101-000000.jsonl:1: not JSON" err
'

test_done
