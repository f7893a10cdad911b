// The browsing views: repositories, a repository's files, commits, refs,
// one commit, and diffs. Each is async (ctx, ...path parts) and draws into
// ctx.main; names and values only ever become text (lib.js h()).
import {
  api, h, append, clear, qs, enc, repoApi, link, fmtSize, fmtCount, fmtTime, fmtAge, fmtMode,
  short, firstLine, navList, refreshNav, pool, ApiError,
} from './lib.js';

const TREE_PAGE = 1000;
// Rows drawn before the view counts as shown; the rest of a page follows
// a frame at a time, so a page of 1,000 entries paints as fast as one of 100.
const FIRST_ROWS = 100;
const ROWS_PER_FRAME = 300;

// Appends make(item) for each item to tbody: the first FIRST_ROWS now,
// the others over the next frames; then tbody.dataset.complete is set and
// done() runs.
function appendRows(tbody, items, make, done) {
  delete tbody.dataset.complete;
  let i = 0;
  const chunk = (n) => {
    const frag = document.createDocumentFragment();
    for (const end = Math.min(items.length, i + n); i < end; i++) frag.append(make(items[i]));
    tbody.append(frag);
    if (i < items.length) {
      // after the next frame is painted, not before it
      requestAnimationFrame(() => setTimeout(() => chunk(ROWS_PER_FRAME), 0));
    } else {
      refreshNav(tbody);
      tbody.dataset.complete = '1';
      if (done) done();
    }
  };
  chunk(FIRST_ROWS);
}
const LOG_PAGE = 50;
const DIFF_PAGE = 500;
const PREVIEW_BYTES = 256 * 1024;
const JSON_PREVIEW_MAX = 2 * 1024 * 1024;
const CSV_ROWS = 100;
const IMAGE_RE = /\.(png|jpe?g|gif|webp|bmp|ico)$/i;

function th(label, attrs) {
  return h('th', attrs || { scope: 'col' }, label);
}

export function repoTabs(repo, active, ref) {
  const r = ref || 'main';
  const tabs = [
    ['files', 'Files', link.tree(repo, r)],
    ['log', 'Commits', link.log(repo, r)],
    ['refs', 'Branches & tags', link.refs(repo)],
    ['diff', 'Diff', link.diff(repo)],
    ['compare', 'Compare runs', link.compare(repo)],
  ];
  return h('nav', { class: 'tabs', 'aria-label': 'repository views' },
    tabs.map(([k, label, href]) => h('a', {
      href, class: k === active ? 'active' : null, 'aria-current': k === active ? 'page' : null,
      dataset: { tab: k },
    }, label)));
}

function repoHeader(ctx, repo, active, ref) {
  ctx.setCrumbs(h('a', { href: link.repos() }, 'Repositories'), h('a', { href: link.repo(repo) }, repo));
  return [h('h1', { class: 'repo-name' }, repo), repoTabs(repo, active, ref)];
}

// A small form that moves the current view to another ref.
function refForm(repo, ref, to) {
  const listId = 'refs-' + Math.random().toString(36).slice(2);
  const list = h('datalist', { id: listId });
  const input = h('input', {
    name: 'ref', value: ref, list: listId, size: 24, 'aria-label': 'branch, tag or commit',
    class: 'ref-input',
  });
  let loaded = false;
  input.addEventListener('focus', async () => {
    if (loaded) return;
    loaded = true;
    try {
      const { refs } = await api(repoApi(repo, '/refs'));
      for (const r of refs) list.append(h('option', { value: r.name.replace(/^(branch|tag)\//, '') }));
    } catch (e) { /* the list is a convenience */ }
  });
  const form = h('form', { class: 'ref-form' }, h('label', {}, 'Ref ', input), list,
    h('button', { type: 'submit' }, 'Go'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (input.value.trim()) document.dispatchEvent(new CustomEvent('t9kfs-go', { detail: to(input.value.trim()) }));
  });
  return form;
}

// ---- repositories ----

export async function reposView(ctx) {
  ctx.setTitle('Repositories');
  ctx.setCrumbs(h('span', {}, 'Repositories'));
  const { repos } = await api('/repos');
  append(ctx.main, h('h1', {}, 'Repositories'));
  if (!repos.length) {
    append(ctx.main, h('p', { class: 'empty' }, 'No repositories yet: ', h('code', {}, 't9kfs repo create NAME')));
    return;
  }
  const tbody = h('tbody', { id: 'repo-list' });
  const cells = new Map();
  for (const r of repos) {
    const c = {
      branches: h('td', { class: 'num', dataset: { col: 'branches' } }, '…'),
      tags: h('td', { class: 'num', dataset: { col: 'tags' } }, '…'),
      last: h('td', { class: 'msg', dataset: { col: 'last' } }),
      updated: h('td', { class: 'time', dataset: { col: 'updated' } }),
      size: h('td', { class: 'num', dataset: { col: 'size' } }, '…'),
    };
    cells.set(r.name, c);
    tbody.append(h('tr', { dataset: { repo: r.name } },
      h('td', {}, h('a', { href: link.repo(r.name), class: 'repo-link' }, r.name)),
      c.branches, c.tags, c.last, c.updated, c.size));
  }
  append(ctx.main, h('table', { class: 'list', id: 'repos' },
    h('thead', {}, h('tr', {}, th('Repository'), th('Branches'), th('Tags'), th('Last commit on main'),
      th('Updated'), th('Size'))), navList(tbody)));
  await pool(repos, 4, async (r) => {
    const c = cells.get(r.name);
    try {
      const s = await api(repoApi(r.name, '/summary'));
      c.branches.textContent = fmtCount(s.branches);
      c.tags.textContent = fmtCount(s.tags);
      if (s.head) {
        append(c.last, h('a', { href: link.commit(r.name, s.head.id) }, firstLine(s.head.message) || short(s.head.id)));
        c.updated.textContent = fmtAge(s.head.time_ns);
        c.updated.title = fmtTime(s.head.time_ns);
      }
      c.size.textContent = s.size ? (s.size.complete ? '' : '≥ ') + fmtSize(s.size.bytes) : '';
      if (s.size) {
        c.size.title = `${fmtCount(s.size.bytes)} bytes in ${fmtCount(s.size.files)} files, ${fmtCount(s.size.dirs)} directories`;
        c.size.dataset.bytes = s.size.bytes;
        c.size.dataset.files = s.size.files;
      }
    } catch (e) {
      c.size.textContent = '?';
      c.size.title = e.message;
    }
  });
}

export async function repoHome(ctx, repo) {
  ctx.navigate(link.tree(repo, 'main'), true);
}

// ---- files ----

// A directory's rows are a grid of divs, not a table: each row skips
// layout and paint while it is off screen (content-visibility), so a page
// of a thousand entries costs what the visible ones do.
function entryRow(repo, ref, dir, e) {
  const p = dir ? dir + '/' + e.name : e.name;
  let name;
  if (e.type === 'dir') name = h('a', { href: link.tree(repo, ref, p), class: 'dir' }, e.name + '/');
  else if (e.type === 'file') name = h('a', { href: link.blob(repo, ref, p), class: 'file' }, e.name);
  else name = h('span', { class: 'special' }, e.name, e.type === 'symlink' ? [' → ', h('span', { class: 'muted' }, e.target || '')] : ` (${e.type})`);
  return h('div', { class: 'row', role: 'row', dataset: { name: e.name, type: e.type } },
    h('div', { class: 'name', role: 'cell' }, name),
    h('div', { class: 'num', role: 'cell', dataset: { col: 'size', size: e.size }, title: e.type === 'file' ? fmtCount(e.size) + ' bytes' : null },
      e.type === 'dir' ? fmtCount(e.size) + (e.size === 1 ? ' item' : ' items') : e.type === 'file' ? fmtSize(e.size) : ''),
    h('div', { class: 'mode', role: 'cell', dataset: { col: 'mode', mode: e.mode.toString(8) }, title: '0' + e.mode.toString(8) },
      fmtMode(e.type, e.mode)),
    h('div', { class: 'time', role: 'cell', dataset: { col: 'mtime' } }, e.mtime_ns ? fmtTime(e.mtime_ns) : ''),
    h('div', { class: 'act', role: 'cell' }, e.type === 'file'
      ? h('a', { href: link.file(repo, ref, p, true), download: e.name, class: 'dl', title: 'Download', 'aria-label': 'download ' + e.name }, '↓')
      : ''));
}

function pathCrumbs(repo, ref, path, leafIsFile) {
  const parts = path ? path.split('/') : [];
  const out = [h('a', { href: link.tree(repo, ref) }, repo + '@' + ref)];
  parts.forEach((seg, i) => {
    const sub = parts.slice(0, i + 1).join('/');
    out.push(h('span', { class: 'sep' }, '/'));
    if (i === parts.length - 1) out.push(h('span', { class: 'leaf' }, seg));
    else out.push(h('a', { href: link.tree(repo, ref, sub) }, seg));
  });
  void leafIsFile;
  return h('div', { class: 'path', id: 'path' }, out);
}

export async function treeView(ctx, repo, ref, path) {
  ctx.setTitle(path || '/', repo + '@' + ref);
  const data = await api(repoApi(repo, '/tree' + qs({ ref, path, limit: TREE_PAGE })));
  if (data.entry.type !== 'dir') {
    ctx.navigate(link.blob(repo, ref, path), true);
    return;
  }
  const tbody = navList(h('div', { id: 'entries', class: 'rows', role: 'rowgroup' }));
  const more = h('div', { class: 'more' });
  let last = data.entries.length ? data.entries[data.entries.length - 1].name : null;
  const moreButton = (isMore) => {
    clear(more);
    if (!isMore) return;
    append(more, h('button', {
      type: 'button', id: 'more',
      onclick: async (ev) => {
        ev.target.disabled = true;
        const next = await api(repoApi(repo, '/tree' + qs({ ref: data.commit, path, after: last, limit: TREE_PAGE })));
        if (next.entries.length) last = next.entries[next.entries.length - 1].name;
        appendRows(tbody, next.entries, (e) => entryRow(repo, ref, path, e), () => {
          shown.textContent = fmtCount(tbody.children.length);
          moreButton(next.more);
        });
      },
    }, `Show ${fmtCount(TREE_PAGE)} more`));
  };
  const shown = h('span', { id: 'shown' }, fmtCount(data.entries.length));
  appendRows(tbody, data.entries, (e) => entryRow(repo, ref, path, e), () => moreButton(data.more));
  append(ctx.main, repoHeader(ctx, repo, 'files', ref),
    h('div', { class: 'bar' }, refForm(repo, ref, (r) => link.tree(repo, r, path)),
      h('span', { class: 'muted' }, 'commit ', h('a', { href: link.commit(repo, data.commit), class: 'mono' }, short(data.commit)))),
    pathCrumbs(repo, ref, path),
    h('p', { class: 'muted', id: 'count' }, fmtCount(data.entry.size), data.entry.size === 1 ? ' entry' : ' entries',
      data.more ? [', showing ', shown] : ''),
    h('div', { class: 'grid-list', id: 'tree', role: 'table', 'aria-label': 'entries' },
      h('div', { class: 'row head', role: 'row' }, ['Name', 'Size', 'Mode', 'Modified'].map((t) => h('div', { role: 'columnheader', class: t === 'Size' ? 'num' : null }, t)),
        h('div', { role: 'columnheader' }, h('span', { class: 'sr' }, 'Download'))),
      tbody),
    more);
}

// RFC 4180 rows from text, at most max of them; the last line may be cut.
export function parseCsv(text, max, delim) {
  const rows = [];
  let row = [];
  let cell = '';
  let q = false;
  for (let i = 0; i < text.length && rows.length < max; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (ch === '"') q = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') q = true;
    else if (ch === delim) { row.push(cell); cell = ''; } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if ((cell !== '' || row.length) && rows.length < max) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

async function fetchHead(repo, commit, path, bytes) {
  const res = await api(repoApi(repo, '/file' + qs({ ref: commit, path })), {
    raw: true, headers: { Range: `bytes=0-${bytes - 1}` },
  });
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, 'error', msg);
  }
  return new Uint8Array(await res.arrayBuffer());
}

async function preview(repo, commit, path, e) {
  const name = path.split('/').pop();
  if (e.type !== 'file') return h('p', { class: 'muted' }, `No preview for a ${e.type}.`);
  if (IMAGE_RE.test(name)) {
    return h('div', { class: 'preview image' },
      h('img', { src: link.file(repo, commit, path), alt: name, id: 'preview-image' }));
  }
  if (e.size === 0) return h('p', { class: 'muted', id: 'preview-empty' }, 'Empty file.');
  const isJson = /\.json$/i.test(name) && e.size <= JSON_PREVIEW_MAX;
  const bytes = await fetchHead(repo, commit, path, isJson ? JSON_PREVIEW_MAX : PREVIEW_BYTES);
  const head = bytes.subarray(0, 8000);
  if (head.includes(0)) {
    return h('p', { class: 'muted', id: 'preview-binary' }, `Binary file of ${fmtSize(e.size)}: `,
      h('a', { href: link.file(repo, commit, path, true), download: name }, 'download it'), '.');
  }
  const cut = bytes.length < e.size;
  const text = new TextDecoder('utf-8').decode(bytes);
  const note = cut ? h('p', { class: 'muted' }, `The first ${fmtSize(bytes.length)} of ${fmtSize(e.size)}.`) : null;
  const csv = /\.(csv|tsv)$/i.exec(name);
  if (csv) {
    const rows = parseCsv(text, CSV_ROWS + 1, csv[1].toLowerCase() === 'tsv' ? '\t' : ',');
    const [head1, ...body] = rows;
    return h('div', { class: 'preview csv' },
      h('p', { class: 'muted' }, `The first ${fmtCount(body.length)} rows` + (cut || rows.length > CSV_ROWS ? '' : ' (all)') + '.'),
      h('div', { class: 'scroll' }, h('table', { class: 'grid', id: 'preview-csv' },
        h('thead', {}, h('tr', {}, (head1 || []).map((c) => th(c)))),
        h('tbody', {}, body.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))))));
  }
  if (isJson && !cut) {
    try {
      const v = JSON.parse(text);
      return h('div', { class: 'preview json' }, h('pre', { class: 'code', id: 'preview-json' }, JSON.stringify(v, null, 2)));
    } catch (err) { /* shown as text */ }
  }
  return h('div', { class: 'preview text' }, note, h('pre', { class: 'code', id: 'preview-text' }, text));
}

export async function blobView(ctx, repo, ref, path) {
  const name = path.split('/').pop();
  ctx.setTitle(name, repo + '@' + ref);
  const data = await api(repoApi(repo, '/tree' + qs({ ref, path })));
  const e = data.entry;
  if (e.type === 'dir') {
    ctx.navigate(link.tree(repo, ref, path), true);
    return;
  }
  const facts = h('dl', { class: 'facts', id: 'facts' },
    h('dt', {}, 'Size'), h('dd', { dataset: { col: 'size', size: e.size } }, fmtSize(e.size), e.size >= 1024 ? ` (${fmtCount(e.size)} bytes)` : ''),
    h('dt', {}, 'Mode'), h('dd', { dataset: { col: 'mode' } }, fmtMode(e.type, e.mode), ' (0', e.mode.toString(8), ')'),
    h('dt', {}, 'Modified'), h('dd', {}, e.mtime_ns ? fmtTime(e.mtime_ns) : '-'),
    e.uid !== undefined ? [h('dt', {}, 'Owner'), h('dd', {}, `${e.uid}:${e.gid}`)] : null,
    h('dt', {}, 'Commit'), h('dd', {}, h('a', { href: link.commit(repo, data.commit), class: 'mono' }, short(data.commit))));
  const actions = e.type === 'file' ? h('div', { class: 'actions' },
    h('a', { href: link.file(repo, data.commit, path, true), download: name, class: 'button', id: 'download' }, 'Download'),
    ' ', h('a', { href: link.file(repo, data.commit, path), class: 'button', target: '_blank', rel: 'noopener' }, 'Raw')) : null;
  const body = await preview(repo, data.commit, path, e);
  append(ctx.main, repoHeader(ctx, repo, 'files', ref),
    h('div', { class: 'bar' }, refForm(repo, ref, (r) => link.blob(repo, r, path))),
    pathCrumbs(repo, ref, path, true), facts, actions, body);
}

// ---- history ----

const CHIP_MAX = 6;

function metaChips(meta) {
  const keys = Object.keys(meta);
  const rank = (k) => (k.startsWith('param.') ? 0 : k.startsWith('metric.') ? 1 : k === 'run.status' ? 2 : 3);
  keys.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out = keys.slice(0, CHIP_MAX).map((k) => h('span', { class: 'chip', title: `${k} = ${meta[k]}`, dataset: { key: k } },
    h('span', { class: 'k' }, k), '=', h('span', { class: 'v' }, meta[k])));
  if (keys.length > CHIP_MAX) out.push(h('span', { class: 'muted' }, ` +${keys.length - CHIP_MAX}`));
  return out;
}

function commitRow(repo, c) {
  return h('tr', { dataset: { id: c.id } },
    h('td', { class: 'mono' }, h('a', { href: link.commit(repo, c.id) }, short(c.id))),
    h('td', { class: 'msg', title: c.message }, firstLine(c.message)),
    h('td', { class: 'author' }, c.author),
    h('td', { class: 'time', title: fmtTime(c.time_ns) }, fmtTime(c.time_ns)),
    h('td', { class: 'meta' }, metaChips(c.meta)));
}

export async function logView(ctx, repo, ref) {
  ctx.setTitle('Commits', repo + '@' + ref);
  const cursor = ctx.query.get('cursor');
  const page = Math.max(1, parseInt(ctx.query.get('page') || '1', 10) || 1);
  const data = await api(repoApi(repo, '/history' + qs({ ref, limit: LOG_PAGE, cursor })));
  const tbody = navList(h('tbody', { id: 'commits' }));
  for (const c of data.commits) tbody.append(commitRow(repo, c));
  const pager = h('div', { class: 'pager', id: 'pager' },
    cursor ? h('a', { href: link.log(repo, ref), id: 'first' }, '« Newest') : null,
    h('span', { class: 'muted' }, ` page ${page} `),
    data.next ? h('a', { href: link.log(repo, ref, { cursor: data.next, page: page + 1 }), id: 'older' }, 'Older »') : null);
  append(ctx.main, repoHeader(ctx, repo, 'log', ref),
    h('div', { class: 'bar' }, refForm(repo, ref, (r) => link.log(repo, r))),
    h('table', { class: 'list', id: 'log' },
      h('thead', {}, h('tr', {}, th('Commit'), th('Message'), th('Author'), th('Date'), th('Metadata'))), tbody),
    pager);
}

// ---- one commit ----

const RUN_FIELDS = ['id', 'status', 'exit_code', 'command', 'start', 'end', 'duration_s', 'host'];
const INPUT_RE = /^([A-Za-z0-9][A-Za-z0-9._-]*)@([0-9a-f]{4,64})(?::(.*))?$/;

// A run record's groups (README "Experiments are commits").
export function runGroups(meta) {
  const g = { run: {}, inputs: [], output: null, params: {}, metrics: {}, other: {} };
  for (const [k, v] of Object.entries(meta)) {
    let m;
    if (k.startsWith('run.') && RUN_FIELDS.includes(k.slice(4))) g.run[k.slice(4)] = v;
    else if ((m = /^input\.(0|[1-9][0-9]*)$/.exec(k))) g.inputs[+m[1]] = { ...(g.inputs[+m[1]] || {}), spec: v };
    else if ((m = /^input\.(0|[1-9][0-9]*)\.dir$/.exec(k))) g.inputs[+m[1]] = { ...(g.inputs[+m[1]] || {}), dir: v };
    else if (k === 'output') g.output = { ...(g.output || {}), spec: v };
    else if (k === 'output.dir') g.output = { ...(g.output || {}), dir: v };
    else if (k.startsWith('param.')) g.params[k.slice(6)] = v;
    else if (k.startsWith('metric.')) g.metrics[k.slice(7)] = v;
    else g.other[k] = v;
  }
  g.inputs = g.inputs.map((x, i) => ({ n: i, ...(x || {}) })).filter((x) => x.spec !== undefined);
  return g;
}

// input.N's value as a link to the data commit it read.
export function inputLink(spec) {
  const m = INPUT_RE.exec(spec || '');
  if (!m) return h('span', {}, spec);
  const [, repo, commit, path] = m;
  return h('span', { class: 'input' },
    h('a', { href: path ? link.tree(repo, commit, path) : link.commit(repo, commit), class: 'lineage', dataset: { repo, commit } },
      repo + '@' + short(commit) + (path ? ':' + path : '')));
}

function kvTable(id, obj, cell, order) {
  const keys = Object.keys(obj).sort((a, b) => {
    const i = order ? order.indexOf(a) : -1;
    const j = order ? order.indexOf(b) : -1;
    if (i !== j) return (i < 0 ? 1e9 : i) - (j < 0 ? 1e9 : j);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  if (!keys.length) return null;
  return h('table', { class: 'kv', id },
    h('tbody', {}, keys.map((k) => h('tr', { dataset: { key: k } }, h('th', { scope: 'row' }, k), h('td', {}, cell ? cell(obj[k]) : obj[k])))));
}

export async function commitView(ctx, repo, id) {
  if (!/^[0-9a-f]{64}$/.test(id)) {
    const r = await api(repoApi(repo, '/resolve' + qs({ ref: id })));
    ctx.navigate(link.commit(repo, r.commit), true);
    return;
  }
  ctx.setTitle(short(id), repo);
  const c = await api(repoApi(repo, '/commits/' + enc(id)));
  const g = runGroups(c.meta);
  const sections = [];
  if (Object.keys(g.run).length) {
    sections.push(h('section', {}, h('h2', {}, 'Run'), kvTable('run', g.run, null, RUN_FIELDS)));
  }
  if (g.inputs.length || g.output) {
    sections.push(h('section', {}, h('h2', {}, 'Lineage'),
      h('table', { class: 'kv', id: 'inputs' }, h('tbody', {},
        g.inputs.map((x) => h('tr', { dataset: { key: 'input.' + x.n } }, h('th', { scope: 'row' }, 'input.' + x.n),
          h('td', {}, inputLink(x.spec), x.dir ? h('span', { class: 'muted' }, ' at ' + x.dir) : ''))),
        g.output ? h('tr', {}, h('th', { scope: 'row' }, 'output'), h('td', {}, g.output.spec || '', g.output.dir ? h('span', { class: 'muted' }, ' at ' + g.output.dir) : '')) : null))));
  }
  const params = kvTable('params', g.params);
  if (params) sections.push(h('section', {}, h('h2', {}, 'Params'), params));
  const metrics = kvTable('metrics', g.metrics);
  if (metrics) sections.push(h('section', {}, h('h2', {}, 'Metrics'), metrics));
  const other = kvTable('meta', g.other);
  if (other) sections.push(h('section', {}, h('h2', {}, 'Metadata'), other));
  const changes = await api(repoApi(repo, '/changes' + qs({ to: id, limit: 200 })));
  append(ctx.main, repoHeader(ctx, repo, 'log'),
    h('div', { class: 'commit', id: 'commit', dataset: { id } },
      h('h2', { class: 'msg-title', id: c.message.includes('\n') ? null : 'message' }, firstLine(c.message) || '(no message)'),
      c.message.includes('\n') ? h('pre', { class: 'message', id: 'message' }, c.message) : null,
      h('dl', { class: 'facts' },
        h('dt', {}, 'Commit'), h('dd', { class: 'mono', id: 'commit-id' }, c.id),
        h('dt', {}, 'Parents'), h('dd', { id: 'parents' }, c.parents.length ? c.parents.map((p, i) => [i ? ', ' : '', h('a', { href: link.commit(repo, p), class: 'mono' }, short(p))]) : 'none'),
        h('dt', {}, 'Author'), h('dd', { id: 'author' }, c.author),
        h('dt', {}, 'Date'), h('dd', {}, fmtTime(c.time_ns))),
      h('div', { class: 'actions' },
        h('a', { href: link.tree(repo, c.id), class: 'button' }, 'Browse files'), ' ',
        c.parents.length ? h('a', { href: link.diff(repo, { from: c.parents[0], to: c.id }), class: 'button' }, 'Full diff') : null)),
    sections,
    h('section', {}, h('h2', {}, 'Changes'), changesBlock(repo, changes, c.parents[0] || null, c.id)));
}

// ---- refs ----

function refTable(repo, id, refs) {
  const tbody = navList(h('tbody', { id: id + '-list' }));
  for (const r of refs) {
    const name = r.name.replace(/^(branch|tag)\//, '');
    const c = r.commit || {};
    tbody.append(h('tr', { dataset: { ref: name } },
      h('td', {}, h('a', { href: link.tree(repo, name) }, name)),
      h('td', { class: 'mono' }, c.id ? h('a', { href: link.commit(repo, c.id) }, short(c.id)) : ''),
      h('td', { class: 'msg' }, c.message !== undefined ? firstLine(c.message) : ''),
      h('td', { class: 'author' }, c.author || ''),
      h('td', { class: 'time' }, c.time_ns ? fmtTime(c.time_ns) : ''),
      h('td', {}, h('a', { href: link.log(repo, name) }, 'log'))));
  }
  return h('table', { class: 'list', id },
    h('thead', {}, h('tr', {}, th('Name'), th('Commit'), th('Message'), th('Author'), th('Date'), th(''))), tbody);
}

export async function refsView(ctx, repo) {
  ctx.setTitle('Branches and tags', repo);
  const [br, tg] = await Promise.all([
    api(repoApi(repo, '/refinfo' + qs({ prefix: 'branch/' }))),
    api(repoApi(repo, '/refinfo' + qs({ prefix: 'tag/' }))),
  ]);
  append(ctx.main, repoHeader(ctx, repo, 'refs'),
    h('h2', {}, 'Branches ', h('span', { class: 'muted' }, `(${fmtCount(br.refs.length)}${br.more ? '+' : ''})`)),
    refTable(repo, 'branches', br.refs),
    h('h2', {}, 'Tags ', h('span', { class: 'muted' }, `(${fmtCount(tg.refs.length)}${tg.more ? '+' : ''})`)),
    tg.refs.length ? refTable(repo, 'tags', tg.refs) : h('p', { class: 'muted' }, 'No tags.'));
}

// ---- diffs ----

function dirOf(p) {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

const BADGE = { added: 'A', removed: 'D', modified: 'M' };
const FOLD_OVER = 50;

// A page of changes, grouped by directory, each group folding.
export function changesBlock(repo, data, from, to) {
  const groups = new Map();
  for (const ch of data.changes) {
    const d = dirOf(ch.path);
    if (!groups.has(d)) groups.set(d, []);
    groups.get(d).push(ch);
  }
  const t = data.totals;
  const totals = t ? h('p', { class: 'totals', id: 'totals', dataset: { added: t.added, removed: t.removed, modified: t.modified } },
    h('span', { class: 'added' }, `+${fmtCount(t.added)} added`), ', ',
    h('span', { class: 'removed' }, `-${fmtCount(t.removed)} removed`), ', ',
    h('span', { class: 'modified' }, `~${fmtCount(t.modified)} modified`),
    h('span', { class: 'muted' }, ` (${fmtSize(t.bytes_old)} before, ${fmtSize(t.bytes_new)} after)`)) : null;
  if (!data.changes.length) return [totals, h('p', { class: 'muted', id: 'no-changes' }, 'No changes.')];
  const blocks = [];
  for (const [d, list] of groups) {
    const count = (k) => list.filter((c) => c.change === k).length;
    const tbody = h('tbody', {}, list.map((ch) => {
      const name = ch.path.slice(d ? d.length + 1 : 0);
      const e = ch.new || ch.old;
      const at = ch.change === 'removed' ? from : to;
      const nm = e.type === 'file' && at ? h('a', { href: link.blob(repo, at, ch.path) }, name) : name;
      return h('tr', { class: ch.change, dataset: { path: ch.path, change: ch.change } },
        h('td', { class: 'badge ' + ch.change, title: ch.change }, BADGE[ch.change]),
        h('td', { class: 'name' }, nm),
        h('td', { class: 'num' }, ch.old ? fmtSize(ch.old.size) : ''),
        h('td', { class: 'arrow' }, ch.old && ch.new ? '→' : ''),
        h('td', { class: 'num' }, ch.new ? fmtSize(ch.new.size) : ''));
    }));
    blocks.push(h('details', { class: 'group', open: list.length <= FOLD_OVER, dataset: { dir: d } },
      h('summary', {}, h('span', { class: 'dir' }, d ? d + '/' : '(top)'), ' ',
        h('span', { class: 'counts' }, [['added', '+'], ['modified', '~'], ['removed', '-']]
          .filter(([k]) => count(k)).map(([k, s]) => h('span', { class: k }, `${s}${count(k)} `)))),
      h('table', { class: 'changes' }, tbody)));
  }
  return [totals, h('div', { id: 'changes' }, blocks)];
}

export async function diffView(ctx, repo) {
  const from = ctx.query.get('from') || '';
  const to = ctx.query.get('to') || '';
  const after = ctx.query.get('after') || '';
  const page = Math.max(1, parseInt(ctx.query.get('page') || '1', 10) || 1);
  ctx.setTitle('Diff', repo);
  const fromIn = h('input', { name: 'from', value: from, placeholder: 'main~1', size: 20, 'aria-label': 'from' });
  const toIn = h('input', { name: 'to', value: to, placeholder: 'main', size: 20, 'aria-label': 'to' });
  const form = h('form', { class: 'diff-form', id: 'diff-form' }, h('label', {}, 'From ', fromIn), ' ',
    h('label', {}, 'to ', toIn), ' ', h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.navigate(link.diff(repo, { from: fromIn.value.trim(), to: toIn.value.trim() }));
  });
  append(ctx.main, repoHeader(ctx, repo, 'diff'), form);
  if (!to) {
    append(ctx.main, h('p', { class: 'muted' }, 'Pick two refs (a branch, tag, commit id or REF~N); "from" left empty is the first parent of "to".'));
    return;
  }
  const data = await api(repoApi(repo, '/changes' + qs({ from, to, after, limit: DIFF_PAGE })));
  const last = data.changes.length ? data.changes[data.changes.length - 1].path : null;
  append(ctx.main,
    h('p', { class: 'muted' }, 'From ', data.from ? h('a', { href: link.commit(repo, data.from), class: 'mono' }, short(data.from)) : 'nothing',
      ' to ', h('a', { href: link.commit(repo, data.to), class: 'mono' }, short(data.to)), after ? ` (page ${page})` : ''),
    changesBlock(repo, data, data.from, data.to),
    h('div', { class: 'pager', id: 'pager' },
      after ? h('a', { href: link.diff(repo, { from, to }), id: 'first' }, '« First page') : null,
      data.more && last ? [' ', h('a', { href: link.diff(repo, { from, to, after: last, page: page + 1 }), id: 'next' }, 'Next page »')] : null));
}

document.addEventListener('t9kfs-go', (ev) => {
  history.pushState(null, '', ev.detail);
  window.dispatchEvent(new PopStateEvent('popstate'));
});

export { th };
