// Compare runs: commits picked by ref, by branch glob or as the last N of
// a branch, side by side as a table of params and metrics (columns
// chosen, sortable, the best value of each metric marked, only-changed,
// CSV export), a parallel-coordinates chart, each run's metric curves from
// its .t9kfs/metrics.jsonl, and links to the data commits it read.
// Every choice lives in the URL, so a comparison is a link.
import { api, h, append, clear, qs, repoApi, link, short, fmtTime, asNumber, pool } from './lib.js';
import { repoTabs, runGroups, inputLink } from './views.js';
import { parallelCoords, lineChart, runColor } from './charts.js';

const CURVE_BYTES = 8 * 1024 * 1024;
const CURVE_RUNS = 50;

// Lower is better for these metric names; higher for the rest. The
// header's arrow flips it.
export function lowerIsBetter(name) {
  return /(loss|err|mse|mae|rmse|perplex|ppl|wer|cer|latency|time|duration|cost)/i.test(name);
}

function cellText(v) {
  return v === undefined || v === null ? '' : String(v);
}

// CSV as spreadsheets read it; a text cell that starts like a formula is
// prefixed with ' so opening the file runs nothing.
export function toCsv(rows) {
  return rows.map((r) => r.map((v) => {
    let s = cellText(v);
    if (/^[=+\-@\t\r]/.test(s) && asNumber(s) === null) s = "'" + s;
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }).join(',')).join('\r\n') + '\r\n';
}

function setQuery(params) {
  const u = new URL(location.href);
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '' || v === false) u.searchParams.delete(k);
    else u.searchParams.set(k, String(v));
  }
  history.replaceState(null, '', u.pathname + u.search);
}

export async function compareView(ctx, repo) {
  const q = ctx.query;
  const want = { refs: q.get('refs') || '', glob: q.get('glob') || '', branch: q.get('branch') || '', last: q.get('last') || '' };
  ctx.setTitle('Compare runs', repo);
  ctx.setCrumbs(h('a', { href: link.repos() }, 'Repositories'), h('a', { href: link.repo(repo) }, repo));
  const inputs = {
    refs: h('input', { name: 'refs', value: want.refs, size: 30, placeholder: 'exp-a, exp-b, 1a2b3c4d', 'aria-label': 'refs' }),
    glob: h('input', { name: 'glob', value: want.glob, size: 14, placeholder: 'exp-*', 'aria-label': 'branch glob' }),
    branch: h('input', { name: 'branch', value: want.branch, size: 12, placeholder: 'main', 'aria-label': 'branch' }),
    last: h('input', { name: 'last', value: want.last, size: 4, type: 'number', min: 1, max: 500, placeholder: '10', 'aria-label': 'last N commits' }),
  };
  const form = h('form', { class: 'compare-form', id: 'compare-form' },
    h('label', {}, 'Commits or refs ', inputs.refs), ' ',
    h('label', {}, 'branches matching ', inputs.glob), ' ',
    h('label', {}, 'last ', inputs.last, ' of branch ', inputs.branch), ' ',
    h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = {};
    for (const k of Object.keys(inputs)) p[k] = inputs[k].value.trim();
    ctx.navigate(link.compare(repo, p));
  });
  append(ctx.main, h('h1', { class: 'repo-name' }, repo), repoTabs(repo, 'compare'), form);
  if (!want.refs && !want.glob && !want.branch) {
    append(ctx.main, h('p', { class: 'muted' }, 'Pick runs: refs or commit ids (A..B for a range), a glob of branch names, or the last N commits of a branch.'));
    return;
  }
  const data = await api(repoApi(repo, '/compare' + qs(want)));
  const runs = data.commits.map((x, i) => ({
    label: x.label, commit: x.commit, g: runGroups(x.commit.meta), metricsSize: x.metrics_jsonl, color: runColor(i),
  }));
  if (!runs.length) {
    append(ctx.main, h('p', { class: 'muted' }, 'No commits.'));
    return;
  }
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.g.params)))].sort();
  const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.g.metrics)))].sort();
  const cols = [
    ...paramKeys.map((k) => ({ key: 'param.' + k, name: k, kind: 'param', get: (r) => r.g.params[k] })),
    ...metricKeys.map((k) => ({ key: 'metric.' + k, name: k, kind: 'metric', get: (r) => r.g.metrics[k] })),
  ];
  const fixed = {
    run: { key: 'run', get: (r) => r.label },
    status: { key: 'status', get: (r) => r.g.run.status },
    time: { key: 'time', get: (r) => Number(r.commit.time_ns) },
  };
  const numeric = (c) => runs.every((r) => { const v = c.get(r); return v === undefined || v === null || v === '' || asNumber(v) !== null; });
  const differs = (c) => new Set(runs.map((r) => cellText(c.get(r)))).size > 1;
  const better = {};
  for (const part of (q.get('best') || '').split(',')) {
    const m = /^(.+):(min|max)$/.exec(part);
    if (m) better[m[1]] = m[2];
  }
  const bestOf = (name) => better[name] || (lowerIsBetter(name) ? 'min' : 'max');
  const state = {
    sort: q.get('sort') || '',
    desc: q.get('desc') === '1',
    changed: q.get('changed') === '1',
    hidden: new Set((q.get('hide') || '').split(',').filter(Boolean)),
  };
  const tableBox = h('div', { class: 'scroll', id: 'compare-box' });
  const chartBox = h('div', { id: 'pcoords-box' });
  const visible = () => cols.filter((c) => !state.hidden.has(c.key) && (!state.changed || differs(c)));
  const saveState = () => {
    const b = Object.entries(better).map(([k, v]) => `${k}:${v}`).join(',');
    setQuery({ sort: state.sort, desc: state.desc ? 1 : '', changed: state.changed ? 1 : '', hide: [...state.hidden].join(','), best: b });
  };

  const sortedRuns = () => {
    const c = cols.find((x) => x.key === state.sort) || fixed[state.sort];
    if (!c) return runs;
    const num = c === fixed.time || (c !== fixed.run && c !== fixed.status && numeric(c));
    const val = (r) => { const v = c.get(r); return v === undefined || v === null || v === '' ? null : num ? asNumber(v) : String(v); };
    return [...runs].sort((a, b) => {
      const x = val(a);
      const y = val(b);
      if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1; // missing last
      const d = num ? x - y : x < y ? -1 : x > y ? 1 : 0;
      return state.desc ? -d : d;
    });
  };

  const sortHeader = (key, label, extra) => {
    const dirNow = state.sort === key ? (state.desc ? 'descending' : 'ascending') : 'none';
    return h('th', { scope: 'col', 'aria-sort': dirNow, dataset: { key } },
      h('button', {
        type: 'button', class: 'sort', dataset: { sort: key },
        onclick: () => {
          if (state.sort === key) state.desc = !state.desc;
          else { state.sort = key; state.desc = false; }
          saveState();
          drawTable();
        },
      }, label, state.sort === key ? (state.desc ? ' ▼' : ' ▲') : ''), extra);
  };

  function drawTable() {
    const vis = visible();
    const best = {};
    for (const c of vis.filter((x) => x.kind === 'metric')) {
      const nums = runs.map((r) => asNumber(c.get(r))).filter((v) => v !== null);
      if (nums.length >= 2) best[c.key] = bestOf(c.name) === 'min' ? Math.min(...nums) : Math.max(...nums);
    }
    const head = h('tr', {},
      sortHeader('run', 'Run'), h('th', { scope: 'col' }, 'Commit'), sortHeader('status', 'Status'), sortHeader('time', 'Date'),
      vis.map((c) => sortHeader(c.key, [h('span', { class: 'group' }, c.kind === 'param' ? 'param ' : 'metric '), c.name],
        c.kind === 'metric' ? h('button', {
          type: 'button', class: 'best-dir', title: `best is the ${bestOf(c.name) === 'min' ? 'lowest' : 'highest'}: click to flip`,
          dataset: { best: bestOf(c.name) },
          onclick: () => { better[c.name] = bestOf(c.name) === 'min' ? 'max' : 'min'; saveState(); drawTable(); },
        }, bestOf(c.name) === 'min' ? '↓' : '↑') : null)),
      h('th', { scope: 'col' }, 'Inputs'));
    const body = h('tbody', { class: 'nav-list' }, sortedRuns().map((r, i) => h('tr', {
      dataset: { commit: r.commit.id, label: r.label }, tabindex: i === 0 ? '0' : '-1',
    },
    h('td', {}, h('span', { class: 'swatch', dataset: { color: r.color } }), h('a', { href: link.commit(repo, r.commit.id) }, r.label)),
    h('td', { class: 'mono' }, short(r.commit.id)),
    h('td', { class: 'status ' + cellText(r.g.run.status) }, cellText(r.g.run.status)),
    h('td', { class: 'time' }, fmtTime(r.commit.time_ns)),
    vis.map((c) => {
      const v = c.get(r);
      const isBest = c.key in best && asNumber(v) === best[c.key];
      return h('td', { class: (numeric(c) ? 'num' : '') + (isBest ? ' best' : ''), dataset: { key: c.key }, title: isBest ? 'best' : null }, cellText(v));
    }),
    h('td', { class: 'inputs' }, r.g.inputs.map((x, k) => [k ? ' ' : '', inputLink(x.spec)])))));
    clear(tableBox);
    append(tableBox, h('table', { class: 'list compare', id: 'compare-table' }, h('thead', {}, head), body));
    for (const tr of body.children) { // colour swatches without inline style
      const sw = tr.querySelector('.swatch');
      if (sw) sw.style.backgroundColor = sw.dataset.color;
    }
    drawChart(vis);
  }

  function drawChart(vis) {
    clear(chartBox);
    const dims = vis.map((c) => ({
      key: c.key, label: c.name,
      value: (r) => { const v = c.get(r); if (v === undefined || v === null || v === '') return null; return numeric(c) ? asNumber(v) : String(v); },
    }));
    if (dims.length < 2) {
      append(chartBox, h('p', { class: 'muted' }, 'The chart needs two columns or more.'));
      return;
    }
    const sortCol = dims.find((d) => d.key === state.sort && d.key.startsWith('metric.'));
    const colorDim = sortCol || dims.filter((d) => d.key.startsWith('metric.') && numeric(cols.find((c) => c.key === d.key))).pop() || null;
    append(chartBox, h('div', { class: 'scroll' }, parallelCoords(dims, runs, colorDim)));
  }

  const onlyChanged = h('input', { type: 'checkbox', id: 'only-changed', checked: state.changed });
  onlyChanged.addEventListener('change', () => { state.changed = onlyChanged.checked; saveState(); drawTable(); });
  const chooser = h('details', { class: 'columns', id: 'columns' }, h('summary', {}, 'Columns'),
    h('div', { class: 'col-list' }, cols.map((c) => {
      const box = h('input', { type: 'checkbox', checked: !state.hidden.has(c.key), dataset: { key: c.key } });
      box.addEventListener('change', () => {
        if (box.checked) state.hidden.delete(c.key); else state.hidden.add(c.key);
        saveState();
        drawTable();
      });
      return h('label', {}, box, ' ', c.kind, ' ', c.name);
    })));
  const exportCsv = () => {
    const vis = visible();
    const rows = [['run', 'commit', 'status', 'time', ...vis.map((c) => c.key), 'inputs']];
    for (const r of sortedRuns()) {
      rows.push([r.label, r.commit.id, r.g.run.status, fmtTime(r.commit.time_ns), ...vis.map((c) => c.get(r)),
        r.g.inputs.map((x) => x.spec).join(' ')]);
    }
    const url = URL.createObjectURL(new Blob([toCsv(rows)], { type: 'text/csv' }));
    const a = h('a', { href: url, download: `${repo}-runs.csv`, class: 'hidden' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  append(ctx.main,
    h('p', { class: 'muted', id: 'compare-count' }, `${runs.length} commits`, data.more ? ' (the first ones: narrow the choice)' : ''),
    h('div', { class: 'toolbar' },
      h('label', {}, onlyChanged, ' only columns that differ'), chooser,
      h('button', { type: 'button', id: 'export-csv', onclick: exportCsv }, 'Export CSV')),
    tableBox,
    h('h2', {}, 'Parallel coordinates'), chartBox,
    h('h2', {}, 'Metrics over steps'));
  drawTable();
  const curves = h('div', { id: 'curves', class: 'curves' });
  append(ctx.main, curves);
  await drawCurves(repo, runs, curves);
}

// Each run's .t9kfs/metrics.jsonl ({"step": N, "name": value, ...} lines),
// one chart per metric with a line per run.
async function drawCurves(repo, runs, box) {
  const withHistory = runs.filter((r) => r.metricsSize).slice(0, CURVE_RUNS);
  if (!withHistory.length) {
    append(box, h('p', { class: 'muted', id: 'no-curves' }, 'None of these commits has a metric history (.t9kfs/metrics.jsonl).'));
    return;
  }
  const series = new Map(); // metric -> [{label, color, points}]
  let usesStep = true;
  await pool(withHistory, 4, async (r) => {
    const res = await api(repoApi(repo, '/file' + qs({ ref: r.commit.id, path: '.t9kfs/metrics.jsonl' })), {
      raw: true, headers: { Range: `bytes=0-${CURVE_BYTES - 1}` },
    });
    if (!res.ok) return;
    const lines = (await res.text()).split('\n');
    const pts = new Map();
    lines.forEach((line, i) => {
      let o;
      try { o = JSON.parse(line); } catch (e) { return; }
      if (!o || typeof o !== 'object' || Array.isArray(o)) return;
      const step = typeof o.step === 'number' ? o.step : (usesStep = false, i);
      for (const [k, v] of Object.entries(o)) {
        if (k === 'step' || typeof v !== 'number' || !Number.isFinite(v)) continue;
        if (!pts.has(k)) pts.set(k, []);
        pts.get(k).push([step, v]);
      }
    });
    for (const [k, p] of pts) {
      if (!series.has(k)) series.set(k, []);
      series.get(k).push({ label: r.label, color: r.color, points: p, order: runs.indexOf(r) });
    }
  });
  if (!series.size) {
    append(box, h('p', { class: 'muted', id: 'no-curves' }, 'The metric histories hold no numbers.'));
    return;
  }
  const legend = h('div', { class: 'legend', id: 'legend' }, withHistory.map((r) => {
    const sw = h('span', { class: 'swatch' });
    sw.style.backgroundColor = r.color;
    return h('span', { class: 'item' }, sw, r.label);
  }));
  append(box, legend);
  for (const k of [...series.keys()].sort()) {
    const s = series.get(k).sort((a, b) => a.order - b.order);
    append(box, lineChart(k, s, usesStep ? 'step' : 'line'));
  }
}
