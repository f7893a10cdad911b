// SVG charts drawn by hand (no library): a parallel-coordinates chart of
// runs over their params and metrics, and line charts of a metric over
// steps. Labels are text nodes like everything else (lib.js h()).
import { h } from './lib.js';

// Ten distinct colours (Tableau 10), for runs.
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
  '#ff9da7', '#9c755f', '#bab0ac'];

export function runColor(i) {
  return PALETTE[i % PALETTE.length];
}

// A colour from dark blue (t = 0) to yellow (t = 1), viridis-like.
const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
export function ramp(t) {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0.5)) * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2);
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + (STOPS[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function fmtNum(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

// About n round tick values covering [lo, hi].
export function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function svgText(x, y, text, attrs) {
  return h('svg:text', { x, y, ...(attrs || {}) }, text);
}

function extent(vals) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of vals) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  return [lo, hi];
}

// dims: [{key, label, value(run) -> number | string | null}]; runs: [{label}]
// colorDim: the dim (numeric) whose value colours a run's line.
export function parallelCoords(dims, runs, colorDim) {
  const W = Math.max(560, 130 * dims.length + 80);
  const H = 340;
  const top = 44;
  const bottom = H - 28;
  const left = 60;
  const gap = dims.length > 1 ? (W - 2 * left) / (dims.length - 1) : 0;
  const axes = dims.map((d, i) => {
    const vals = runs.map((r) => d.value(r));
    const nums = vals.filter((v) => typeof v === 'number');
    const cats = vals.filter((v) => typeof v === 'string');
    if (cats.length) { // categorical: the values in order, evenly
      const uniq = [...new Set(vals.filter((v) => v !== null).map(String))].sort();
      const pos = (v) => (uniq.length > 1 ? uniq.indexOf(String(v)) / (uniq.length - 1) : 0.5);
      return { d, x: left + i * gap, y: (v) => (v === null ? null : bottom - pos(v) * (bottom - top)), labels: uniq.map((u) => [u, bottom - pos(u) * (bottom - top)]) };
    }
    const [lo, hi] = extent(nums);
    const y = (v) => (v === null ? null : bottom - ((v - lo) / (hi - lo)) * (bottom - top));
    return { d, x: left + i * gap, y, labels: ticks(lo, hi, 4).map((t) => [fmtNum(t), y(t)]), lo, hi };
  });
  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart pcoords', id: 'pcoords', role: 'img',
    'aria-label': 'parallel coordinates of ' + dims.map((d) => d.label).join(', '),
  });
  svg.append(h('svg:rect', { x: 0, y: 0, width: W, height: H, class: 'bg' }));
  let cmin = 0;
  let cmax = 1;
  if (colorDim) {
    [cmin, cmax] = extent(runs.map((r) => colorDim.value(r)).filter((v) => typeof v === 'number'));
  }
  const lines = h('svg:g', { class: 'lines' });
  runs.forEach((r) => {
    const c = colorDim ? colorDim.value(r) : null;
    const color = typeof c === 'number' ? ramp((c - cmin) / (cmax - cmin)) : '#888';
    // a run missing a value breaks its line there
    let seg = [];
    const segs = [];
    axes.forEach((a) => {
      const y = a.y(a.d.value(r));
      if (y === null || !Number.isFinite(y)) {
        if (seg.length) segs.push(seg);
        seg = [];
      } else seg.push(`${a.x.toFixed(1)},${y.toFixed(1)}`);
    });
    if (seg.length) segs.push(seg);
    const g = h('svg:g', { class: 'run', dataset: { run: r.label } }, h('svg:title', {}, r.label));
    for (const s of segs) {
      g.append(s.length > 1
        ? h('svg:polyline', { points: s.join(' '), stroke: color, fill: 'none', 'stroke-width': 2 })
        : h('svg:circle', { cx: s[0].split(',')[0], cy: s[0].split(',')[1], r: 3, fill: color }));
    }
    lines.append(g);
  });
  svg.append(lines);
  for (const a of axes) {
    const g = h('svg:g', { class: 'axis' },
      h('svg:line', { x1: a.x, x2: a.x, y1: top, y2: bottom }),
      svgText(a.x, top - 18, a.d.label, { 'text-anchor': 'middle', class: 'axis-label' }));
    for (const [t, y] of a.labels) {
      g.append(h('svg:line', { x1: a.x - 4, x2: a.x, y1: y, y2: y }),
        svgText(a.x - 6, y + 4, t, { 'text-anchor': 'end', class: 'tick' }));
    }
    svg.append(g);
  }
  if (colorDim) {
    svg.append(svgText(left, H - 8, `colour: ${colorDim.label}, from ${fmtNum(cmin)} (dark) to ${fmtNum(cmax)} (light)`, { class: 'tick' }));
  }
  return svg;
}

// series: [{label, color, points: [[x, y], ...]}]
export function lineChart(title, series, xLabel) {
  const W = 440;
  const H = 260;
  const L = 58;
  const R = 14;
  const T = 28;
  const B = 40;
  const xs = [];
  const ys = [];
  for (const s of series) for (const [x, y] of s.points) { xs.push(x); ys.push(y); }
  const [x0, x1] = extent(xs);
  const [y0, y1] = extent(ys);
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart curve', role: 'img',
    'aria-label': `${title} over ${xLabel}`, dataset: { metric: title },
  });
  svg.append(h('svg:rect', { x: 0, y: 0, width: W, height: H, class: 'bg' }),
    svgText(L, 16, title, { class: 'chart-title' }));
  const axis = h('svg:g', { class: 'axis' },
    h('svg:line', { x1: L, x2: W - R, y1: H - B, y2: H - B }),
    h('svg:line', { x1: L, x2: L, y1: T, y2: H - B }),
    svgText((L + W - R) / 2, H - 6, xLabel, { 'text-anchor': 'middle', class: 'tick' }));
  for (const t of ticks(x0, x1, 5)) {
    axis.append(h('svg:line', { x1: px(t), x2: px(t), y1: H - B, y2: H - B + 4 }),
      svgText(px(t), H - B + 16, fmtNum(t), { 'text-anchor': 'middle', class: 'tick' }));
  }
  for (const t of ticks(y0, y1, 4)) {
    axis.append(h('svg:line', { x1: L - 4, x2: W - R, y1: py(t), y2: py(t), class: 'grid' }),
      svgText(L - 6, py(t) + 4, fmtNum(t), { 'text-anchor': 'end', class: 'tick' }));
  }
  svg.append(axis);
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const stride = Math.max(1, Math.floor(pts.length / 1500));
    const kept = pts.filter((p, i) => i % stride === 0 || i === pts.length - 1);
    const g = h('svg:g', { class: 'run', dataset: { run: s.label } }, h('svg:title', {}, s.label));
    g.append(kept.length > 1
      ? h('svg:polyline', { points: kept.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2 })
      : h('svg:circle', { cx: px(kept[0][0]), cy: py(kept[0][1]), r: 3, fill: s.color }));
    svg.append(g);
  }
  return svg;
}
