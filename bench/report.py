#!/usr/bin/python3
"""Renders the latest benchmark results as one self-contained HTML page.

Reads the newest results file of each workload under bench/results/ (the
`summary` lines that bench_summary in bench/lib.sh writes), draws one SVG bar
chart per workload (t9kfs beside its limit and its peers) and a summary chart
of t9kfs's ratio to each of them, and writes report.html and summary.html
there. With a headless Chromium it also writes summary.png for the README.

usage: bench/report.py [--results DIR] [--out DIR] [--no-png]
"""

import argparse
import glob
import html
import json
import math
import os
import shutil
import subprocess
import sys

COLORS = {"t9kfs": "#1f77b4", "limit": "#7f7f7f", "peer": "#ff7f0e"}
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def latest_files(results):
    """The newest results file of each workload (name-YYYYmmdd-HHMMSS.jsonl)."""
    newest = {}
    for path in sorted(glob.glob(os.path.join(results, "*.jsonl"))):
        name = os.path.basename(path).rsplit("-", 2)[0]
        newest[name] = path  # sorted: the last one is the newest
    return newest


def load(path):
    """The machine line and the summary lines of one results file."""
    machine, summaries = None, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"report: {path}:{n}: not JSON: {e}")
            if obj.get("bench") == "machine":
                machine = obj
            elif obj.get("bench") == "summary":
                if not obj.get("series"):
                    continue
                summaries.append(obj)
    return machine, summaries


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(t, ref, better):
    """How many times better t9kfs is than ref (> 1: t9kfs wins)."""
    if t <= 0 or ref <= 0:
        return None
    return t / ref if better == "higher" else ref / t


def bar_chart(s):
    """One horizontal bar per series, t9kfs first, lengths on a common scale."""
    series = s["series"]
    width, label_w, row_h, top = 640, 190, 26, 28
    height = top + row_h * len(series) + 8
    vmax = max(x["value"] for x in series) or 1
    bar_w = width - label_w - 90
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" role="img" aria-label="{html.escape(s["workload"])}">',
           f'<text x="0" y="16" font-size="13" font-weight="bold">'
           f'{html.escape(s["workload"])} ({html.escape(s["unit"])}, '
           f'{"higher" if s["better"] == "higher" else "lower"} is better)</text>']
    for i, x in enumerate(series):
        y = top + i * row_h
        w = max(1.0, bar_w * x["value"] / vmax)
        out.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" '
                   f'text-anchor="end">{html.escape(x["name"])}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                   f'fill="{COLORS[x["kind"]]}"><title>{html.escape(x["name"])}: '
                   f'{fmt(x["value"])} {html.escape(s["unit"])}</title></rect>')
        out.append(f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" font-size="12">'
                   f'{fmt(x["value"])}</text>')
    out.append("</svg>")
    return "\n".join(out)


def summary_rows(summaries):
    """(workload, reference, kind, ratio) for every non-t9kfs series."""
    rows = []
    for s in summaries:
        t = next((x["value"] for x in s["series"] if x["kind"] == "t9kfs"), None)
        if t is None:
            continue
        for x in s["series"]:
            if x["kind"] == "t9kfs":
                continue
            r = ratio(t, x["value"], s["better"])
            if r is not None:
                rows.append((s["workload"], x["name"], x["kind"], r))
    return rows


def summary_chart(rows):
    """t9kfs's ratio to each limit and peer on a log scale; 1x marked."""
    width, label_w, row_h, top = 900, 430, 22, 30
    height = top + row_h * len(rows) + 30
    lo, hi = 0.05, 1000.0
    span = math.log10(hi) - math.log10(lo)
    plot_w = width - label_w - 60

    def xpos(v):
        v = min(max(v, lo), hi)
        return label_w + plot_w * (math.log10(v) - math.log10(lo)) / span

    out = [f'<svg id="summary" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" role="img" aria-label="t9kfs ratio to limits and peers">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="4" y="18" font-size="14" font-weight="bold">t9kfs relative to the '
           'limit and to each peer (log scale; right of 1x: t9kfs better)</text>']
    one = xpos(1.0)
    for i, (workload, ref, kind, r) in enumerate(rows):
        y = top + i * row_h
        x0, x1 = sorted((one, xpos(r)))
        color = COLORS["t9kfs"] if r >= 1 else "#d62728"
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="11" text-anchor="end">'
                   f'{html.escape(workload)} vs {html.escape(ref)}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(1.0, x1 - x0):.1f}" '
                   f'height="{row_h - 7}" fill="{color}" opacity="{0.55 if kind == "limit" else 1}">'
                   f'<title>{fmt(r)}x</title></rect>')
        out.append(f'<text x="{max(x1, one) + 4:.1f}" y="{y + 14}" font-size="11">{fmt(r)}x</text>')
    axis_y = top + row_h * len(rows) + 4
    for v in (0.1, 0.5, 1, 2, 10, 100, 1000):
        xv = xpos(v)
        out.append(f'<line x1="{xv:.1f}" y1="{top}" x2="{xv:.1f}" y2="{axis_y}" '
                   f'stroke="{"black" if v == 1 else "#ccc"}" stroke-width="1"/>')
        out.append(f'<text x="{xv:.1f}" y="{axis_y + 14}" font-size="11" '
                   f'text-anchor="middle">{v}x</text>')
    out.append("</svg>")
    return "\n".join(out), width, height


def page(title, body):
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:20px;max-width:960px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
            "td.num{text-align:right}.chart{display:block;margin:14px 0}"
            "</style></head><body>\n" + body + "\n</body></html>\n")


def screenshot(browser, src, png, width, height):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={width},{height}", f"--screenshot={png}", "file://" + src]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                       check=False)
    if r.returncode != 0 or not os.path.isfile(png) or os.path.getsize(png) == 0:
        sys.exit(f"report: {browser} could not write {png}:\n{r.stdout.decode(errors='replace')}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Render bench results as HTML (+ PNG).")
    ap.add_argument("--results", default=os.path.join(here, "results"),
                    help="folder of *.jsonl results (default bench/results)")
    ap.add_argument("--out", help="where report.html, summary.html/png go (default: --results)")
    ap.add_argument("--no-png", action="store_true", help="do not run a browser for summary.png")
    a = ap.parse_args()
    out = a.out or a.results
    if not os.path.isdir(a.results):
        sys.exit(f"report: no results folder {a.results}: run `make bench` first")
    files = latest_files(a.results)
    summaries, machine, used = [], None, []
    for name in sorted(files):
        m, s = load(files[name])
        if s:
            used.append(os.path.basename(files[name]))
            summaries.extend(s)
            machine = machine or m
    if not summaries:
        sys.exit(f"report: no summary lines in {a.results}: run `make bench` first")
    rows = summary_rows(summaries)
    if not rows:
        sys.exit("report: no workload has a limit or peer to compare with")
    os.makedirs(out, exist_ok=True)

    chart, w, h = summary_chart(rows)
    mtext = "unknown machine"
    if machine:
        mtext = (f'{machine.get("nproc", "?")} CPUs, {machine.get("cpu", "?")}, kernel '
                 f'{machine.get("kernel", "?")}, {machine.get("date", "?")}')
    body = [f"<h1>t9kfs benchmarks</h1><p>Machine: {html.escape(mtext)}. Sources: "
            f"{html.escape(', '.join(used))}. Reproduce with <code>make bench</code> "
            "(<code>BENCH_SCALE=quick</code> for the short run), then "
            "<code>make bench-report</code>.</p>", chart,
            "<h2>Ratios</h2><table><tr><th>workload</th><th>compared with</th>"
            "<th>t9kfs is</th></tr>"]
    for workload, ref, kind, r in rows:
        verdict = f"{fmt(r)}x {'better' if r >= 1 else 'worse'}"
        body.append(f"<tr><td>{html.escape(workload)}</td><td>{html.escape(ref)} ({kind})</td>"
                    f"<td class=num>{verdict}</td></tr>")
    body.append("</table><h2>Workloads</h2>")
    body.extend(bar_chart(s) for s in summaries)
    report = os.path.join(out, "report.html")
    with open(report, "w", encoding="utf-8") as f:
        f.write(page("t9kfs benchmarks", "\n".join(body)))
    summary = os.path.join(out, "summary.html")
    with open(summary, "w", encoding="utf-8") as f:
        f.write(page("t9kfs summary", chart).replace("margin:20px", "margin:0")
                .replace("margin:14px 0", "margin:0"))
    print(f"report: {report} ({len(summaries)} workloads, {len(rows)} comparisons)")
    if a.no_png:
        return
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if not browser:
        print("report: no headless Chromium (scripts/install-deps.sh installs "
              "chromium-headless-shell): summary.png not written", file=sys.stderr)
        return
    png = os.path.join(out, "summary.png")
    screenshot(browser, os.path.abspath(summary), png, w, h)
    print(f"report: {png}")


if __name__ == "__main__":
    main()
