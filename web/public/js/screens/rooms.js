// rooms: the signed-in user's rooms: list, create (name, access, schedule), delete.
import * as api from '../api.js';
import { t, errorText } from '../i18n.js';
import { h, clear, busy, spinner, errorNote, fmtTime, showCode, rfc3339 } from '../ui.js';

const ACCESS = ['open', 'knock', 'invite'];

function createForm(onCreated) {
  const out = h('div.out');
  const btn = h('button', { type: 'submit' }, t('create'));
  const f = h('form.card.create', { onsubmit: (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(f));
    const body = { name: v.name.trim() };
    // only the keys a server of API.md knows, unless the user asked for more
    if (v.access !== 'open') body.access = v.access;
    if (v.scheduled_at) body.scheduled_at = rfc3339(v.scheduled_at);
    busy(btn, out, async () => {
      try {
        const room = await api.call('POST', '/rooms', body);
        f.reset();
        onCreated(room);
      } catch (e) {
        if (e.code === 'invalid_json' && (body.access || body.scheduled_at)) throw Object.assign(e, { code: 'not_found' });
        throw e;
      }
    });
  } },
  h('h2', t('create_room')),
  h('label', t('room_name'), h('input', { name: 'name', required: true, minlength: 2, maxlength: 64, 'data-testid': 'room-name' })),
  h('label', t('access'), h('select', { name: 'access', 'data-testid': 'room-access' }, ACCESS.map((a) => h('option', { value: a }, t(`access_${a}`))))),
  h('label', t('schedule'), h('input', { name: 'scheduled_at', type: 'datetime-local', 'data-testid': 'room-schedule' })),
  btn, out);
  return f;
}

function row(room, onDelete) {
  const out = h('div.out');
  const del = h('button.danger', { type: 'button' }, t('delete'));
  del.addEventListener('click', () => {
    if (!confirm(t('confirm_delete', { name: room.name }))) return;
    busy(del, out, async () => { await api.call('DELETE', `/rooms/${room.id}`); onDelete(room); });
  });
  return h('li.room', { 'data-room': room.id },
    h('a.name', { href: `/app/rooms/${room.id}` }, room.name),
    h('span.badge', { class: `badge s-${room.status}` }, t(`status_${room.status}`)),
    room.code ? h('a.code', { href: `/j/${showCode(room.code)}` }, showCode(room.code)) : null,
    room.access && room.access !== 'open' ? h('span.badge', t(`access_${room.access}`)) : null,
    room.scheduled_at ? h('span.when', t('scheduled_for', { at: fmtTime(room.scheduled_at) })) : h('span.when', fmtTime(room.created_at)),
    h('a.button', { href: `/app/rooms/${room.id}` }, t('open')), del, out);
}

export async function render(main, _p, { go }) {
  const list = h('ul.rooms', { 'data-testid': 'rooms' });
  const listBox = h('section.card', h('h2', t('my_rooms')), list);
  main.append(createForm((room) => { go(`/app/rooms/${room.id}`); }), listBox);
  const show = (rooms) => {
    if (!rooms.length) return clear(list, h('li.empty', t('no_rooms')));
    clear(list, rooms.map((r) => row(r, (gone) => { rooms = rooms.filter((x) => x.id !== gone.id); show(rooms); })));
  };
  clear(list, h('li', spinner(t('loading'))));
  try {
    show(await api.call('GET', '/rooms?limit=100'));
  } catch (e) {
    clear(list, h('li', errorNote(e)));
  }
}
