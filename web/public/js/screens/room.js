// room: join (as the host, a signed-in user or a guest with a name), then
// media, participants, chat, waiting room, invites and moderation. Each part
// works on its own: no media server, or a route this server lacks, only
// turns that part into a plain message.
import * as api from '../api.js';
import { t, errorText } from '../i18n.js';
import { h, clear, busy, spinner, errorNote, note, fmtTime, showCode, localInput, rfc3339 } from '../ui.js';

const ACCESS = ['open', 'knock', 'invite'];
import { subscribe } from '../sse.js';

const POLL_MS = 4000;

// What a failure of a panel's route says (a missing route: "not yet here").
function panelError(e) {
  return note(e.missing ? 'info' : 'error', e.missing ? t('feature_missing') : errorText(e));
}

async function settings() {
  const d = { microphone_on_join: true, camera_on_join: true };
  if (!api.session()) return d;
  try { return { ...d, ...(await api.call('GET', '/users/me/settings')) }; } catch { return d; }
}

export async function render(main, [id], ctx) {
  id = id.toLowerCase();
  const s = api.session();
  let room = null;
  if (s) {
    main.append(spinner(t('loading')));
    try {
      room = await api.call('GET', `/rooms/${id}`);
    } catch (e) {
      clear(main, errorNote(e), h('a', { href: '/app/rooms' }, t('back_home')));
      return;
    }
    main.replaceChildren();
  }
  const st = { id, room, ctx, invite: new URLSearchParams(location.search).get('invite') };
  prejoin(main, st);
  return () => st.stop?.();
}

// The name (guests) and the Join button; then the join call. st: {id |
// code, room?, roomName?, invite?, ctx}; st.stop is set to the clean-up of
// what follows.
export function prejoin(main, st) {
  const s = api.session();
  const out = h('div.out');
  const btn = h('button', { type: 'submit', 'data-testid': 'join' }, t('join'));
  const name = s ? null : h('input', { name: 'user_name', maxlength: 36, required: true, autocomplete: 'name', 'data-testid': 'guest-name' });
  const f = h('form.card', { onsubmit: (e) => {
    e.preventDefault();
    busy(btn, out, async () => {
      const body = {};
      if (name) body.user_name = st.myName = name.value.trim() || 'Guest';
      if (st.invite) body.invite = st.invite;
      const path = st.code ? `/rooms/by-code/${st.code}/join` : `/rooms/${st.id}/join`;
      const j = await api.call('POST', path, body, name ? { token: '' } : {});
      main.replaceChildren();
      st.stop = j.status === 'waiting' ? waitingScreen(main, st, j) : inRoom(main, st, j);
    });
  } },
  h('h1', st.room?.name ?? st.roomName ?? t('join')),
  st.room?.status === 'ended' ? note('info', t('room_ended')) : null,
  st.room?.code ? h('p', t('meeting_code'), ': ', h('a.code', { href: `/j/${showCode(st.room.code)}`, 'data-testid': 'code-link' }, showCode(st.room.code))) : null,
  st.room?.status === 'pending' && st.room.scheduled_at ? note('info', t('scheduled_for', { at: fmtTime(st.room.scheduled_at) })) : null,
  name ? h('label', t('your_name'), name, h('small', t('guest_name_hint'))) : null,
  btn, out);
  main.append(f);
  if (st.room && s && st.room.owner_user_id === s.user_id && st.room.status !== 'ended') main.append(editForm(main, st));
  name?.focus();
}

// The host changes the room before (or between) meetings: PATCH /rooms/{id}
// with the fields that changed.
function editForm(main, st) {
  const r = st.room;
  const out = h('div.out');
  const btn = h('button', { type: 'submit' }, t('save'));
  const pending = r.status === 'pending';
  const f = h('form.card.edit', { 'data-testid': 'room-edit', onsubmit: (e) => {
    e.preventDefault();
    const v = Object.fromEntries(new FormData(f));
    const body = {};
    if (v.name.trim() !== r.name) body.name = v.name.trim();
    if (v.description !== (r.description ?? '')) body.description = v.description;
    if (v.access !== (r.access ?? 'open')) body.access = v.access;
    if ((v.locked === 'on') !== !!r.locked) body.locked = v.locked === 'on';
    if (pending && v.scheduled_at && v.scheduled_at !== localInput(r.scheduled_at)) body.scheduled_at = rfc3339(v.scheduled_at);
    busy(btn, out, async () => {
      st.room = await api.call('PATCH', `/rooms/${r.id}`, body);
      main.replaceChildren();
      prejoin(main, st);
      main.querySelector('form.edit .out')?.replaceChildren(note('ok', t('saved')));
    });
  } },
  h('h2', t('edit_room')),
  h('label', t('room_name'), h('input', { name: 'name', value: r.name, required: true, minlength: 2, maxlength: 64, 'data-testid': 'edit-name' })),
  h('label', t('description'), h('textarea', { name: 'description', maxlength: 500, 'data-testid': 'edit-description' }, r.description ?? '')),
  h('label', t('access'), h('select', { name: 'access', 'data-testid': 'edit-access' }, ACCESS.map((a) => h('option', { value: a, selected: (r.access ?? 'open') === a }, t(`access_${a}`))))),
  h('label.check', h('input', { type: 'checkbox', name: 'locked', checked: !!r.locked, 'data-testid': 'edit-locked' }), t('locked')),
  pending ? h('label', t('schedule'), h('input', { name: 'scheduled_at', type: 'datetime-local', value: localInput(r.scheduled_at), 'data-testid': 'edit-schedule' })) : null,
  btn, out);
  return f;
}

// A knock room: wait for the host, via events or polling.
function waitingScreen(main, st, w) {
  const box = h('section.card.waiting', { 'data-testid': 'waiting' }, h('h1', w.room_name ?? ''), spinner(t('waiting')));
  main.append(box);
  let done = false, stopEv = null, timer = null;
  const finish = (fn) => { if (done) return; done = true; stopEv?.(); clearInterval(timer); fn(); };
  const onStatus = (r) => {
    if (r.status === 'approved') finish(() => { main.replaceChildren(); st.stop = inRoom(main, st, r); });
    else if (r.status === 'rejected') finish(() => clear(box, note('error', t('rejected')), r.reason ? h('p', r.reason) : null));
    else if (r.status === 'expired') finish(() => clear(box, note('error', t('expired'))));
  };
  const poll = async () => {
    try { onStatus(await api.call('GET', `/rooms/${w.room_id}/waiting/${w.waiting_id}`, undefined, { token: w.waiting_token })); }
    catch (e) { if (!e.missing && e.status !== 0) finish(() => clear(box, errorNote(e))); }
  };
  stopEv = subscribe(`/rooms/${w.room_id}/events`, w.waiting_token, {
    onEvent: (type, data) => {
      // the event says "approved"; the join answer (tokens) comes with the
      // poll, which mints it (an event that carries it is used as is)
      if (type === 'waiting.approved') { if (data?.token && data.room_token) onStatus({ status: 'approved', ...data }); else poll(); }
      else if (type === 'waiting.rejected') onStatus({ status: 'rejected', reason: data.reason });
    },
    onState: () => {},
  });
  timer = setInterval(poll, POLL_MS);
  poll();
  return () => { if (!done) finish(() => {}); };
}

function inRoom(main, st, j) {
  const s = api.session();
  const roomId = j.room_id ?? st.id;
  const isHost = j.role === 'host' || !!(st.room && s && st.room.owner_user_id === s.user_id);
  let canModerate = isHost || j.role === 'moderator'; // a promotion turns it on (setStaff)
  // the owner's access token acts as host on every room route of its rooms;
  // everyone else acts inside the room with the room token of the join
  // (the participants list takes it too)
  const tok = isHost && s ? {} : j.room_token ? { token: j.room_token } : {};
  const streamToken = j.room_token ?? (isHost ? s?.token : null);
  const cleanups = [];
  let media = null, mediaLive = false, ended = false;

  const mediaBox = h('div.media-state', { 'data-testid': 'media-state' });
  const grid = h('div.grid', { 'data-testid': 'grid' });
  const people = h('ul.people', { 'data-testid': 'participants' });
  const chatList = h('ol.chat', { 'data-testid': 'chat' });
  const liveBox = h('div.live-state', { 'data-testid': 'live-state', 'data-state': 'connecting' });
  const endedBox = h('div');
  const code = st.code ?? st.room?.code;
  const link = `${location.origin}${code ? `/j/${showCode(code)}` : `/app/rooms/${roomId}`}`;

  // --- controls
  const micBtn = h('button.toggle', { type: 'button', disabled: true, 'aria-pressed': 'false', 'data-testid': 'mic' });
  const camBtn = h('button.toggle', { type: 'button', disabled: true, 'aria-pressed': 'false', 'data-testid': 'cam' });
  const toggles = { mic: false, cam: false };
  const paint = () => {
    micBtn.textContent = `${t('mic')}: ${toggles.mic ? t('on') : t('off')}`;
    camBtn.textContent = `${t('camera')}: ${toggles.cam ? t('on') : t('off')}`;
    micBtn.setAttribute('aria-pressed', String(toggles.mic));
    camBtn.setAttribute('aria-pressed', String(toggles.cam));
  };
  const flip = (k, fn) => async () => {
    if (!media) return;
    toggles[k] = !toggles[k];
    paint();
    try { await fn(toggles[k]); } catch { toggles[k] = !toggles[k]; paint(); }
  };
  micBtn.addEventListener('click', flip('mic', (v) => media.setMic(v)));
  camBtn.addEventListener('click', flip('cam', (v) => media.setCam(v)));
  const copyOut = h('span.out');
  const copyBtn = h('button', { type: 'button', onclick: async () => {
    try { await navigator.clipboard.writeText(link); copyOut.textContent = t('copied'); } catch { copyOut.textContent = link; }
  } }, t('copy_link'));
  const actOut = h('div.out');
  const leaveBtn = h('button', { type: 'button', onclick: () => busy(leaveBtn, actOut, async () => {
    if (j.room_token) await api.call('POST', `/rooms/${roomId}/leave`, {}, { token: j.room_token }).catch(() => {});
    stopAll();
    st.ctx.go(s ? '/app/rooms' : '/');
  }) }, t('leave'));
  const endBtn = isHost ? h('button.danger', { type: 'button', 'data-testid': 'end', onclick: () => {
    if (!confirm(t('confirm_end'))) return;
    busy(endBtn, actOut, async () => { await api.call('POST', `/rooms/${roomId}/end`, {}); showEnded(); });
  } }, t('end_room')) : null;

  function showEnded() {
    if (ended) return;
    ended = true;
    stopAll();
    clear(endedBox, note('info', t('room_ended'), ' ', s ? h('a', { href: '/app/rooms' }, t('back_home')) : null));
    endedBox.setAttribute('data-testid', 'ended');
    for (const b of [micBtn, camBtn, endBtn, leaveBtn]) if (b) b.disabled = true;
  }
  function removed() {
    ended = true;
    stopAll();
    clear(endedBox, note('error', t('removed')));
    endedBox.setAttribute('data-testid', 'removed');
  }

  // --- participants
  let list = [];
  const drawPeople = () => {
    const byId = new Map();
    const mine = list.find((p) => p.identity === j.identity);
    byId.set(j.identity, { ...mine, identity: j.identity, name: st.myName ?? s?.name ?? mine?.name ?? t('you'), role: mine?.role ?? j.role ?? (isHost ? 'host' : ''), self: true });
    for (const p of list) if (!byId.has(p.identity)) byId.set(p.identity, p);
    for (const p of media?.remote() ?? []) if (!byId.has(p.identity)) byId.set(p.identity, p);
    // without media the grid still shows who is here, as name tiles
    if (!mediaLive) clear(grid, [...byId.values()].map((p) => h('figure.tile.nomedia', h('span.initial', (p.name || p.identity || '?').slice(0, 1).toUpperCase()), h('figcaption', p.name || p.identity))));
    clear(people, [...byId.values()].map((p) => {
      const out = h('span.out');
      const act = (label, path, body) => {
        const b = h(path === 'remove' ? 'button.small.danger' : 'button.small', { type: 'button' }, label);
        b.addEventListener('click', () => busy(b, out, () => api.call('POST', `/rooms/${roomId}/participants/${p.identity}/${path}`, body, tok).then(refreshPeople)));
        return b;
      };
      return h('li', { 'data-identity': p.identity },
        h('span.pname', p.name || p.identity), p.self ? h('span.badge', t('you')) : null,
        p.role ? h('span.badge', p.role) : null,
        // what LiveKit says it publishes (absent: the server does not tell)
        p.audio === false ? h('span.badge.off', { 'data-state': 'mic-off' }, t('mic_muted')) : null,
        p.video === false ? h('span.badge.off', t('cam_off')) : null,
        canModerate && !p.self && p.role !== 'host' ? [act(t('mute'), 'mute', { kind: 'all' }), act(t('remove'), 'remove', {}), act(t('ban'), 'remove', { ban: true }),
          isHost && p.role !== 'moderator' ? act(t('promote'), 'role', { role: 'moderator' }) : null] : null, out);
    }));
  };
  const peopleErr = h('div');
  async function refreshPeople() {
    try { list = await api.call('GET', `/rooms/${roomId}/participants`, undefined, tok); peopleErr.replaceChildren(); }
    catch (e) {
      // a server whose participants route takes no room token yet
      if (e.status === 401 && (tok.token || !streamToken)) peopleErr.replaceChildren(note('info', t('feature_missing')));
      else peopleErr.replaceChildren(panelError(e));
    }
    drawPeople();
  }

  // --- chat
  const chatErr = h('div');
  const msgIds = new Set();
  const addMsg = (m) => {
    if (msgIds.has(m.id)) return;
    msgIds.add(m.id);
    chatList.querySelector('.empty')?.remove();
    chatList.append(h('li', { 'data-id': m.id }, h('b', m.sender?.name ?? ''), ' ', h('span.text', m.text), ' ', h('time', fmtTime(m.created_at))));
    chatList.scrollTop = chatList.scrollHeight;
  };
  async function loadChat() {
    try {
      const r = await api.call('GET', `/rooms/${roomId}/messages?limit=50`, undefined, tok);
      if (!r.messages.length && !msgIds.size) clear(chatList, h('li.empty', t('no_messages')));
      r.messages.forEach(addMsg);
      chatErr.replaceChildren();
    } catch (e) { chatErr.replaceChildren(panelError(e)); chatForm.hidden = e.missing; }
  }
  const chatInput = h('input', { name: 'text', maxlength: 4000, placeholder: t('chat_placeholder'), autocomplete: 'off', 'data-testid': 'chat-input' });
  const sendBtn = h('button', { type: 'submit' }, t('send'));
  const chatForm = h('form.send', { onsubmit: (e) => {
    e.preventDefault();
    const text = chatInput.value;
    if (!text.trim()) return;
    busy(sendBtn, chatErr, async () => { addMsg(await api.call('POST', `/rooms/${roomId}/messages`, { text }, tok)); chatInput.value = ''; });
  } }, chatInput, sendBtn);

  // --- waiting room and invites (hosts, moderators)
  const waitList = h('ul.waiting-list', { 'data-testid': 'waiting-list' });
  async function loadWaiting() {
    try {
      const w = await api.call('GET', `/rooms/${roomId}/waiting`, undefined, tok);
      if (!w.length) return clear(waitList, h('li.empty', t('nobody_waiting')));
      clear(waitList, w.map((e) => {
        const out = h('span.out');
        const dec = (label, what) => {
          const b = h('button.small', { type: 'button' }, label);
          b.addEventListener('click', () => busy(b, out, () => api.call('POST', `/rooms/${roomId}/waiting/${e.id}/${what}`, {}, tok).then(loadWaiting)));
          return b;
        };
        return h('li', { 'data-waiting': e.id }, h('span.pname', e.name), dec(t('approve'), 'approve'), dec(t('reject'), 'reject'), out);
      }));
    } catch (e) { clear(waitList, h('li', panelError(e))); }
  }
  const invList = h('ul.invites');
  // an invite's code is in its create answer only (the list never shows
  // it): the links made on this page are kept here to be copied
  const inviteCodes = new Map();
  async function loadInvites() {
    try {
      const inv = await api.call('GET', `/rooms/${roomId}/invites`, undefined, tok);
      if (!inv.length) return clear(invList, h('li.empty', t('no_invites')));
      clear(invList, inv.map((i) => {
        const code = i.code || inviteCodes.get(i.id);
        const url = code ? `${link}?invite=${encodeURIComponent(code)}` : null;
        const out = h('span.out');
        const rv = h('button.small', { type: 'button' }, t('revoke'));
        rv.addEventListener('click', () => busy(rv, out, () => api.call('DELETE', `/rooms/${roomId}/invites/${i.id}`, undefined, tok).then(loadInvites)));
        const copy = url ? h('button.small', { type: 'button', onclick: async () => {
          try { await navigator.clipboard.writeText(url); out.textContent = t('copied'); } catch { out.textContent = url; }
        } }, t('copy_link')) : null;
        return h('li', { 'data-invite': i.id }, h('span', i.label || t('invite_for', { role: t(`role_${i.role}`) })),
          url ? h('span.link', { 'data-testid': 'invite-link' }, url) : h('small', ` (${t('invite_shown_once')})`), copy, rv, out);
      }));
    } catch (e) { clear(invList, h('li', panelError(e))); invBtn.hidden = e.missing; }
  }
  const invOut = h('div.out');
  const invBtn = h('button.small', { type: 'button' }, t('new_invite'));
  invBtn.addEventListener('click', () => busy(invBtn, invOut, async () => {
    const i = await api.call('POST', `/rooms/${roomId}/invites`, {}, tok);
    if (i?.id && i.code) inviteCodes.set(i.id, i.code);
    await loadInvites();
  }));

  // the moderators' panels, shown when the role allows (also after a promotion)
  const staff = [h('section', { 'data-testid': 'waiting-room', hidden: !canModerate }, h('h2', t('waiting_room')), waitList),
    h('section', { 'data-testid': 'invites', hidden: !canModerate }, h('h2', t('invites')), invList, invBtn, invOut)];
  let staffPoll = null;
  function setStaff(on) {
    if (on === canModerate) return;
    canModerate = on;
    for (const x of staff) x.hidden = !on;
    clearInterval(staffPoll);
    // the events stream picks its audience by the token's role: a token
    // minted before the promotion gets no waiting events, so poll the queue
    if (on) { loadWaiting(); loadInvites(); if (j.role !== 'moderator') staffPoll = setInterval(loadWaiting, POLL_MS); }
    drawPeople();
  }
  cleanups.push(() => clearInterval(staffPoll));

  // --- layout
  main.append(h('div.room', { 'data-testid': 'room' },
    h('header.room-head', h('h1', j.room_name ?? st.room?.name ?? ''),
      h('span.link', { 'data-testid': 'room-link' }, link), copyBtn, copyOut,
      h('span.controls', micBtn, camBtn, leaveBtn, endBtn), actOut),
    endedBox, mediaBox, liveBox,
    h('div.room-body', grid,
      h('aside.side',
        h('section', h('h2', t('participants')), peopleErr, people),
        h('section', h('h2', t('chat')), chatErr, chatList, chatForm),
        ...staff))));
  paint();

  // --- live events, or polling when this server has none
  let pollTimer = null;
  const startPolling = () => {
    if (pollTimer) return;
    pollTimer = setInterval(async () => {
      refreshPeople();
      if (canModerate) loadWaiting();
      if (isHost && s) {
        try { if ((await api.call('GET', `/rooms/${roomId}`)).status === 'ended') showEnded(); } catch { /* next round */ }
      }
    }, POLL_MS);
  };
  const onEvent = (type, d) => {
    if (type === 'chat.message') addMsg(d);
    else if (type === 'chat.message_deleted') chatList.querySelector(`[data-id="${CSS.escape(d.id)}"]`)?.remove();
    else if (type.startsWith('participant.')) {
      if (type === 'participant.removed' && d.identity === j.identity) return removed();
      if (type === 'participant.role_changed' && d.identity === j.identity && !isHost) setStaff(d.role === 'moderator');
      refreshPeople();
    } else if (type.startsWith('waiting.')) loadWaiting();
    else if (type === 'room.ended') showEnded();
    else if (type === 'reset') { refreshPeople(); loadChat(); }
  };
  if (streamToken) {
    let renewedAt = 0;
    cleanups.push(subscribe(`/rooms/${roomId}/events`, () => j.room_token ?? api.session()?.token, {
      onEvent,
      // the host's access token expired: one refresh, then the stream again
      onDenied: async () => {
        if (j.room_token || Date.now() - renewedAt < 60000) return false;
        renewedAt = Date.now();
        return api.restore();
      },
      onState: (state) => {
        liveBox.dataset.state = state === 'missing' || state === 'denied' ? 'polling' : state;
        if (state === 'live') liveBox.replaceChildren();
        else if (state === 'reconnecting') liveBox.replaceChildren(note('info', t('events_reconnecting')));
        else { liveBox.replaceChildren(note('info', t('events_unavailable'))); startPolling(); }
      },
    }));
  } else {
    liveBox.dataset.state = 'polling';
    liveBox.replaceChildren(note('info', t('events_unavailable')));
    startPolling();
  }
  cleanups.push(() => clearInterval(pollTimer));

  // --- media last: it may take a while, the rest already works
  const mediaNote = {
    connecting: () => spinner(t('media_connecting')),
    unreachable: () => note('error', t('media_unreachable', { url: j.url })),
    missing: () => note('error', t('media_missing')),
    connected: () => note('ok', t('media_connected')),
    disconnected: () => note('error', t('media_unreachable', { url: j.url })),
  };
  settings().then(async (cfg) => {
    // the account's settings show on the toggles at once (what media gets)
    toggles.mic = !!cfg.microphone_on_join; toggles.cam = !!cfg.camera_on_join;
    paint();
    media = await (await import('../media.js')).connect({
      url: j.url, token: j.token, grid, mic: cfg.microphone_on_join, cam: cfg.camera_on_join,
      onState: (state) => {
        const was = mediaLive;
        mediaLive = state === 'connected' || (state === 'connecting' && was);
        if (was && !mediaLive) drawPeople();
        mediaBox.replaceChildren(mediaNote[state]());
        mediaBox.dataset.state = state;
      },
    });
    if (ended) { media?.disconnect(); return; }
    if (media) {
      toggles.mic = cfg.microphone_on_join; toggles.cam = cfg.camera_on_join;
      micBtn.disabled = camBtn.disabled = false;
      paint();
      cleanups.push(() => media.disconnect());
    }
  });

  function stopAll() { while (cleanups.length) { try { cleanups.pop()(); } catch { /* gone */ } } }
  refreshPeople();
  loadChat();
  if (canModerate) { loadWaiting(); loadInvites(); }
  return stopAll;
}
