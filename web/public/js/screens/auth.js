// auth: sign in and sign up.
import * as api from '../api.js';
import { t } from '../i18n.js';
import { h, busy } from '../ui.js';

function next() {
  const n = new URLSearchParams(location.search).get('next');
  return n && /^\/(app|j)\//.test(n) ? n : '/app/rooms';
}

function form(main, { title, fields, submit, other }, onSubmit) {
  const out = h('div.out');
  const btn = h('button', { type: 'submit' }, submit);
  const f = h('form.card', { novalidate: true, onsubmit: (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(f));
    busy(btn, out, () => onSubmit(v));
  } },
  h('h1', title),
  fields.map(([name, label, type, auto]) => h('label', label, h('input', { name, type, autocomplete: auto, required: true }))),
  btn, out, other);
  main.append(f);
  f.querySelector('input')?.focus();
}

export function signin(main, _p, { go }) {
  if (api.session()) return go(next(), { replace: true });
  form(main, {
    title: t('signin'), submit: t('signin'),
    fields: [['email', t('email'), 'email', 'email'], ['password', t('password'), 'password', 'current-password']],
    other: h('p', t('no_account'), ' ', h('a', { href: '/app/signup' + location.search }, t('signup'))),
  }, async (v) => { await api.login(v.email.trim(), v.password); go(next(), { replace: true }); });
}

export function signup(main, _p, { go }) {
  if (api.session()) return go(next(), { replace: true });
  form(main, {
    title: t('signup'), submit: t('signup'),
    fields: [['name', t('name'), 'text', 'name'], ['email', t('email'), 'email', 'email'], ['password', t('password'), 'password', 'new-password']],
    other: h('p', t('have_account'), ' ', h('a', { href: '/app/signin' + location.search }, t('signin'))),
  }, async (v) => { await api.register(v.name.trim(), v.email.trim(), v.password); go(next(), { replace: true }); });
}
