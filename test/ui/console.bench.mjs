// The web console's first paint (bench/console.sh): Debian's headless
// Chromium, driven by puppeteer-core, opens deep links in fresh tabs of a
// logged-in browser and reports, per view and run, when the view was
// ready (its data fetched and its DOM built, from navigation start) and
// when the frame after that was painted. One JSON line per run on stdout.
//
// Usage: node console.bench.mjs CONFIG.json
//   CONFIG: {modules, browser, base, token, runs, views: [{name, url, cursorPages}]}
//   cursorPages: first walk that many pages of GET .../history (50 commits
//   each) and open the log at the next page's cursor.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(cfg.modules, 'x.js'));
const puppeteer = require('puppeteer-core');

const browser = await puppeteer.launch({
  executablePath: cfg.browser,
  headless: 'shell',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
});
const page = await browser.newPage();
await page.goto(cfg.base + '/ui/login', { waitUntil: 'domcontentloaded' });
await page.waitForSelector('#token');
await page.type('#token', cfg.token);
await page.click('#login button[type=submit]');
await page.waitForFunction(() => location.pathname === '/ui/' && document.querySelector('main').dataset.state === 'ready');

for (const v of cfg.views) {
  let url = v.url;
  if (v.cursorPages) {
    const cursor = await page.evaluate(async (repo, pages) => {
      let c = null;
      for (let i = 0; i < pages; i++) {
        const q = c ? `cursor=${c}` : 'ref=main';
        c = (await (await fetch(`/api/v1/repos/${repo}/history?limit=50&${q}`)).json()).next;
      }
      return c;
    }, v.repo, v.cursorPages);
    url += `?cursor=${cursor}&page=${v.cursorPages + 1}`;
  }
  for (let run = 0; run <= cfg.runs; run++) { // run 0 warms the caches up and is not reported
    const p = await browser.newPage();
    await p.setViewport({ width: 1280, height: 900 });
    await p.goto(cfg.base + url, { waitUntil: 'domcontentloaded' });
    await p.waitForFunction(() => document.querySelector('main').dataset.state === 'ready', { timeout: 60000 });
    // the console marks t9kfs-painted once the frame showing the view is out
    await p.waitForFunction(() => performance.getEntriesByName('t9kfs-painted').length, { timeout: 60000 });
    const t = await p.evaluate(() => ({
      ready_ms: performance.getEntriesByName('t9kfs-ready').pop().startTime,
      painted_ms: performance.getEntriesByName('t9kfs-painted').pop().startTime,
      rows: document.querySelectorAll('main .nav-list > *').length,
    }));
    // a long page goes on drawing its other rows a frame at a time
    await p.waitForFunction(() => [...document.querySelectorAll('main #entries')].every((l) => l.dataset.complete), { timeout: 60000 });
    const all = await p.evaluate(() => new Promise((resolve) => {
      requestAnimationFrame(() => requestAnimationFrame(() => resolve({
        all_ms: performance.now(), all_rows: document.querySelectorAll('main .nav-list > *').length,
      })));
    }));
    await p.close();
    if (run > 0) {
      console.log(JSON.stringify({ bench: 'console', view: v.name, run, ready_ms: +t.ready_ms.toFixed(1),
        painted_ms: +t.painted_ms.toFixed(1), rows: t.rows, all_ms: +all.all_ms.toFixed(1), all_rows: all.all_rows }));
    }
  }
}
await browser.close();
