// Shared pieces of the console: building DOM without ever parsing HTML
// (every name, message and value becomes a text node, so nothing a
// repository holds can run), the API client, formatting, and keyboard
// navigation of lists.

const SVGNS = 'http://www.w3.org/2000/svg';

// Only links into this server: a value from a repository can never become
// a javascript: or another site's URL.
function safeUrl(v) {
  const s = String(v);
  if ((s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\')) || s.startsWith('#') ||
      s.startsWith('blob:')) {
    return s;
  }
  throw new Error('refusing a link outside the console: ' + s.slice(0, 40));
}

// h('a', {href: '/ui/', class: 'x', onclick: fn}, 'text', child, [more])
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    } else if (k === 'href' || k === 'src' || k === 'action') {
      el.setAttribute(k, safeUrl(v));
    } else if (k === 'value' && !svg) {
      el.value = v;
    } else if (k === 'checked' && !svg) {
      el.checked = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// ---- the API ----

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// A request below /api/v1. Every request carries the header that marks
// it as the console's own (the server refuses changes without it).
export async function api(path, opts = {}) {
  const headers = { 'X-T9kfs-Request': '1', ...(opts.headers || {}) };
  const init = { method: opts.method || 'GET', headers, credentials: 'same-origin' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch('/api/v1' + path, init);
  if (res.status === 401 && onUnauthorized && !opts.noRedirect) onUnauthorized();
  if (opts.raw) return res;
  if (!res.ok) {
    let code = 'error';
    let msg = res.status + ' ' + res.statusText;
    try {
      const j = await res.json();
      code = j.error.code;
      msg = j.error.message;
    } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, code, msg);
  }
  return res.status === 204 ? null : res.json();
}

export function enc(s) {
  return encodeURIComponent(s);
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

export function repoApi(repo, rest) {
  return '/repos/' + enc(repo) + rest;
}

// Links of the console's pages.
export const link = {
  repos: () => '/ui/',
  repo: (r) => '/ui/r/' + enc(r),
  tree: (r, ref, path) => '/ui/r/' + enc(r) + '/tree/' + enc(ref) + (path ? '/' + encPath(path) : ''),
  blob: (r, ref, path) => '/ui/r/' + enc(r) + '/blob/' + enc(ref) + '/' + encPath(path),
  log: (r, ref, q) => '/ui/r/' + enc(r) + '/log/' + enc(ref) + qs(q || {}),
  commit: (r, id) => '/ui/r/' + enc(r) + '/commit/' + enc(id),
  refs: (r) => '/ui/r/' + enc(r) + '/refs',
  diff: (r, q) => '/ui/r/' + enc(r) + '/diff' + qs(q || {}),
  compare: (r, q) => '/ui/r/' + enc(r) + '/compare' + qs(q || {}),
  file: (r, ref, path, download) =>
    '/api/v1/repos/' + enc(r) + '/file' + qs({ ref, path, download: download ? 1 : '' }),
};

export function encPath(p) {
  return p.split('/').map(enc).join('/');
}

// ---- formatting ----

export function fmtSize(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? v + ' B' : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ' + units[u];
}

export function fmtCount(n) {
  return Number(n).toLocaleString('en-US');
}

// Times as the CLI prints them: UTC.
export function fmtTime(ns) {
  if (ns === null || ns === undefined) return '';
  const d = new Date(Number(BigInt(ns) / 1000000n));
  return d.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}

export function fmtAge(ns) {
  const s = (Date.now() - Number(BigInt(ns) / 1000000n)) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  if (s < 86400 * 60) return Math.floor(s / 86400) + ' days ago';
  return fmtTime(ns).slice(0, 10);
}

const TYPE_CHAR = { dir: 'd', symlink: 'l', fifo: 'p', socket: 's', chardev: 'c', blockdev: 'b', file: '-' };

export function fmtMode(type, mode) {
  let s = TYPE_CHAR[type] || '-';
  const rwx = 'rwxrwxrwx';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-';
  if (mode & 0o4000) s = s.slice(0, 3) + (mode & 0o100 ? 's' : 'S') + s.slice(4);
  if (mode & 0o2000) s = s.slice(0, 6) + (mode & 0o010 ? 's' : 'S') + s.slice(7);
  if (mode & 0o1000) s = s.slice(0, 9) + (mode & 0o001 ? 't' : 'T');
  return s;
}

export function short(id) {
  return id ? id.slice(0, 12) : '';
}

export function firstLine(s) {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

// A metadata value as a number when it is one (JSON number text).
export function asNumber(v) {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

// ---- keyboard navigation of lists ----
// A list is a tbody (or ul) with class "nav-list" whose rows hold a link:
// Up/Down (or k/j) move between rows, Home/End to the ends, Enter opens
// the row's first link. One row at a time is in the tab order.

export function navList(container) {
  container.classList.add('nav-list');
  const rows = () => [...container.children].filter((r) => r.dataset.nav !== 'skip');
  rows().forEach((r, i) => r.setAttribute('tabindex', i === 0 ? '0' : '-1'));
  return container;
}

export function refreshNav(container) {
  const rs = [...container.children].filter((r) => r.dataset.nav !== 'skip');
  const cur = rs.find((r) => r.getAttribute('tabindex') === '0');
  rs.forEach((r) => { if (r !== cur) r.setAttribute('tabindex', '-1'); });
  if (!cur && rs.length) rs[0].setAttribute('tabindex', '0');
}

document.addEventListener('keydown', (ev) => {
  const row = ev.target.closest && ev.target.closest('.nav-list > *');
  if (!row || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.target !== row) return; // typing in a field of the row
  const rows = [...row.parentElement.children].filter((r) => r.dataset.nav !== 'skip');
  let i = rows.indexOf(row);
  switch (ev.key) {
    case 'ArrowDown': case 'j': i = Math.min(i + 1, rows.length - 1); break;
    case 'ArrowUp': case 'k': i = Math.max(i - 1, 0); break;
    case 'Home': i = 0; break;
    case 'End': i = rows.length - 1; break;
    case 'Enter': {
      const a = row.querySelector('a[href]');
      if (a) {
        ev.preventDefault();
        a.click();
      }
      return;
    }
    default: return;
  }
  ev.preventDefault();
  rows.forEach((r) => r.setAttribute('tabindex', '-1'));
  rows[i].setAttribute('tabindex', '0');
  rows[i].focus();
});

// Runs fn over items with at most n at once.
export async function pool(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}
