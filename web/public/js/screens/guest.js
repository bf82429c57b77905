// guest: a meeting link /j/<code>[?invite=...]: the room's name, then the
// join form of the room page (name, join or wait).
import * as api from '../api.js';
import { t } from '../i18n.js';
import { h, clear, spinner, note, errorNote, fmtTime } from '../ui.js';
import { prejoin } from './room.js';

export async function render(main, [code], ctx) {
  code = code.toLowerCase().replace(/-/g, '');
  main.append(spinner(t('loading')));
  let info;
  try {
    info = await api.call('GET', `/rooms/by-code/${code}`, undefined, { token: '' });
  } catch (e) {
    clear(main, h('section.card', h('h1', t('guest_title')), e.missing ? note('info', t('feature_missing')) : errorNote(e)));
    return;
  }
  main.replaceChildren();
  if (info.status === 'ended') {
    main.append(h('section.card', h('h1', info.name), note('info', t('room_ended'))));
    return;
  }
  const st = { id: info.room_id, code, roomName: info.name, ctx, invite: new URLSearchParams(location.search).get('invite') };
  if (info.scheduled_at && info.status === 'pending') main.append(note('info', t('scheduled_for', { at: fmtTime(info.scheduled_at) })));
  prejoin(main, st);
  return () => st.stop?.();
}
