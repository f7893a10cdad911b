// The console's shell: session, router (history URLs under /ui/, which the
// server answers with this page whatever the path, so every view has a
// plain URL), header and the login page.
import { api, h, append, clear, setUnauthorizedHandler, ApiError, refreshNav } from './lib.js';
import * as views from './views.js';
import { compareView } from './compare.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const who = document.getElementById('who');
let session = { authenticated: false, public_read: false, via: null };
let renderSeq = 0;

// [pattern, view]: groups are URL-decoded and passed in order.
const routes = [
  [/^\/ui\/?$/, views.reposView],
  [/^\/ui\/login\/?$/, loginView],
  [/^\/ui\/r\/([^/]+)\/?$/, views.repoHome],
  [/^\/ui\/r\/([^/]+)\/tree\/([^/]+)(?:\/(.*?))?\/?$/, views.treeView],
  [/^\/ui\/r\/([^/]+)\/blob\/([^/]+)\/(.+)$/, views.blobView],
  [/^\/ui\/r\/([^/]+)\/log\/([^/]+)\/?$/, views.logView],
  [/^\/ui\/r\/([^/]+)\/commit\/([^/]+)\/?$/, views.commitView],
  [/^\/ui\/r\/([^/]+)\/refs\/?$/, views.refsView],
  [/^\/ui\/r\/([^/]+)\/diff\/?$/, views.diffView],
  [/^\/ui\/r\/([^/]+)\/compare\/?$/, compareView],
];

function decodePath(p) {
  return p === undefined ? '' : p.split('/').map(decodeURIComponent).join('/');
}

export function navigate(url, replace) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

// The context a view gets: where to draw (a page of its own, so a view
// still loading after the next navigation draws into nothing), the query.
function context(seq, page) {
  return {
    main: page,
    query: new URLSearchParams(location.search),
    session,
    navigate,
    stale: () => seq !== renderSeq,
    setTitle: (...parts) => { document.title = [...parts, 't9kfs'].join(' · '); },
    setCrumbs: (...items) => {
      clear(crumbs);
      items.forEach((it, i) => {
        if (i) append(crumbs, h('span', { class: 'sep' }, '/'));
        append(crumbs, typeof it === 'string' ? h('span', {}, it) : it);
      });
    },
  };
}

async function render() {
  const seq = ++renderSeq;
  const path = location.pathname;
  main.dataset.state = 'loading';
  let match = null;
  let view = null;
  for (const [re, v] of routes) {
    match = re.exec(path);
    if (match) {
      view = v;
      break;
    }
  }
  if (view !== loginView && !session.authenticated && !session.public_read) {
    navigate('/ui/login?next=' + encodeURIComponent(path + location.search), true);
    return;
  }
  const page = h('div', { class: 'page' });
  const ctx = context(seq, page);
  clear(main);
  main.append(page);
  ctx.setCrumbs();
  try {
    if (!view) throw new ApiError(404, 'not_found', 'no page at ' + path);
    let args;
    try {
      args = match.slice(1).map((g, i) => (i === 0 ? decodeURIComponent(g) : decodePath(g)));
    } catch (e) {
      throw new ApiError(400, 'bad_request', 'malformed address ' + path);
    }
    await view(ctx, ...args);
  } catch (e) {
    if (seq !== renderSeq) return;
    console.info('t9kfs console:', e.message); // shown on the page; not an error of the page
    clear(page);
    append(page, h('div', { class: 'error', role: 'alert' },
      h('strong', {}, e.status ? `Error ${e.status}` : 'Error'), ': ', e.message));
  }
  if (seq !== renderSeq) return;
  main.dataset.state = 'ready';
  main.dataset.view = view ? view.name : 'none';
  performance.mark('t9kfs-ready');
  // after the frame that shows the view: its first paint
  requestAnimationFrame(() => setTimeout(() => {
    if (seq === renderSeq) performance.mark('t9kfs-painted');
  }, 0));
  main.querySelectorAll('.nav-list').forEach(refreshNav);
  // the main list has the keys at once
  if ((document.activeElement === document.body || !main.contains(document.activeElement)) &&
      page.dataset.focus !== 'none') {
    const first = main.querySelector('.nav-list > [tabindex="0"]');
    if (first) first.focus({ preventScroll: true });
  }
}

function drawWho() {
  clear(who);
  if (session.via === 'cookie') {
    append(who, h('button', { type: 'button', id: 'logout', class: 'link', onclick: logout }, 'Log out'));
  } else if (session.via === 'token') {
    append(who, h('span', { class: 'muted' }, 'token'));
  } else if (session.public_read) {
    append(who, h('span', { class: 'badge' }, 'read-only'), ' ',
      h('a', { href: '/ui/login?next=' + encodeURIComponent(location.pathname) }, 'Log in'));
  }
}

async function logout() {
  await api('/session', { method: 'DELETE', noRedirect: true });
  session = await api('/session');
  drawWho();
  navigate('/ui/login', true);
}

// The next page after a login: a path of this console only.
function safeNext(n) {
  return n && /^\/ui\/(?![/\\])/.test(n) && !n.startsWith('/ui/login') ? n : '/ui/';
}

async function loginView(ctx) {
  ctx.setTitle('Log in');
  const input = h('input', {
    type: 'password', id: 'token', name: 'token', autocomplete: 'current-password',
    required: true, size: 40, 'aria-label': 'token',
  });
  const msg = h('p', { class: 'error hidden', id: 'login-error', role: 'alert' });
  const form = h('form', { id: 'login', class: 'login' },
    h('h1', {}, 'Log in to t9kfs'),
    h('p', { class: 'muted' }, 'Paste the metadata service\'s token (the server\'s token file, ',
      h('code', {}, '$T9KFS_HOME/token'), ').'),
    h('label', { for: 'token' }, 'Token'), input,
    h('button', { type: 'submit' }, 'Log in'), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.classList.add('hidden');
    try {
      await api('/session', { method: 'POST', body: { token: input.value }, noRedirect: true });
      input.value = '';
      session = await api('/session');
      drawWho();
      navigate(safeNext(ctx.query.get('next')), true);
    } catch (e) {
      clear(msg);
      append(msg, e.status === 401 ? 'Wrong token.' : e.message);
      msg.classList.remove('hidden');
      input.focus();
    }
  });
  append(ctx.main, form);
  ctx.main.dataset.focus = 'none';
  input.focus();
}

// Links to /ui/ move without reloading the page.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey ||
      ev.altKey || a.target || a.hasAttribute('download')) {
    return;
  }
  const href = a.getAttribute('href');
  if (!href.startsWith('/ui/')) return;
  ev.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', render);

setUnauthorizedHandler(async () => {
  session = await api('/session', { noRedirect: true });
  drawWho();
  if (!session.authenticated && !session.public_read && !location.pathname.startsWith('/ui/login')) {
    navigate('/ui/login?next=' + encodeURIComponent(location.pathname + location.search), true);
  }
});

(async () => {
  try {
    session = await api('/session', { noRedirect: true });
  } catch (e) {
    session = { authenticated: false, public_read: false, via: null };
  }
  drawWho();
  render();
})();
