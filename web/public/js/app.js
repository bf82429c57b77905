// app: boot (session restore), the shell and the client-side router.
// Screens are modules loaded on first use: screens/<name>.js exports
// render(main, params) and may return a clean-up function.
import * as api from './api.js';
import { t, setLang, getLang, LANGS } from './i18n.js';
import { h, clear, spinner, errorNote, note } from './ui.js';

const ROUTES = [
  { re: /^\/app\/signin$/, mod: 'auth', fn: 'signin' },
  { re: /^\/app\/signup$/, mod: 'auth', fn: 'signup' },
  { re: /^\/app\/rooms$/, mod: 'rooms', fn: 'render', auth: true },
  { re: /^\/app\/rooms\/([0-9a-fA-F-]{36})$/, mod: 'room', fn: 'render' },
  { re: /^\/j\/([A-Za-z-]{10,16})$/, mod: 'guest', fn: 'render' },
  { re: /^\/app\/history$/, mod: 'account', fn: 'history', auth: true },
  { re: /^\/app\/settings$/, mod: 'account', fn: 'settings', auth: true },
  { re: /^\/app\/sessions$/, mod: 'account', fn: 'sessions', auth: true },
];

const root = document.getElementById('app');
let cleanup = null;

export function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

function header() {
  const s = api.session();
  const nav = s
    ? [
        h('a', { href: '/app/rooms' }, t('my_rooms')),
        h('a', { href: '/app/history' }, t('history')),
        h('a', { href: '/app/settings' }, t('settings')),
        h('a', { href: '/app/sessions' }, t('sessions')),
        h('span.who', { 'data-testid': 'who' }, t('signed_in_as', { name: s.name ?? '' })),
        h('button.link', { type: 'button', onclick: async () => { await api.logout(); go('/app/signin'); } }, t('signout')),
      ]
    : [h('a', { href: '/app/signin' }, t('signin')), h('a', { href: '/app/signup' }, t('signup'))];
  // a signed-in user's pick is the account's setting (it wins at every load)
  const langSel = h('select', { 'aria-label': t('language'), onchange: async (e) => {
    setLang(e.target.value);
    if (api.session()) await api.call('PATCH', '/users/me/settings', { language: getLang() }).catch(() => {});
    route();
  } },
    LANGS.map((l) => h('option', { value: l, selected: l === getLang() }, l.toUpperCase())));
  return h('header.top', h('a.brand', { href: s ? '/app/rooms' : '/' }, t('app')), h('nav', nav, langSel));
}

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* screen gone anyway */ } cleanup = null; }
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/app') return go(api.session() ? '/app/rooms' : '/app/signin', { replace: true });
  const r = ROUTES.find((x) => x.re.test(path));
  const main = h('main');
  clear(root, header(), main);
  if (!r) {
    clear(main, note('error', t('not_found_page')), h('a', { href: '/app/rooms' }, t('back_home')));
    return;
  }
  if (r.auth && !api.session()) return go(`/app/signin?next=${encodeURIComponent(path)}`, { replace: true });
  clear(main, spinner(t('loading')));
  try {
    const mod = await import(`./screens/${r.mod}.js`);
    const params = path.match(r.re).slice(1);
    main.replaceChildren();
    document.title = t('app');
    cleanup = (await mod[r.fn](main, params, { go })) ?? null;
  } catch (e) {
    clear(main, errorNote(e), h('button', { type: 'button', onclick: route }, t('retry')));
  }
}

// Same-origin links to app routes navigate without reloading.
document.addEventListener('click', (e) => {
  const a = e.target.closest?.('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || a.target) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || !/^\/(app|j)(\/|$)/.test(u.pathname)) return;
  e.preventDefault();
  go(u.pathname + u.search);
});
window.addEventListener('popstate', route);
api.onSession(() => { const old = root.querySelector('header.top'); if (old) old.replaceWith(header()); });

async function boot() {
  setLang(getLang());
  clear(root, spinner(t('restore_session')));
  try {
    if (await api.restore()) {
      // the account's language and theme win over this browser's
      const cfg = await api.call('GET', '/users/me/settings').catch(() => null);
      if (cfg?.language) setLang(cfg.language);
      if (cfg?.theme) document.documentElement.dataset.theme = cfg.theme;
    }
  } catch (e) {
    clear(root, errorNote(e), h('button', { type: 'button', onclick: boot }, t('retry')));
    return;
  }
  route();
}
boot();
