// Browser test of the web console (run by test/integration/t1000-console.sh):
// drives Debian's chromium-headless-shell with puppeteer-core against a
// real t9kfs server holding the fixture the script made, and checks what
// each view shows against what the CLI's --json output says (expect.json).
//
// Usage: node console.test.mjs CONFIG.json
//   CONFIG: {modules, browser, base, publicBase, token, expect, shots}
// Prints "ok - NAME" or "not ok - NAME: why" per step and exits 1 when one
// failed. Screenshots of every view go to shots/.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(cfg.modules, 'x.js'));
const puppeteer = require('puppeteer-core');
const want = JSON.parse(fs.readFileSync(cfg.expect, 'utf8'));
fs.mkdirSync(cfg.shots, { recursive: true });

let failed = 0;
const errors = []; // the browser's console errors and page errors
let expectErrors = null; // a step that expects some: a RegExp they match
// Console messages arrive a little after what caused them.
async function expecting(re, fn) {
  expectErrors = re;
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    expectErrors = null;
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}
function eq(got, exp, what) {
  const g = JSON.stringify(got);
  const e = JSON.stringify(exp);
  if (g !== e) throw new Error(`${what}: got ${g.slice(0, 400)}, want ${e.slice(0, 400)}`);
}
async function step(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${(e && e.stack) || e}`.split('\n').slice(0, 6).join('\n#   '));
  }
}

const browser = await puppeteer.launch({
  executablePath: cfg.browser,
  headless: 'shell',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
});
const context = await browser.createBrowserContext();
let page;
async function newPage() {
  const p = await context.newPage();
  await p.setViewport({ width: 1280, height: 900 });
  p.on('console', (m) => {
    if (m.type() === 'error') {
      const text = `${m.text()} (${(m.location() || {}).url || ''})`;
      if (!(expectErrors && expectErrors.test(text))) errors.push(text);
    }
  });
  p.on('pageerror', (e) => errors.push('page error: ' + e.message));
  p.on('dialog', async (d) => {
    errors.push('a dialog opened: ' + d.message());
    await d.dismiss();
  });
  return p;
}
page = await newPage();

async function ready(p = page) {
  await p.waitForFunction(() => {
    const m = document.querySelector('main');
    return m && m.dataset.state === 'ready';
  }, { timeout: 20000 });
}
async function go(url, p = page) {
  await p.goto(cfg.base + url, { waitUntil: 'domcontentloaded' });
  await ready(p);
}
async function shot(name, p = page) {
  await p.screenshot({ path: path.join(cfg.shots, name + '.png'), fullPage: true });
}
async function clickNav(selector) {
  await page.evaluate(() => { document.querySelector('main').dataset.state = 'stale'; });
  await page.click(selector);
  await ready();
}
const texts = (sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent.trim()));
const xss = () => page.evaluate(() => window.__xss);

// ---- login ----

await step('without a login the console shows the login page, and the API answers 401', () => expecting(/ 401 /, async () => {
  await page.goto(cfg.base + '/ui/r/data/tree/main', { waitUntil: 'domcontentloaded' });
  await ready();
  check(new URL(page.url()).pathname === '/ui/login', 'not sent to /ui/login: ' + page.url());
  eq(new URL(page.url()).searchParams.get('next'), '/ui/r/data/tree/main', 'next');
  check(await page.$('#token'), 'no token field');
  const status = await page.evaluate(async () => (await fetch('/api/v1/repos')).status);
  eq(status, 401, 'GET /api/v1/repos without a login');
  await shot('login');
}));

await step('a wrong token is refused on the page', () => expecting(/ 401 /, async () => {
  await page.type('#token', 'not-the-token');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#login-error:not(.hidden)');
  eq(await page.$eval('#login-error', (e) => e.textContent), 'Wrong token.', 'message');
  check(new URL(page.url()).pathname === '/ui/login', 'left the login page');
  const cookies = await page.cookies();
  check(!cookies.some((c) => c.name === 't9kfs_session'), 'a cookie was set');
  await page.$eval('#token', (e) => { e.value = ''; });
}));

await step('the token logs in: HttpOnly, SameSite=Strict cookie, back to the deep link', async () => {
  await page.type('#token', cfg.token);
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => location.pathname === '/ui/r/data/tree/main' && document.querySelector('main').dataset.state === 'ready');
  const c = (await page.cookies()).find((x) => x.name === 't9kfs_session');
  check(c, 'no session cookie');
  eq([c.httpOnly, c.sameSite, c.path], [true, 'Strict', '/'], 'cookie flags');
  check(!(await page.evaluate(() => document.cookie)).includes('t9kfs_session'), 'the cookie is readable by scripts');
  check(await page.$('#logout'), 'no log out button');
});

// ---- repositories ----

await step('repositories: branches, tags, size and last commit as the CLI says', async () => {
  await go('/ui/');
  await page.waitForFunction(() => [...document.querySelectorAll('#repos td[data-col=size]')].every((td) => td.textContent !== '…'));
  const rows = await page.$$eval('#repos tbody tr', (trs) => trs.map((tr) => ({
    name: tr.dataset.repo,
    branches: tr.querySelector('[data-col=branches]').textContent,
    tags: tr.querySelector('[data-col=tags]').textContent,
    bytes: tr.querySelector('[data-col=size]').dataset.bytes,
    files: tr.querySelector('[data-col=size]').dataset.files,
    last: tr.querySelector('[data-col=last]').textContent,
  })));
  eq(rows.map((r) => r.name), want.repos.map((r) => r.name), 'repositories');
  for (const r of want.repos) {
    const got = rows.find((x) => x.name === r.name);
    eq([got.branches, got.tags, got.last], [String(r.branches), String(r.tags), r.last], r.name);
    if (r.bytes !== undefined) eq([got.bytes, got.files], [String(r.bytes), String(r.files)], r.name + ' size');
  }
  await shot('repos');
});

await step('keyboard: arrows move through the repositories, Enter opens one', async () => {
  await page.focus('#repos tbody tr:first-child');
  await page.keyboard.press('ArrowDown');
  const focused = await page.evaluate(() => document.activeElement.dataset.repo);
  eq(focused, want.repos[1].name, 'focused row after ArrowDown');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowDown');
  await page.evaluate(() => { document.querySelector('main').dataset.state = 'stale'; });
  await page.keyboard.press('Enter');
  await ready();
  check(page.url().endsWith(`/ui/r/${want.repos[1].name}/tree/main`), 'Enter went to ' + page.url());
});

// ---- files ----

await step('tree: names, sizes and modes of a directory as in the data', async () => {
  await go('/ui/r/data/tree/main/train');
  const rows = await page.$$eval('#entries > .row', (trs) => trs.map((tr) => [tr.dataset.name, tr.dataset.type,
    Number(tr.querySelector('[data-col=size]').dataset.size), tr.querySelector('[data-col=mode]').dataset.mode]));
  eq(rows, want.tree_train, 'entries of train/');
  eq(await texts('#path a, #path .leaf'), ['data@main', 'train'], 'path');
  await shot('tree');
});

await step('tree: a directory of more entries than a page, shown by pages', async () => {
  await go('/ui/r/data/tree/main/many');
  await page.waitForSelector('#entries[data-complete]');
  eq(await page.$$eval('#entries > .row', (t) => t.length), 1000, 'first page');
  check((await page.$eval('#count', (e) => e.textContent)).startsWith(want.many_count.toLocaleString('en-US') + ' entries'), 'count');
  await page.click('#more');
  await page.waitForFunction((n) => document.querySelectorAll('#entries > .row').length === n &&
    document.querySelector('#entries').dataset.complete, {}, want.many_count);
  const names = await page.$$eval('#entries > .row', (trs) => trs.map((t) => t.dataset.name));
  eq(names, want.many_names, 'all names in order');
  check(!(await page.$('#more')), 'a "more" button is left');
});

await step('keyboard: Down and Enter open an entry of the tree', async () => {
  await go('/ui/r/data/tree/main');
  const first = await page.evaluate(() => document.activeElement.dataset.name || document.activeElement.outerHTML.slice(0, 80));
  eq(first, want.tree_root[0], 'the list has the focus at first');
  const i = want.tree_root.indexOf('train');
  for (let k = 0; k < i; k++) await page.keyboard.press('ArrowDown');
  await page.evaluate(() => { document.querySelector('main').dataset.state = 'stale'; });
  await page.keyboard.press('Enter');
  await ready();
  check(page.url().endsWith('/ui/r/data/tree/main/train'), 'went to ' + page.url());
});

await step('previews: text, CSV as a table, JSON, an image; binary files are not shown', async () => {
  await go('/ui/r/data/blob/main/train/a.txt');
  eq(await page.$eval('#preview-text', (e) => e.textContent), want.a_txt, 'a.txt');
  await shot('preview-text');
  await go('/ui/r/data/blob/main/docs/table.csv');
  const cells = await page.$$eval('#preview-csv tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
  eq(cells, want.csv_rows, 'table.csv');
  await shot('preview-csv');
  await go('/ui/r/data/blob/main/docs/config.json');
  eq(JSON.parse(await page.$eval('#preview-json', (e) => e.textContent)), want.config_json, 'config.json');
  check((await page.$eval('#preview-json', (e) => e.textContent)).includes('\n  '), 'JSON not indented');
  await go('/ui/r/data/blob/main/docs/red.png');
  await page.waitForFunction(() => { const i = document.querySelector('#preview-image'); return i && i.complete && i.naturalWidth > 0; });
  eq(await page.$eval('#preview-image', (i) => [i.naturalWidth, i.naturalHeight]), [40, 30], 'image size');
  await shot('preview-image');
  await go('/ui/r/data/blob/main/train/big.bin');
  check(await page.$('#preview-binary'), 'big.bin previewed as text');
  eq(await page.$eval('[data-col=size]', (e) => e.dataset.size), String(want.big_size), 'size of big.bin');
});

await step('download: the bytes of a file as an attachment, and ranges', async () => {
  await go('/ui/r/data/blob/main/train/big.bin');
  const href = await page.$eval('#download', (a) => a.getAttribute('href'));
  const r = await page.evaluate(async (u) => {
    const res = await fetch(u);
    const buf = new Uint8Array(await res.arrayBuffer());
    let sum = 0;
    for (const b of buf) sum = (sum * 31 + b) % 1000000007;
    const part = await fetch(u, { headers: { Range: 'bytes=10-19' } });
    return { status: res.status, len: buf.length, sum, cd: res.headers.get('content-disposition'),
      type: res.headers.get('content-type'), pstatus: part.status, prange: part.headers.get('content-range'),
      plen: (await part.arrayBuffer()).byteLength };
  }, href);
  eq([r.status, r.len, r.sum], [200, want.big_size, want.big_sum], 'download');
  check(r.cd.startsWith('attachment;'), 'Content-Disposition ' + r.cd);
  eq(r.type, 'application/octet-stream', 'type');
  eq([r.pstatus, r.prange, r.plen], [206, `bytes 10-19/${want.big_size}`, 10], 'range');
});

// ---- history ----

await step('commit log: pages of 50, server-side, the same commits as t9kfs log --json', async () => {
  await go('/ui/r/models/log/sweep');
  const seen = [];
  let pages = 0;
  for (;;) {
    pages++;
    const ids = await page.$$eval('#commits tr', (trs) => trs.map((t) => t.dataset.id));
    check(ids.length <= 50, 'a page of ' + ids.length);
    seen.push(...ids);
    if (pages === 1) await shot('log');
    if (!(await page.$('#older'))) break;
    await clickNav('#older');
  }
  eq(seen, want.log_sweep, 'commits of sweep');
  eq(pages, Math.ceil(want.log_sweep.length / 50), 'pages');
  const back = await page.$('#first');
  check(back, 'no link back to the newest');
});

await step('commit log: messages, authors and metadata as the CLI shows them', async () => {
  await go('/ui/r/models/log/sweep');
  const rows = await page.$$eval('#commits tr', (trs) => trs.slice(0, 3).map((tr) => ({
    id: tr.dataset.id, msg: tr.querySelector('.msg').textContent, author: tr.querySelector('.author').textContent,
    keys: [...tr.querySelectorAll('.chip')].map((c) => c.dataset.key),
  })));
  eq(rows, want.log_sweep_head, 'first rows');
});

await step('a run\'s commit: run fields, params, metrics, and lineage links to its input data', async () => {
  await go(`/ui/r/models/commit/${want.run_a.id}`);
  eq(await page.$eval('#commit-id', (e) => e.textContent), want.run_a.id, 'id');
  eq(await page.$$eval('#params tr', (t) => t.map((r) => [r.dataset.key, r.querySelector('td').textContent])), want.run_a.params, 'params');
  eq(await page.$$eval('#metrics tr', (t) => t.map((r) => [r.dataset.key, r.querySelector('td').textContent])), want.run_a.metrics, 'metrics');
  const lin = await page.$eval('#inputs a.lineage', (a) => a.getAttribute('href'));
  eq(lin, `/ui/r/data/tree/${want.run_a.input_commit}/train`, 'lineage link');
  await shot('commit');
  await clickNav('#inputs a.lineage');
  check(await page.$('#entries'), 'the input is not shown as a tree');
  eq(await page.$$eval('#entries > .row', (t) => t.map((r) => r.dataset.name)), want.train_v1_names, 'the input data');
});

await step('branches and tags with their commits', async () => {
  await go('/ui/r/models/refs');
  eq(await page.$$eval('#branches-list tr', (t) => t.map((r) => r.dataset.ref)), want.models_branches, 'branches');
  await go('/ui/r/data/refs');
  eq(await page.$$eval('#tags-list tr', (t) => t.map((r) => r.dataset.ref)), ['v1'], 'tags');
  await shot('refs');
});

// ---- diff ----

await step('diff of two refs: the changes of t9kfs diff --json, folded by directory, by pages', async () => {
  await go('/ui/r/data/diff?from=v1&to=main');
  const t = await page.$eval('#totals', (e) => ({ ...e.dataset }));
  eq([t.added, t.removed, t.modified].map(Number), want.diff_totals, 'totals');
  const seen = [];
  const groups = [];
  let pages = 0;
  for (;;) {
    pages++;
    seen.push(...await page.$$eval('#changes tr', (trs) => trs.map((tr) => [tr.dataset.path, tr.dataset.change])));
    if (pages === 1) await shot('diff');
    groups.push(...await page.$$eval('details.group', (d) => d.map((g) => [g.dataset.dir, g.open])));
    if (!(await page.$('#next'))) break;
    await clickNav('#next');
  }
  eq(seen, want.diff, 'changes');
  check(pages >= 2, 'one page only');
  check(groups.some(([d, open]) => d === 'many2' && !open), 'the big directory is not folded: ' + JSON.stringify(groups));
  check(groups.some(([d, open]) => d === 'train' && open), 'train/ is folded');
});

// ---- compare ----

async function compareRows() {
  return page.$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => ({
    label: tr.dataset.label, commit: tr.dataset.commit,
    cells: Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map((td) => [td.dataset.key, td.textContent])),
    best: [...tr.querySelectorAll('td.best')].map((td) => td.dataset.key),
  })));
}

await step('compare branches matching exp-*: params and metrics as t9kfs compare --json', async () => {
  await go('/ui/r/models/compare?glob=' + encodeURIComponent('exp-*'));
  const rows = await compareRows();
  eq(rows.map((r) => [r.label, r.commit]), want.compare_glob.map((c) => [c.ref, c.commit]), 'runs');
  for (const c of want.compare_glob) {
    const r = rows.find((x) => x.commit === c.commit);
    for (const [k, v] of Object.entries(c.meta)) {
      if (k.startsWith('param.') || k.startsWith('metric.')) eq(r.cells[k], v, `${c.ref} ${k}`);
    }
  }
  await shot('compare');
});

await step('compare: the best value of each metric is highlighted', async () => {
  const rows = await compareRows();
  const best = (key, min) => {
    const vals = want.compare_glob.map((c) => Number(c.meta[key])).filter((v) => !Number.isNaN(v));
    const b = min ? Math.min(...vals) : Math.max(...vals);
    return want.compare_glob.filter((c) => Number(c.meta[key]) === b).map((c) => c.ref).sort();
  };
  eq(rows.filter((r) => r.best.includes('metric.loss')).map((r) => r.label).sort(), best('metric.loss', true), 'best loss (lowest)');
  eq(rows.filter((r) => r.best.includes('metric.acc')).map((r) => r.label).sort(), best('metric.acc', false), 'best acc (highest)');
});

await step('compare: sorting by a column, both ways, kept in the URL', async () => {
  await page.click('th[data-key="metric.loss"] button.sort');
  let labels = (await compareRows()).map((r) => r.label);
  const byLoss = [...want.compare_glob].sort((a, b) => Number(a.meta['metric.loss']) - Number(b.meta['metric.loss'])).map((c) => c.ref);
  eq(labels, byLoss, 'ascending by loss');
  eq(await page.$eval('th[data-key="metric.loss"]', (t) => t.getAttribute('aria-sort')), 'ascending', 'aria-sort');
  await page.click('th[data-key="metric.loss"] button.sort');
  labels = (await compareRows()).map((r) => r.label);
  eq(labels, [...byLoss].reverse(), 'descending by loss');
  const u = new URL(page.url());
  eq([u.searchParams.get('sort'), u.searchParams.get('desc')], ['metric.loss', '1'], 'state in the URL');
  await page.click('th[data-key="param.lr"] button.sort');
  labels = (await compareRows()).map((r) => r.label);
  eq(labels, [...want.compare_glob].sort((a, b) => Number(a.meta['param.lr']) - Number(b.meta['param.lr'])).map((c) => c.ref), 'ascending by lr');
});

await step('compare: only-changed hides the columns equal in every run; columns can be hidden', async () => {
  const cols = () => page.$$eval('#compare-table thead th[data-key]', (t) => t.map((x) => x.dataset.key).filter((k) => k.includes('.')));
  const all = await cols();
  check(all.includes('param.epochs'), 'no param.epochs column');
  await page.click('#only-changed');
  const changed = await cols();
  eq(changed, all.filter((k) => want.compare_changed.includes(k)), 'only changed');
  await page.click('#only-changed');
  await page.click('#columns summary');
  await page.click('#columns input[data-key="metric.acc"]');
  check(!(await cols()).includes('metric.acc'), 'metric.acc still shown');
  await page.click('#columns input[data-key="metric.acc"]');
  eq(await cols(), all, 'all columns back');
});

await step('compare: CSV export of the table', async () => {
  const dir = path.join(cfg.shots, 'download');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir, browserContextId: context.id });
  await page.click('#export-csv');
  const file = path.join(dir, 'models-runs.csv');
  for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r\n/);
  const head = lines[0].split(',');
  eq(head.slice(0, 4), ['run', 'commit', 'status', 'time'], 'CSV header');
  eq(lines.length - 1, want.compare_glob.length, 'CSV rows');
  const ci = head.indexOf('metric.loss');
  for (const c of want.compare_glob) {
    const line = lines.find((l) => l.split(',')[1] === c.commit);
    check(line, 'no CSV row for ' + c.ref);
    eq(line.split(',')[ci], c.meta['metric.loss'], 'CSV loss of ' + c.ref);
  }
});

await step('compare: the parallel-coordinates chart and the metric curves are drawn', async () => {
  const lines = await page.$$eval('#pcoords g.run', (g) => g.map((x) => x.dataset.run));
  eq(lines.sort(), want.compare_glob.map((c) => c.ref).sort(), 'a line per run');
  const axes = await page.$$eval('#pcoords .axis-label', (t) => t.map((x) => x.textContent));
  check(axes.includes('lr') && axes.includes('loss'), 'axes ' + axes);
  await (await page.$('#pcoords')).screenshot({ path: path.join(cfg.shots, 'chart-pcoords.png') });
  await page.waitForSelector('#curves svg.curve');
  const curves = await page.$$eval('#curves svg.curve', (s) => s.map((x) => [x.dataset.metric, x.querySelectorAll('g.run').length]));
  eq(curves, want.curves, 'curves: metric, runs with history');
  await (await page.$('#curves')).screenshot({ path: path.join(cfg.shots, 'chart-curves.png') });
  const lin = await page.$$eval('#compare-table td.inputs a.lineage', (a) => a.map((x) => x.getAttribute('href')));
  check(lin.includes(`/ui/r/data/tree/${want.run_a.input_commit}/train`), 'no lineage link in the table: ' + lin);
  await shot('compare-charts');
});

await step('compare the last 20 commits of a branch, as t9kfs compare REF~20..REF', async () => {
  await go('/ui/r/models/compare?branch=sweep&last=20');
  const rows = await compareRows();
  eq(rows.map((r) => [r.label, r.commit]), want.compare_last.map((c) => [c.ref, c.commit]), 'runs');
  const r0 = rows[0];
  eq(r0.cells['param.lr'], want.compare_last[0].meta['param.lr'], 'lr of the first');
  check(await page.$('#no-curves'), 'curves for commits without a history');
});

await step('compare picked commits by id and ref', async () => {
  await go('/ui/r/models/compare?refs=' + encodeURIComponent(`${want.run_a.id.slice(0, 10)},exp-b`));
  eq((await compareRows()).map((r) => r.commit), [want.run_a.id, want.compare_glob.find((c) => c.ref === 'exp-b').commit], 'commits');
});

// ---- deep links ----

await step('deep links: every view loads from its URL in a new tab, with its state', async () => {
  const p = await newPage();
  const links = [
    ['/ui/r/data/blob/main/docs/table.csv', '#preview-csv'],
    ['/ui/r/data/tree/main/train', '#entries'],
    [`/ui/r/models/commit/${want.run_a.id}`, '#params'],
    ['/ui/r/models/log/sweep', '#commits'],
    ['/ui/r/data/diff?from=v1&to=main', '#changes'],
    ['/ui/r/models/refs', '#branches'],
    ['/ui/r/models/compare?glob=exp-*&sort=metric.loss&desc=1', '#compare-table'],
  ];
  for (const [u, sel] of links) {
    await go(u, p);
    check(await p.$(sel), `${u}: no ${sel}`);
    eq(new URL(p.url()).pathname + new URL(p.url()).search, new URL(cfg.base + u).pathname + new URL(cfg.base + u).search, 'stayed at ' + u);
  }
  const labels = await p.$$eval('#compare-table tbody tr', (t) => t.map((x) => x.dataset.label));
  eq(labels, [...want.compare_glob].sort((a, b) => Number(b.meta['metric.loss']) - Number(a.meta['metric.loss'])).map((c) => c.ref), 'sorted as the link says');
  await p.goBack();
  await ready(p);
  check(await p.$('#branches'), 'back did not show the refs');
  await p.close();
});

// ---- names that are markup ----

await step('names, messages and metadata that are markup are shown as text and never run', async () => {
  await go('/ui/r/data/log/main');
  const msgs = await texts('#commits .msg');
  check(msgs.includes(want.xss_message), 'the message is not shown as text: ' + msgs);
  const authors = await texts('#commits .author');
  check(authors.includes(want.xss_author), 'the author is not shown as text');
  await go(`/ui/r/data/commit/${want.xss_commit}`);
  eq(await page.$eval('#message', (e) => e.textContent), want.xss_message, 'message');
  const meta = await page.$$eval('#meta tr', (t) => t.map((r) => [r.dataset.key, r.querySelector('td').textContent]));
  eq(meta, want.xss_meta, 'metadata');
  await go('/ui/r/data/tree/main/docs');
  const names = await page.$$eval('#entries > .row', (t) => t.map((r) => r.dataset.name));
  check(names.includes(want.xss_file), 'the file name is not shown: ' + names);
  await page.click(`#entries > .row[data-name="${want.xss_file.replace(/"/g, '\\"')}"] a`);
  await ready();
  eq(await page.$eval('#preview-text', (e) => e.textContent), want.xss_file_content, 'its content as text');
  await go('/ui/r/data/blob/main/docs/evil.html');
  eq(await page.$eval('#preview-text', (e) => e.textContent), want.evil_html, 'evil.html as text');
  await go('/ui/r/data/compare?refs=main');
  check(await page.$eval('#compare-table', (t, v) => t.textContent.includes(v), want.xss_param_value), 'param value not shown');
  eq(await page.$$eval('img', (i) => i.filter((x) => !x.closest('.preview')).length), 0, 'an <img> appeared');
  eq(await page.$$eval('script', (s) => s.map((x) => x.getAttribute('src'))), ['/ui/static/app.js'], 'scripts on the page');
  eq(await xss(), undefined, 'window.__xss');
  await shot('markup-names');
});

await step('a file opened directly is served as text and sandboxed: nothing runs', async () => {
  const p = await newPage();
  const res = await p.goto(cfg.base + '/api/v1/repos/data/file?path=docs/evil.html', { waitUntil: 'load' });
  eq(res.headers()['content-type'], 'text/plain; charset=utf-8', 'type');
  eq(res.headers()['x-content-type-options'], 'nosniff', 'nosniff');
  check(res.headers()['content-security-policy'].includes('sandbox'), 'no sandbox');
  eq(await p.evaluate(() => window.__xss), undefined, 'window.__xss');
  const svg = await p.goto(cfg.base + '/api/v1/repos/data/file?path=docs/evil.svg', { waitUntil: 'load' });
  eq(svg.headers()['content-type'], 'text/plain; charset=utf-8', 'svg type');
  eq(await p.evaluate(() => window.__xss), undefined, 'window.__xss after the svg');
  await p.close();
});

await step('a change with the cookie needs the console\'s header (CSRF)', async () => {
  let r;
  await expecting(/ 403 /, async () => { r = await page.evaluate(async () => {
    const bare = await fetch('/api/v1/repos', { method: 'POST', body: '{"name":"csrf1"}' });
    const ok = await fetch('/api/v1/repos', { method: 'POST', headers: { 'X-T9kfs-Request': '1' }, body: '{"name":"csrf2"}' });
    const del = await fetch('/api/v1/repos/csrf2', { method: 'DELETE', headers: { 'X-T9kfs-Request': '1' } });
    return [bare.status, (await bare.json()).error.code, ok.status, del.status];
  }); });
  eq(r, [403, 'forbidden', 201, 204], 'statuses');
});

// ---- the end ----

await step('log out ends the session: the API answers 401 again', async () => {
  await go('/ui/');
  await page.click('#logout');
  await page.waitForFunction(() => location.pathname === '/ui/login');
  await expecting(/ 401 /, async () => {
    const status = await page.evaluate(async () => (await fetch('/api/v1/repos')).status);
    eq(status, 401, 'after log out');
  });
});

await step('public read: browsing without a login, read-only', async () => {
  if (!cfg.publicBase) throw new Error('no public server');
  const anon = await browser.createBrowserContext();
  const p = await anon.newPage();
  p.on('pageerror', (e) => errors.push('page error: ' + e.message));
  await p.setViewport({ width: 1280, height: 900 });
  await p.goto(cfg.publicBase + '/ui/r/data/tree/main/train', { waitUntil: 'domcontentloaded' });
  await ready(p);
  eq(new URL(p.url()).pathname, '/ui/r/data/tree/main/train', 'stayed');
  eq(await p.$$eval('#entries > .row', (t) => t.map((r) => r.dataset.name)), want.tree_train.map((r) => r[0]), 'entries');
  check((await p.$eval('#who', (e) => e.textContent)).includes('read-only'), 'no read-only badge');
  const st = await p.evaluate(async () => [(await fetch('/api/v1/repos')).status,
    (await fetch('/api/v1/repos', { method: 'POST', headers: { 'X-T9kfs-Request': '1' }, body: '{"name":"x"}' })).status]);
  eq(st, [200, 401], 'read and write statuses');
  await p.screenshot({ path: path.join(cfg.shots, 'public-read.png') });
  await anon.close();
});

await step('no errors in the browser console', async () => {
  eq(errors, [], 'console errors');
});

await browser.close();
console.log(failed ? `console.test: ${failed} failed` : 'console.test: all passed');
process.exit(failed ? 1 : 0);
