// account: call history, profile and settings, active sessions.
import * as api from '../api.js';
import { t, setLang, errorText } from '../i18n.js';
import { h, clear, busy, spinner, note, errorNote, fmtTime, fmtDuration } from '../ui.js';

function missingOr(e) {
  return note(e.missing ? 'info' : 'error', e.missing ? t('feature_missing') : errorText(e));
}

export async function history(main) {
  const box = h('section.card', h('h1', t('history')), spinner(t('loading')));
  main.append(box);
  try {
    const r = await api.call('GET', '/users/me/calls?limit=50');
    const rows = r.calls.map((c) => h('tr',
      h('td', h('a', { href: `/app/rooms/${c.room_id}` }, c.room_name)), h('td', c.role),
      h('td', fmtTime(c.joined_at)), h('td', fmtDuration(c.duration_s))));
    clear(box, h('h1', t('history')), rows.length
      ? h('table', h('thead', h('tr', h('th', t('room_name')), h('th', t('role')), h('th', t('joined_at')), h('th', t('duration')))), h('tbody', rows))
      : h('p.empty', t('no_calls')));
  } catch (e) {
    clear(box, h('h1', t('history')), missingOr(e));
  }
}

const THEMES = ['system', 'light', 'dark'];

// POST /auth/password: this session stays, every other one is signed out.
function passwordForm() {
  const out = h('div.out');
  const btn = h('button', { type: 'submit' }, t('change_password'));
  const f = h('form.password', { 'data-testid': 'password-form', onsubmit: (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(f));
    busy(btn, out, async () => {
      try {
        await api.call('POST', '/auth/password', { current_password: v.current_password, new_password: v.new_password });
      } catch (err) {
        if (err.code === 'invalid_credentials') err.code = 'wrong_current_password';
        throw err;
      }
      f.reset();
      out.replaceChildren(note('ok', t('password_changed')));
    });
  } },
  h('h2', t('change_password')),
  h('label', t('current_password'), h('input', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true })),
  h('label', t('new_password'), h('input', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 })),
  btn, out);
  return f;
}

export function applyTheme(theme) {
  document.documentElement.dataset.theme = THEMES.includes(theme) ? theme : 'system';
}

export async function settings(main, _p, { go }) {
  const prof = h('section.card', h('h1', t('profile')), spinner(t('loading')));
  const sets = h('section.card', h('h2', t('settings')), spinner(t('loading')));
  main.append(prof, sets, h('section.card', passwordForm()));

  // profile: /users/me, or the read-only /auth/me of older servers
  try {
    const me = await api.call('GET', '/users/me');
    const out = h('div.out');
    const btn = h('button', { type: 'submit' }, t('save'));
    const name = h('input', { name: 'name', value: me.name, maxlength: 64, required: true });
    clear(prof, h('h1', t('profile')), h('form', { onsubmit: (e) => {
      e.preventDefault();
      busy(btn, out, async () => {
        const now = await api.call('PATCH', '/users/me', { name: name.value.trim() });
        api.updateSession({ name: now.name });
        out.replaceChildren(note('ok', t('saved')));
      });
    } }, h('label', t('name'), name), h('p', `${t('email')}: ${me.email}`), btn, out));
  } catch (e) {
    let me = null;
    try { me = await api.call('GET', '/auth/me'); } catch { /* shown below */ }
    clear(prof, h('h1', t('profile')), me ? [h('p', `${t('name')}: ${me.name}`), h('p', `${t('email')}: ${me.email}`)] : null, missingOr(e));
  }

  try {
    const cur = await api.call('GET', '/users/me/settings');
    const out = h('div.out');
    const btn = h('button', { type: 'submit' }, t('save'));
    const check = (k, label) => h('label.check', h('input', { type: 'checkbox', name: k, checked: !!cur[k] }), label);
    const sel = (k, label, opts) => h('label', label, h('select', { name: k }, opts.map(([v, l]) => h('option', { value: v, selected: cur[k] === v }, l))));
    const f = h('form', { onsubmit: (e) => {
      e.preventDefault();
      const fd = new FormData(f);
      const body = {
        microphone_on_join: fd.has('microphone_on_join'), camera_on_join: fd.has('camera_on_join'),
        language: fd.get('language'), theme: fd.get('theme'),
      };
      busy(btn, out, async () => {
        const saved = await api.call('PATCH', '/users/me/settings', body);
        applyTheme(saved.theme);
        setLang(saved.language);
        go('/app/settings', { replace: true });
      });
    } },
    check('microphone_on_join', t('mic_on_join')), check('camera_on_join', t('cam_on_join')),
    sel('language', t('language'), [['en', 'English'], ['ru', 'Русский']]),
    sel('theme', t('theme'), THEMES.map((x) => [x, t(`theme_${x}`)])), btn, out);
    clear(sets, h('h2', t('settings')), f);
  } catch (e) {
    clear(sets, h('h2', t('settings')), missingOr(e));
  }
}

export async function sessions(main, _p, { go }) {
  const box = h('section.card', h('h1', t('sessions')), spinner(t('loading')));
  main.append(box);
  const load = async (said) => {
    try {
      const list = await api.call('GET', '/auth/sessions');
      clear(box, h('h1', t('sessions')), h('ul.sessions', list.map((x) => {
        const out = h('span.out');
        const b = h('button.small.danger', { type: 'button' }, t('revoke_session'));
        b.addEventListener('click', () => busy(b, out, async () => {
          await api.call('DELETE', `/auth/sessions/${x.id}`);
          if (x.current) { await api.logout(); go('/app/signin'); } else await load(note('ok', t('session_revoked')));
        }));
        return h('li', { 'data-session': x.id, 'data-current': x.current ? 'true' : null }, h('span.ua', x.user_agent || '?'), x.current ? h('span.badge', t('current')) : null,
          h('small', `${t('last_used')}: ${fmtTime(x.last_used_at)} · ${x.client_ip ?? ''}`), b, out);
      })), said);
    } catch (e) {
      clear(box, h('h1', t('sessions')), missingOr(e));
    }
  };
  await load();
}
