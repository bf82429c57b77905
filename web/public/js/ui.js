// ui: tiny DOM helpers. h('tag.class', {attrs, on*: handler}, ...children).
import { t, errorText } from './i18n.js';

export function h(sel, attrs, ...kids) {
  const [tag, ...cls] = sel.split('.');
  const el = document.createElement(tag || 'div');
  if (cls.length) el.className = cls.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

export function clear(el, ...kids) {
  el.replaceChildren();
  for (const k of kids.flat()) if (k) el.append(k);
  return el;
}

// A message box: kind 'error' | 'info' | 'ok'.
export function note(kind, text, ...extra) {
  return h(`p.note.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text, ...extra);
}

export function errorNote(err) {
  return note('error', errorText(err));
}

export function spinner(text = t('working')) {
  return h('p.progress', { role: 'status' }, h('span.spin', { 'aria-hidden': 'true' }), text);
}

// Runs fn while the button shows progress; errors land in `out` as words.
export async function busy(button, out, fn) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = t('working');
  if (out) out.replaceChildren();
  try {
    return await fn();
  } catch (e) {
    if (out) out.replaceChildren(errorNote(e));
    else throw e;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// abcdefghij -> abc-defg-hij, as meeting codes are shown
export function showCode(c) {
  c = String(c).replace(/-/g, '');
  return `${c.slice(0, 3)}-${c.slice(3, 7)}-${c.slice(7)}`;
}

// A Date (or RFC 3339 string) as the value of a datetime-local input.
export function localInput(at) {
  if (!at) return '';
  const d = new Date(at);
  const z = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())}T${z(d.getHours())}:${z(d.getMinutes())}`;
}

// A datetime-local input's value as RFC 3339 without fractions.
export function rfc3339(local) {
  return new Date(local).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString(document.documentElement.lang || undefined);
}

export function fmtDuration(sec) {
  if (sec === undefined || sec === null) return '';
  const m = Math.floor(sec / 60), s = sec % 60;
  return m ? `${m} min ${s} s` : `${s} s`;
}
