// chat.test.mjs: issue 13 "Chat" (API-ROOMS.md "Chat"), served by the rooms
// daemon: POST/GET /rooms/{id}/messages, PATCH/DELETE
// /rooms/{id}/messages/{message_id}, their rules and errors, the chat.* room
// events on NATS, room deletion and account deletion.
//
// Everything goes through the gateway over HTTP against real NATS, Postgres
// and Redis (secured: each daemon its own user) and the fake LiveKit. Room
// tokens come from real joins; a moderator is made with issue 17's role
// route, and one test also signs a room token with role "moderator" exactly
// as media signs them (JWT_SECRET, aud calixio-room).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startStack, sleep, signJwt, DEFAULT_ENV } from '../harness/stack.mjs';
import * as lkw from '../harness/livekit-webhook.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const PASSWORD = 'correct horse battery';
let s, lk, alice, bob, carol;

async function user(name) {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name, email, password: PASSWORD });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: PASSWORD });
  assert.equal(login.status, 200, login.text);
  return { user_id: login.json.user_id, name, token: login.json.access_token };
}

async function call(method, path, { token, json } = {}) {
  const o = { headers: token ? { Authorization: `Bearer ${token}` } : {} };
  if (json !== undefined) o.json = json;
  return s.http(method, path, o);
}
async function createRoom(u, json = {}) {
  const r = await call('POST', '/rooms', { token: u.token, json: { name: 'Chat room', ...json } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
// A real join: { identity, role, room_token }.
async function join(room, { token, user_name } = {}) {
  const r = await call('POST', `/rooms/${room.id}/join`, { token, json: user_name ? { user_name } : {} });
  assert.equal(r.status, 200, r.text);
  return { identity: r.json.identity, role: r.json.role, token: r.json.room_token };
}
// A room/waiting token signed as media signs them (JWT_SECRET).
function roomToken({ room, identity, role = 'participant', name = 'Someone', uid, aud = 'calixio-room', extra = {} }) {
  const now = Math.floor(Date.now() / 1000);
  const p = { iss: 'calixio', aud, sub: identity, room: room.id, name, role, jti: randomUUID(), iat: now, nbf: now, exp: now + 600, ...extra };
  if (uid) p.uid = uid;
  return signJwt({ alg: 'HS256', typ: 'JWT' }, p, DEFAULT_ENV.JWT_SECRET);
}
const post = (room, token, json) => call('POST', `/rooms/${room.id}/messages`, { token, json });
const list = (room, token, q = '') => call('GET', `/rooms/${room.id}/messages${q}`, { token });
async function say(room, token, text, extra = {}) {
  const r = await post(room, token, { text, ...extra });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
function expectError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
}
function expectField(r, field, rule) {
  expectError(r, 400, 'validation_failed');
  assert.equal(r.json.fields?.[field], rule, r.text);
}
async function waitFor(fn, ms = 5000, step = 50) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v || Date.now() - t0 > ms) return v;
    await sleep(step);
  }
}

// ---- protobuf, just enough to read RoomEvent / ChatMessage ----------------
function pbFields(buf) {
  const out = {};
  let i = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >> 3, wt = key & 7;
    let v;
    if (wt === 0) v = varint();
    else if (wt === 2) {
      const n = Number(varint());
      v = buf.subarray(i, i + n);
      i += n;
    } else if (wt === 1) { v = buf.subarray(i, i + 8); i += 8; }
    else if (wt === 5) { v = buf.subarray(i, i + 4); i += 4; }
    else throw new Error(`wire type ${wt}`);
    (out[no] ??= []).push(v);
  }
  return out;
}
const str = (f, n) => (f[n] ? Buffer.from(f[n][0]).toString('utf8') : undefined);
function decodeChatMessage(buf) {
  const f = pbFields(buf);
  const snd = f[3] ? pbFields(f[3][0]) : {};
  return { id: str(f, 1), room_id: str(f, 2), sender: { identity: str(snd, 1), name: str(snd, 2), role: str(snd, 3) }, text: str(f, 4), created_at: str(f, 5), edited_at: str(f, 6), reply_to: str(f, 7) };
}
function decodeRoomEvent(buf) {
  const f = pbFields(buf);
  return { type: str(f, 1), room_id: str(f, 2), event_id: str(f, 6), message: f[20] ? decodeChatMessage(f[20][0]) : undefined };
}
// Collects the chat events of one room from NATS.
async function chatEvents(room) {
  const nc = await s.nats();
  const sub = nc.subscribe(`${s.prefix}.events.room.${room.id}.chat.>`);
  const got = [];
  (async () => {
    for await (const m of sub) got.push({ subject: m.subject, ...decodeRoomEvent(m.data) });
  })();
  await nc.flush();
  return { got, stop: () => sub.unsubscribe() };
}
// AccountDeleted{1 user_id, 2 deleted_at} in protobuf.
function encodeAccountDeleted(userId) {
  const f = (no, v) => { const b = Buffer.from(v); return Buffer.concat([Buffer.from([(no << 3) | 2, b.length]), b]); };
  return Buffer.concat([f(1, userId), f(2, new Date().toISOString().replace(/\.\d+Z$/, 'Z'))]);
}

before(async () => {
  // the fake LiveKit: the role route of issue 17 needs a LiveKit to tell
  lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  s = await startStack({ daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'], env: { LIVEKIT_HOST: lk.url, LIVEKIT_MAX_ATTEMPTS: '1' } });
  alice = await user('Alice');
  bob = await user('Bob');
  carol = await user('Carol');
});
after(async () => {
  await s?.stop();
  await lk?.stop();
});

// ---- posting ---------------------------------------------------------------

test('post: a guest room token and the host access token; Message shape; chat.message on NATS', async () => {
  const room = await createRoom(alice);
  const ev = await chatEvents(room);
  const g = await join(room, { user_name: 'Guest Gina' });
  assert.equal(g.role, 'guest');
  const m = await say(room, g.token, '  hello\nworld  ');
  assert.deepEqual(Object.keys(m).sort(), ['created_at', 'id', 'room_id', 'sender', 'text']);
  assert.equal(m.room_id, room.id);
  assert.equal(m.text, 'hello\nworld', 'trimmed, the newline inside kept');
  assert.deepEqual(m.sender, { identity: g.identity, name: 'Guest Gina', role: 'guest' });
  assert.match(m.created_at, RFC3339);
  const h = await say(room, alice.token, 'welcome', { reply_to: m.id });
  assert.deepEqual(h.sender, { identity: alice.user_id, name: 'Alice', role: 'host' });
  assert.equal(h.reply_to, m.id);

  await waitFor(() => ev.got.length >= 2);
  ev.stop();
  assert.deepEqual(ev.got.map((e) => e.subject), [`${s.prefix}.events.room.${room.id}.chat.message`, `${s.prefix}.events.room.${room.id}.chat.message`]);
  assert.equal(ev.got[0].type, 'chat.message');
  assert.equal(ev.got[0].room_id, room.id);
  assert.deepEqual(ev.got[0].message, { ...m, edited_at: undefined, reply_to: undefined });
  assert.equal(ev.got[1].message.reply_to, m.id);
  assert.equal(ev.got[1].message.sender.role, 'host');
});

test('post: text bounds, whitespace only, control and bidi characters, unknown keys', async () => {
  const room = await createRoom(alice);
  const g = await join(room);
  expectField(await post(room, g.token, {}), 'text', 'min');
  expectField(await post(room, g.token, { text: '' }), 'text', 'min');
  expectField(await post(room, g.token, { text: ' \n\t \u00a0\u3000 ' }), 'text', 'min');
  expectField(await post(room, g.token, { text: 'x'.repeat(4001) }), 'text', 'max');
  expectField(await post(room, g.token, { text: 'abc\u202Edef' }), 'text', 'bidi');
  expectField(await post(room, g.token, { text: 'abc\u2066def' }), 'text', 'bidi');
  expectField(await post(room, g.token, { text: 'bell\u0007' }), 'text', 'control');
  expectField(await post(room, g.token, { text: 'cr\r\nlf' }), 'text', 'control');
  expectError(await post(room, g.token, { text: 'hi', sender: 'x' }), 400, 'invalid_json');
  // 4000 code points (not bytes) pass, also when each takes 4 bytes
  assert.equal((await say(room, alice.token, 'x'.repeat(4000))).text.length, 4000);
  assert.equal([...(await say(room, alice.token, '😀'.repeat(4000))).text].length, 4000);
  assert.equal((await say(room, alice.token, 'line 1\n\nline 3')).text, 'line 1\n\nline 3');
});

test('post: reply_to must be a live message of the same room', async () => {
  const a = await createRoom(alice);
  const b = await createRoom(alice);
  const inB = await say(b, alice.token, 'in room b');
  const inA = await say(a, alice.token, 'in room a');
  expectField(await post(a, alice.token, { text: 'x', reply_to: inB.id }), 'reply_to', 'same_room');
  expectField(await post(a, alice.token, { text: 'x', reply_to: randomUUID() }), 'reply_to', 'same_room');
  expectField(await post(a, alice.token, { text: 'x', reply_to: 'not-a-uuid' }), 'reply_to', 'uuid');
  assert.equal((await say(a, alice.token, 'ok', { reply_to: inA.id })).reply_to, inA.id);
  assert.equal((await call('DELETE', `/rooms/${a.id}/messages/${inA.id}`, { token: alice.token })).status, 204);
  expectField(await post(a, alice.token, { text: 'x', reply_to: inA.id }), 'reply_to', 'same_room');
});

test('post: who may (room token of the room, the host); others 401/403/404', async () => {
  const a = await createRoom(alice);
  const b = await createRoom(alice);
  const gb = await join(b);
  expectError(await post(a, gb.token, { text: 'hi' }), 403, 'room_forbidden');
  expectError(await post(a, bob.token, { text: 'hi' }), 403, 'room_forbidden');
  expectError(await post(a, null, { text: 'hi' }), 401, 'missing_auth');
  expectError(await post(a, 'garbage', { text: 'hi' }), 401, 'invalid_token');
  const waiting = roomToken({ room: a, identity: 'guest-w1', aud: 'calixio-waiting', extra: { wid: randomUUID() } });
  expectError(await post(a, waiting, { text: 'hi' }), 401, 'invalid_token');
  expectError(await call('POST', '/rooms/not-a-uuid/messages', { token: alice.token, json: { text: 'hi' } }), 404, 'room_not_found');
  expectError(await post({ id: randomUUID() }, alice.token, { text: 'hi' }), 404, 'room_not_found');
  // bob's own join of the room lets him post as a participant
  const jb = await join(a, { token: bob.token });
  const m = await say(a, jb.token, 'bob here');
  assert.deepEqual(m.sender, { identity: bob.user_id, name: 'Bob', role: 'participant' });
});

test('post: 409 room_ended on an ended room; the chat stays readable', async () => {
  const room = await createRoom(alice);
  const g = await join(room);
  await say(room, g.token, 'before the end');
  assert.equal((await call('POST', `/rooms/${room.id}/end`, { token: alice.token })).status, 200);
  expectError(await post(room, g.token, { text: 'too late' }), 409, 'room_ended');
  expectError(await post(room, alice.token, { text: 'too late' }), 409, 'room_ended');
  const l = await list(room, g.token);
  assert.equal(l.status, 200, l.text);
  assert.deepEqual(l.json.messages.map((m) => m.text), ['before the end']);
});

// ---- edit and delete ----------------------------------------------------------

test('edit: the sender only, edited_at set, chat.message_updated on NATS; rules as for posting', async () => {
  const room = await createRoom(alice);
  const g1 = await join(room);
  const g2 = await join(room);
  const m = await say(room, g1.token, 'frist');
  const ev = await chatEvents(room);
  const path = `/rooms/${room.id}/messages/${m.id}`;
  expectError(await call('PATCH', path, { token: g2.token, json: { text: 'hacked' } }), 403, 'room_forbidden');
  expectError(await call('PATCH', path, { token: alice.token, json: { text: 'host edit' } }), 403, 'room_forbidden');
  expectField(await call('PATCH', path, { token: g1.token, json: { text: '   ' } }), 'text', 'min');
  expectField(await call('PATCH', path, { token: g1.token, json: { text: 'a\u202Eb' } }), 'text', 'bidi');
  expectError(await call('PATCH', `/rooms/${room.id}/messages/${randomUUID()}`, { token: g1.token, json: { text: 'x' } }), 404, 'message_not_found');
  expectError(await call('PATCH', `/rooms/${room.id}/messages/nope`, { token: g1.token, json: { text: 'x' } }), 404, 'message_not_found');
  const r = await call('PATCH', path, { token: g1.token, json: { text: 'first' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.text, 'first');
  assert.equal(r.json.id, m.id);
  assert.equal(r.json.created_at, m.created_at);
  assert.match(r.json.edited_at, RFC3339);
  assert.deepEqual((await list(room, g2.token)).json.messages, [r.json]);
  await waitFor(() => ev.got.length >= 1);
  await sleep(100);
  ev.stop();
  assert.equal(ev.got.length, 1, 'only the successful edit is an event');
  assert.equal(ev.got[0].subject, `${s.prefix}.events.room.${room.id}.chat.message_updated`);
  assert.equal(ev.got[0].message.text, 'first');
  assert.equal(ev.got[0].message.edited_at, r.json.edited_at);
  // the host edits its own message with its access token or its room token
  const hm = await say(room, alice.token, 'host typo');
  const hp = `/rooms/${room.id}/messages/${hm.id}`;
  assert.equal((await call('PATCH', hp, { token: alice.token, json: { text: 'host fixed' } })).json.text, 'host fixed');
  const ja = await join(room, { token: alice.token });
  assert.equal(ja.role, 'host');
  assert.equal((await call('PATCH', hp, { token: ja.token, json: { text: 'host fixed twice' } })).status, 200);
  // an ended room takes no edits
  await call('POST', `/rooms/${room.id}/end`, { token: alice.token });
  expectError(await call('PATCH', path, { token: g1.token, json: { text: 'later' } }), 409, 'room_ended');
});

test('delete: sender, host and moderator may (204), others 403; gone from the list; chat.message_deleted', async () => {
  const room = await createRoom(alice);
  const g1 = await join(room);
  const g2 = await join(room);
  const mod = roomToken({ room, identity: 'mod-1', role: 'moderator', name: 'Mod' });
  const m1 = await say(room, g1.token, 'one');
  const m2 = await say(room, g1.token, 'two');
  const m3 = await say(room, g1.token, 'three');
  const keep = await say(room, g2.token, 'keep');
  const ev = await chatEvents(room);
  const del = (m, token) => call('DELETE', `/rooms/${room.id}/messages/${m.id}`, { token });
  expectError(await del(m1, g2.token), 403, 'room_forbidden');
  expectError(await del(m1, bob.token), 403, 'room_forbidden');
  const r1 = await del(m1, g1.token);
  assert.equal(r1.status, 204);
  assert.equal(r1.text, '');
  assert.equal((await del(m2, alice.token)).status, 204, 'the host');
  assert.equal((await del(m3, mod)).status, 204, 'a moderator');
  expectError(await del(m1, g1.token), 404, 'message_not_found');
  const l = await list(room, g2.token);
  assert.deepEqual(l.json.messages.map((m) => m.id), [keep.id]);
  await waitFor(() => ev.got.length >= 3);
  ev.stop();
  assert.deepEqual(ev.got.map((e) => [e.subject, e.message.id]), [m1, m2, m3].map((m) => [`${s.prefix}.events.room.${room.id}.chat.message_deleted`, m.id]));
  // a participant promoted by the host (issue 17's role route) deletes others' messages with
  // the room token it already had; demoted again, it cannot
  const jb = await join(room, { token: bob.token });
  const now = Math.floor(Date.now() / 1000);
  const wh = await lkw.postWebhook(s, lkw.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: jb.identity, sid: 'PA_bobmod', name: 'Bob', joinedAt: now, createdAt: now }));
  assert.equal(wh.status, 200, wh.text);
  lk.setParticipants(room.livekit_room, [{ identity: jb.identity, name: 'Bob', sid: 'PA_bobmod' }]);
  const setRole = (role) => call('POST', `/rooms/${room.id}/participants/${jb.identity}/role`, { token: alice.token, json: { role } });
  const g2a = await say(room, g2.token, 'g2 a');
  const g2b = await say(room, g2.token, 'g2 b');
  expectError(await del(g2a, jb.token), 403, 'room_forbidden');
  const promoted = await waitFor(async () => (await setRole('moderator')).status === 200);
  assert.ok(promoted, `bob promoted: ${(await setRole('moderator')).text}`);
  assert.equal((await del(g2a, jb.token)).status, 204, 'the promoted participant');
  assert.equal((await setRole('participant')).status, 200);
  expectError(await del(g2b, jb.token), 403, 'room_forbidden');
  // removed with ban (issue 17), its room token posts no more
  lk.setParticipants(room.livekit_room, [{ identity: jb.identity, name: 'Bob', sid: 'PA_bobmod' }]);
  const ban = await call('POST', `/rooms/${room.id}/participants/${jb.identity}/remove`, { token: alice.token, json: { ban: true } });
  assert.equal(ban.status, 204, ban.text);
  expectError(await post(room, jb.token, { text: 'still here?' }), 403, 'banned');
  // the text is erased from the store, not only hidden
  const rows = await s.psql(`SELECT text, deleted_at IS NOT NULL FROM chat_messages WHERE id = '${m1.id}'`);
  assert.deepEqual(rows, [['', 't']]);
});

// ---- rate limit ----------------------------------------------------------------

test('rate limit: the 11th message of a sender within 10 s is 429 too_many_messages with Retry-After', async () => {
  const room = await createRoom(alice);
  const g = await join(room);
  const other = await join(room);
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) await say(room, g.token, `m${i}`);
  const r = await post(room, g.token, { text: 'one too many' });
  expectError(r, 429, 'too_many_messages');
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 10, `Retry-After ${r.headers.get('retry-after')}`);
  // another sender and the host are not held back
  await say(room, other.token, 'me too');
  await say(room, alice.token, 'host');
  // a refused message is not stored, and is not counted: after Retry-After it goes
  assert.equal((await list(room, g.token, '?limit=100')).json.messages.filter((m) => m.sender.identity === g.identity).length, 10);
  const waitMs = t0 + 10_000 - Date.now() + 200;
  assert.ok(ra * 1000 >= waitMs - 1200, `Retry-After ${ra}s covers the wait of ${waitMs} ms`);
  await sleep(Math.max(0, ra * 1000));
  await say(room, g.token, 'back again');
  const key = (await s.redis('KEYS', `cx:chat:rate:{${room.id}}:*`)).split('\n').filter(Boolean);
  assert.ok(key.includes(`cx:chat:rate:{${room.id}}:${g.identity}`), key.join(','));
});

// Posts that arrive together are stored together (rooms' group commit,
// chat_batch.c): each still gets its own answer, in the contract's order.
test('post: a burst of concurrent posts, good and bad together, each answered on its own; the limit holds under concurrency', async () => {
  const room = await createRoom(alice);
  const other = await createRoom(alice);
  const elsewhere = await say(other, alice.token, 'in another room');
  const banned = await join(room, { user_name: 'Banned' });
  lk.setParticipants(room.livekit_room, [{ identity: banned.identity, name: 'Banned', sid: 'PA_banned' }]);
  const ban = await call('POST', `/rooms/${room.id}/participants/${banned.identity}/remove`, { token: alice.token, json: { ban: true } });
  assert.equal(ban.status, 204, ban.text);
  const ended = await createRoom(alice);
  const endedGuest = await join(ended);
  assert.equal((await call('POST', `/rooms/${ended.id}/end`, { token: alice.token })).status, 200);
  const good = await Promise.all(Array.from({ length: 40 }, () => join(room)));
  const first = await say(room, good[0].token, 'first');
  const bob2 = await call('POST', `/rooms/${room.id}/messages`, { token: bob.token, json: { text: 'not the host' } });
  expectError(bob2, 403, 'room_forbidden');
  const one = good[1];
  const burst = [
    ...good.slice(2).map((g, i) => ({ want: 201, r: post(room, g.token, { text: `burst ${i}`, ...(i % 3 === 0 ? { reply_to: first.id } : {}) }) })),
    ...Array.from({ length: 15 }, (_, i) => ({ one: true, r: post(room, one.token, { text: `same sender ${i}` }) })),
    { want: 400, field: 'reply_to', rule: 'same_room', r: post(room, good[0].token, { text: 'reply elsewhere', reply_to: elsewhere.id }) },
    { want: 403, error: 'banned', r: post(room, banned.token, { text: 'banned' }) },
    { want: 409, error: 'room_ended', r: post(ended, endedGuest.token, { text: 'too late' }) },
    { want: 403, error: 'room_forbidden', r: post(room, roomToken({ room: other, identity: 'stranger' }), { text: 'wrong room' }) },
    { want: 201, r: post(room, alice.token, { text: 'the host too' }) },
  ];
  const res = await Promise.all(burst.map(async (b) => ({ ...b, r: await b.r })));
  const acked = [];
  for (const b of res) {
    if (b.one) continue;
    assert.equal(b.r.status, b.want, b.r.text);
    if (b.field) assert.equal(b.r.json.fields?.[b.field], b.rule, b.r.text);
    if (b.error) assert.equal(b.r.json.error, b.error, b.r.text);
    if (b.want === 201) acked.push(b.r.json);
  }
  const same = res.filter((b) => b.one).map((b) => b.r);
  assert.equal(same.filter((r) => r.status === 201).length, 10, 'exactly 10 of 15 concurrent posts of one sender pass');
  assert.equal(same.filter((r) => r.status === 429).length, 5);
  for (const r of same.filter((x) => x.status === 201)) acked.push(r.json);
  // every acknowledged message is stored with its own id, text and sender
  const rows = await s.psql(`SELECT id::text, text, sender_identity, COALESCE(reply_to::text, '') FROM chat_messages WHERE room_id = '${room.id}'`);
  const byId = new Map(rows.map(([id, text, who, rt]) => [id, { text, who, rt }]));
  for (const m of acked) {
    assert.equal(byId.get(m.id)?.text, m.text, `stored: ${m.id}`);
    assert.equal(byId.get(m.id)?.who, m.sender.identity);
    assert.equal(byId.get(m.id)?.rt, m.reply_to ?? '');
  }
  assert.equal(rows.length, acked.length + 1, 'nothing refused was stored');
});

// ---- reading and paging ----------------------------------------------------------

test('paging: limit latest older than before, oldest first, next_before; no repeat or gap while new ones arrive', async () => {
  const room = await createRoom(alice);
  const senders = await Promise.all([1, 2, 3, 4].map(() => join(room)));
  const sent = [];
  for (let i = 0; i < 25; i++) sent.push(await say(room, senders[i % 4].token, `msg ${i}`));
  const reader = senders[0].token;

  const first = await list(room, reader);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.messages.length, 25, 'default limit 50');
  assert.equal(first.json.next_before, undefined);
  assert.deepEqual(first.json.messages.map((m) => m.id), sent.map((m) => m.id));

  const seen = [];
  let before = '';
  let pages = 0;
  let extra = 25;
  for (;;) {
    const r = await list(room, reader, `?limit=7${before ? `&before=${before}` : ''}`);
    assert.equal(r.status, 200, r.text);
    const ids = r.json.messages.map((m) => m.id);
    const ts = r.json.messages.map((m) => m.text);
    assert.deepEqual([...ts].sort((x, y) => Number(x.split(' ')[1]) - Number(y.split(' ')[1])), ts, 'oldest first inside a page');
    seen.unshift(...ids);
    pages++;
    // new messages keep arriving between pages
    await say(room, senders[pages % 4].token, `msg ${extra++}`);
    if (!r.json.next_before) break;
    assert.equal(r.json.next_before, ids[0], 'next_before is the oldest of the page');
    before = r.json.next_before;
  }
  assert.equal(pages, 4);
  assert.deepEqual(seen, sent.map((m) => m.id), 'every message once, in order');

  expectField(await list(room, reader, '?limit=0'), 'limit', 'min');
  expectField(await list(room, reader, '?limit=101'), 'limit', 'max');
  expectError(await list(room, reader, '?limit=abc'), 400, 'validation_failed');
  expectField(await list(room, reader, '?before=nope'), 'before', 'uuid');
  expectError(await list(room, reader, `?before=${randomUUID()}`), 404, 'message_not_found');
  assert.equal((await list(room, reader, '?limit=100')).json.messages.length, 29);
  // a deleted message still works as a cursor
  await call('DELETE', `/rooms/${room.id}/messages/${sent[10].id}`, { token: alice.token });
  const after = await list(room, reader, `?before=${sent[10].id}&limit=100`);
  assert.deepEqual(after.json.messages.map((m) => m.id), sent.slice(0, 10).map((m) => m.id));
});

// Migration 0012: the page walks the room's index newest first and stops,
// whatever the statistics. 160,000 messages written straight into the table
// and never analysed (as in a fresh database or a room that grew since the
// last ANALYZE); a page of 50 must read a handful of buffers, not the room.
// The prepared statement it replaces was planned, at this size, as a bitmap
// scan of every message of the room plus a sort (~3,600 buffers, 36 ms;
// with it this test fails).
test('paging: a page of a large, never analysed room reads along the index (newest first, cursor as index condition)', async () => {
  const room = await createRoom(alice);
  const host = alice.token;
  const N = 160000;
  await s.psql(`INSERT INTO chat_messages (room_id, sender_identity, sender_name, sender_role, text) SELECT '${room.id}', 'guest-bulk', 'Bulk', 'guest', 'bulk ' || g FROM generate_series(1, ${N}) g`);
  const page = await list(room, host);
  assert.equal(page.status, 200, page.text);
  assert.deepEqual(page.json.messages.map((m) => m.text), Array.from({ length: 50 }, (_, i) => `bulk ${N - 49 + i}`));
  const mid = (await s.psql(`SELECT id::text, seq FROM chat_messages WHERE room_id = '${room.id}' AND text = 'bulk 80000'`))[0];
  const deep = await list(room, host, `?before=${mid[0]}&limit=3`);
  assert.deepEqual(deep.json.messages.map((m) => m.text), ['bulk 79997', 'bulk 79998', 'bulk 79999']);
  // what the function reads, counted by Postgres: shared buffers of the call
  const buffers = async (before) => {
    // a first call in the session compiles the function (catalog reads); the second is measured
    const call1 = `SELECT * FROM cx_chat_page('${room.id}', ${before}, 51)`;
    const plan = await s.psql(`${call1}; EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${call1}`);
    const lines = plan.map((r) => r.join('\t'));
    const top = JSON.parse(lines.slice(lines.findIndex((l) => l.startsWith('['))).join('\n'))[0].Plan;
    return top['Shared Hit Blocks'] + top['Shared Read Blocks'];
  };
  const [latest, older] = [await buffers('NULL'), await buffers(mid[1])];
  console.log(`CHATPAGE rows=${N} buffers latest=${latest} deep=${older}`);
  assert.ok(latest < 100, `the latest page read ${latest} buffers`);
  assert.ok(older < 100, `a page from the middle read ${older} buffers`);
});

test('who may read: room token of the room, the host, a signed-in user who was in the room', async () => {
  const room = await createRoom(alice);
  const other = await createRoom(alice);
  const g = await join(room);
  assert.deepEqual((await list(room, g.token)).json, { messages: [] }, 'an empty chat');
  await say(room, alice.token, 'secret plans');
  const gOther = await join(other);
  assert.equal((await list(room, g.token)).status, 200);
  assert.equal((await list(room, alice.token)).status, 200);
  expectError(await list(room, gOther.token), 403, 'room_forbidden');
  expectError(await list(room, carol.token), 403, 'room_forbidden');
  expectError(await list(room, null), 401, 'missing_auth');
  const waiting = roomToken({ room, identity: 'guest-w2', aud: 'calixio-waiting', extra: { wid: randomUUID() } });
  expectError(await list(room, waiting), 401, 'invalid_token');
  expectError(await list({ id: randomUUID() }, alice.token), 404, 'room_not_found');

  // carol's visit (a LiveKit participant_joined of her identity, as the
  // webhook service tells it) lets her read with her access token later
  const jc = await join(room, { token: carol.token });
  assert.equal(jc.identity, carol.user_id);
  const now = Math.floor(Date.now() / 1000);
  const wh = await lkw.postWebhook(s, lkw.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: carol.user_id, sid: 'PA_carol', name: 'Carol', joinedAt: now, createdAt: now }));
  assert.equal(wh.status, 200, wh.text);
  const ok = await waitFor(async () => (await list(room, carol.token)).status === 200);
  assert.ok(ok, 'carol reads after her visit');
  assert.deepEqual((await list(room, carol.token)).json.messages.map((m) => m.text), ['secret plans']);
  // a guest's visit gives nothing to an account; bob, who only posted with
  // his room token, reads with his access token too
  expectError(await list(room, bob.token), 403, 'room_forbidden');
  const jb = await join(room, { token: bob.token });
  await say(room, jb.token, 'hi');
  assert.equal((await list(room, bob.token)).status, 200);
});

// ---- room and account deletion ---------------------------------------------------------

test('DELETE /rooms/{id} deletes its messages', async () => {
  const room = await createRoom(alice);
  const g = await join(room);
  await say(room, g.token, 'a');
  await say(room, alice.token, 'b');
  const count = async () => Number((await s.psql(`SELECT count(*) FROM chat_messages WHERE room_id = '${room.id}'`))[0][0]);
  assert.equal(await count(), 2);
  assert.equal((await call('DELETE', `/rooms/${room.id}`, { token: alice.token })).status, 204);
  assert.equal(await count(), 0);
  assert.equal(Number((await s.psql(`SELECT count(*) FROM chat_readers WHERE room_id = '${room.id}'`))[0][0]), 0);
  expectError(await list(room, alice.token), 404, 'room_not_found');
  expectError(await post(room, g.token, { text: 'x' }), 404, 'room_not_found');
});

test('account deletion: owned rooms ended and deleted, messages kept as "Deleted user"; the event is idempotent', async () => {
  const dave = await user('Dave');
  const own = await createRoom(dave, { name: 'Dave room' });
  const gOwn = await join(own);
  await say(own, dave.token, 'in my own room');
  const room = await createRoom(alice);
  const jd = await join(room, { token: dave.token });
  const m = await say(room, jd.token, 'hello from dave');
  const nc = await s.nats();
  const roomEvs = [];
  const sub = nc.subscribe(`${s.prefix}.events.room.${own.id}.room.>`);
  (async () => { for await (const e of sub) roomEvs.push(e.subject); })();
  await nc.flush();

  const d = await call('DELETE', '/users/me', { token: dave.token, json: { password: PASSWORD } });
  assert.equal(d.status, 204, d.text);
  const code = own.code.replaceAll('-', '');
  const gone = await waitFor(async () => (await call('GET', `/rooms/by-code/${code}`)).status === 404);
  assert.ok(gone, 'the owned room is gone');
  expectError(await list(own, gOwn.token), 404, 'room_not_found');
  assert.equal(Number((await s.psql(`SELECT count(*) FROM chat_messages WHERE room_id = '${own.id}'`))[0][0]), 0);
  await waitFor(() => roomEvs.length >= 2);
  assert.deepEqual(roomEvs, [`${s.prefix}.events.room.${own.id}.room.ended`, `${s.prefix}.events.room.${own.id}.room.deleted`]);
  const shown = await waitFor(async () => {
    const l = await list(room, alice.token);
    return l.json.messages.find((x) => x.id === m.id && x.sender.name === 'Deleted user') && l;
  });
  assert.ok(shown, 'dave\'s message shows "Deleted user"');
  const msg = shown.json.messages.find((x) => x.id === m.id);
  assert.equal(msg.text, 'hello from dave');
  assert.equal(msg.sender.role, 'participant');
  assert.deepEqual(await s.psql(`SELECT count(*) FROM chat_messages WHERE sender_user_id = '${dave.user_id}'`), [['0']]);

  // a repeated event (auth republishes) changes nothing and breaks nothing
  nc.publish(`${s.prefix}.events.user.${dave.user_id}.deleted`, encodeAccountDeleted(dave.user_id));
  nc.publish(`${s.prefix}.events.user.${randomUUID()}.deleted`, encodeAccountDeleted(randomUUID()));
  nc.publish(`${s.prefix}.events.user.x.deleted`, Buffer.from('not protobuf'));
  await nc.flush();
  await sleep(300);
  sub.unsubscribe();
  assert.equal(roomEvs.length, 2, 'no second room.deleted');
  const again = await list(room, alice.token);
  assert.equal(again.status, 200);
  assert.equal(again.json.messages.find((x) => x.id === m.id).sender.name, 'Deleted user');
  assert.equal((await call('GET', `/rooms/${room.id}`, { token: alice.token })).status, 200, 'other rooms stay');
  // dave's room token, minted before the deletion, still posts until it
  // expires: as "Deleted user", and it makes no reader of a gone account
  const late = await say(room, jd.token, 'a late one');
  assert.deepEqual(late.sender, { identity: dave.user_id, name: 'Deleted user', role: 'participant' });
  assert.deepEqual(await s.psql(`SELECT count(*) FROM chat_readers WHERE user_id = '${dave.user_id}'`), [['0']]);
});

// ---- throughput (measured, not asserted) -------------------------------------------------

test('measure: POST /rooms/{id}/messages through the gateway, every acknowledged message stored', async () => {
  const room = await createRoom(alice);
  const SENDERS = 150, PER = 10, CONC = 32;
  const tokens = Array.from({ length: SENDERS }, (_, i) => roomToken({ room, identity: `bench-${i}`, role: 'guest', name: `B${i}` }));
  const jobs = [];
  for (let k = 0; k < PER; k++) for (const t of tokens) jobs.push(t);
  let next = 0, ok = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (next < jobs.length) {
      const t = jobs[next++];
      const r = await fetch(`${s.url}/rooms/${room.id}/messages`, { method: 'POST', headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' }, body: '{"text":"load test message"}' });
      await r.arrayBuffer();
      if (r.status === 201) ok++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  // the same load on GET /rooms/{id} (one rooms round trip, one query) for scale
  let nextGet = 0;
  const g0 = performance.now();
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (nextGet++ < jobs.length) {
      const r = await fetch(`${s.url}/rooms/${room.id}`, { headers: { Authorization: `Bearer ${alice.token}` } });
      await r.arrayBuffer();
    }
  }));
  const gsecs = (performance.now() - g0) / 1000;
  console.log(`CHAT baseline: GET /rooms/{id} at the same load ${(jobs.length / gsecs).toFixed(0)} req/s (load average ${(await import('node:os')).loadavg()[0].toFixed(1)})`);
  const stored = Number((await s.psql(`SELECT count(*) FROM chat_messages WHERE room_id = '${room.id}'`))[0][0]);
  console.log(`CHAT POST rate: ${jobs.length} messages by ${SENDERS} senders, ${CONC} in flight, ${secs.toFixed(2)} s = ${(jobs.length / secs).toFixed(0)} msg/s (${ok} answered 201, ${stored} stored; build ${process.env.CX_BUILD_DIR ?? 'build'})`);
  assert.equal(ok, jobs.length);
  assert.equal(stored, ok, 'every acknowledged message is stored');
});
