// history.test.mjs: issue 18 "History, audit, call quality" (API-ROOMS.md):
// GET /users/me/calls, GET /rooms/{id}/history, GET /rooms/{id}/audit,
// POST/GET /rooms/{id}/stats, and account deletion -> "Deleted user".
//
// Everything goes through the gateway against real NATS, Postgres and
// Redis. Webhooks are signed with the official livekit-server-sdk
// (harness/livekit-webhook.mjs signSdk), as LiveKit would send them; their
// createdAt is set by the test so every duration is known exactly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startStack, sleep, signJwt, DEFAULT_ENV } from '../harness/stack.mjs';
import * as lkw from '../harness/livekit-webhook.mjs';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
let s, alice, bob, carol;

const bearer = (t) => (t ? { Authorization: `Bearer ${t}` } : {});
const call = (method, path, token, json) => s.http(method, path, { json, headers: bearer(token) });
const iso = (sec) => new Date(sec * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
const nowS = () => Math.floor(Date.now() / 1000);

async function user(name) {
  const email = `${name.toLowerCase().replace(/[^a-z]/g, '')}-${randomUUID()}@example.com`;
  const password = 'correct horse battery';
  const reg = await s.natsRequest('auth.register', { name, email, password });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password });
  assert.equal(login.status, 200, login.text);
  return { id: login.json.user_id, name, password, token: login.json.access_token };
}
async function createRoom(u, name = 'Standup') {
  const r = await call('POST', '/rooms', u.token, { name });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
// A join: {identity, room_token, role}. u null: a guest.
async function join(room, u, userName) {
  const r = await call('POST', `/rooms/${room.id}/join`, u?.token, userName ? { user_name: userName } : {});
  assert.equal(r.status, 200, r.text);
  return r.json;
}
// Sends one participant webhook signed by the official SDK; expects 200.
async function wh(room, o) {
  const body = lkw.eventBody({ room: room.livekit_room, ...o });
  const r = await lkw.postWebhook(s, body, { auth: await lkw.signSdk(body) });
  assert.equal(r.status, 200, r.text);
  return body;
}
async function resend(body) {
  const r = await lkw.postWebhook(s, body, { auth: await lkw.signSdk(body) });
  assert.equal(r.status, 200, r.text);
}
const joined = (room, who, sid, at, extra = {}) =>
  wh(room, { event: 'participant_joined', identity: who.identity ?? who.id, name: who.name, sid, createdAt: at, joinedAt: at, ...extra });
const left = (room, who, sid, at, extra = {}) =>
  wh(room, { event: 'participant_left', identity: who.identity ?? who.id, name: who.name, sid, createdAt: at, joinedAt: extra.joinedAt, ...extra });

async function waitFor(fn, ms = 5000, step = 50) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) return v;
    await sleep(step);
  }
}
async function history(room, token, q = '') {
  const r = await call('GET', `/rooms/${room.id}/history${q}`, token);
  assert.equal(r.status, 200, r.text);
  return r.json;
}
// The room's history once the rooms event has told the webhook its owner.
async function roomKnown(room) {
  const ok = await waitFor(async () => (await q1(`SELECT count(*) FROM history_rooms WHERE room_id = '${room.id}' AND owner_user_id IS NOT NULL`)).trim() === '1');
  assert.ok(ok, 'room event reached the history');
}
// The one value of a one-row, one-column query ('' when no row).
async function q1(sql) {
  const rows = await s.psql(sql);
  return rows.length ? rows[0][0] : '';
}
function expectError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, code, r.text);
}

before(async () => {
  s = await startStack({ daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'] });
  alice = await user('Alice');
  bob = await user('Bob');
  carol = await user('Carol');
});

after(async () => {
  await s?.stop();
});

// ---- durations from webhooks ----------------------------------------------------

test('a join and its leave: one visit with exact duration, reason left, room totals', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const t0 = nowS() - 3600;
  await joined(room, alice, 'PA_a1', t0);
  await joined(room, bob, 'PA_b1', t0 + 10);
  await left(room, bob, 'PA_b1', t0 + 100);
  await left(room, alice, 'PA_a1', t0 + 130);
  const h = await history(room, alice.token);
  assert.equal(h.room_id, room.id);
  assert.equal(h.participants, 2);
  assert.equal(h.total_minutes, Math.floor(((90 + 130) * 10) / 60) / 10);
  assert.deepEqual(h.visits.map((v) => [v.identity, v.role, v.joined_at, v.left_at, v.duration_s, v.leave_reason]), [
    [bob.id, 'participant', iso(t0 + 10), iso(t0 + 100), 90, 'left'],
    [alice.id, 'host', iso(t0), iso(t0 + 130), 130, 'left'],
  ]);
  assert.equal(h.visits[0].user_id, bob.id);
  assert.equal(h.visits[0].name, 'Bob');
  assert.match(h.started_at, RFC3339);
  assert.equal(h.next_cursor, undefined);
});

test('duplicated webhooks (same id twice, and a second id for the same session) count once', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const t0 = nowS() - 3000;
  const j = await joined(room, bob, 'PA_dup', t0);
  await resend(j);
  await joined(room, bob, 'PA_dup', t0 + 3); // LiveKit retry with a new id, later stamp
  const l = await left(room, bob, 'PA_dup', t0 + 60);
  await resend(l);
  await left(room, bob, 'PA_dup', t0 + 75); // a second leave of the same session, later
  const h = await history(room, alice.token);
  assert.equal(h.visits.length, 1, JSON.stringify(h));
  assert.equal(h.visits[0].duration_s, 60);
  assert.equal(h.visits[0].joined_at, iso(t0));
  assert.equal(h.participants, 1);
  assert.equal(h.total_minutes, 1);
  assert.equal((await q1(`SELECT count(*) FROM participant_events WHERE room_id = '${room.id}'`)).trim(), '4');
});

test('reordered webhooks: a leave before its join still gives the right duration', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const t0 = nowS() - 2800;
  await left(room, bob, 'PA_re', t0 + 45, { joinedAt: t0 });
  // until the join arrives there is no visit to show (no start known)
  assert.equal((await history(room, alice.token)).visits.length, 0);
  await joined(room, bob, 'PA_re', t0);
  const h = await history(room, alice.token);
  assert.deepEqual(h.visits.map((v) => [v.joined_at, v.left_at, v.duration_s, v.leave_reason]), [[iso(t0), iso(t0 + 45), 45, 'left']]);
  // an older join of the same identity arriving after a newer session: closed by that one
  await joined(room, bob, 'PA_re2', t0 + 100);
  await joined(room, bob, 'PA_re0', t0 - 50);
  const h2 = await history(room, alice.token);
  const old = h2.visits.find((v) => v.joined_at === iso(t0 - 50));
  assert.equal(old.left_at, iso(t0), 'closed when the next session began');
  assert.equal(old.leave_reason, 'disconnected');
  assert.equal(h2.visits[0].left_at, undefined, 'the newest session is still going');
  assert.equal(h2.visits[0].duration_s, undefined);
});

test('missing webhooks: a lost leave is closed by the next join, then by the room end; a lone leave is no visit', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const t0 = nowS() - 2400;
  await joined(room, carol, 'PA_m1', t0);
  await joined(room, carol, 'PA_m2', t0 + 200); // its leave was lost: LiveKit admits one session per identity
  await joined(room, bob, 'PA_m3', t0 + 10);
  await left(room, { id: 'guest-lost', name: 'G' }, '', t0 + 20); // no join, no sid: nothing to show
  const end = await call('POST', `/rooms/${room.id}/end`, alice.token);
  assert.equal(end.status, 200, end.text);
  const endedAt = end.json.ended_at;
  const ok = await waitFor(async () => (await history(room, alice.token)).visits.every((v) => v.left_at));
  assert.ok(ok, 'every visit closed by the room end');
  const h = await history(room, alice.token);
  assert.equal(h.ended_at, endedAt);
  const byStart = Object.fromEntries(h.visits.map((v) => [v.joined_at, v]));
  assert.deepEqual([byStart[iso(t0)].left_at, byStart[iso(t0)].leave_reason, byStart[iso(t0)].duration_s], [iso(t0 + 200), 'disconnected', 200]);
  const endS = Date.parse(endedAt) / 1000;
  assert.deepEqual([byStart[iso(t0 + 200)].left_at, byStart[iso(t0 + 200)].leave_reason, byStart[iso(t0 + 200)].duration_s], [endedAt, 'room_ended', endS - (t0 + 200)]);
  assert.equal(byStart[iso(t0 + 10)].leave_reason, 'room_ended');
  assert.equal(h.visits.length, 3);
  // a late leave, stamped before the end, is the better answer
  await left(room, bob, 'PA_m3', t0 + 70);
  const late = (await history(room, alice.token)).visits.find((v) => v.joined_at === iso(t0 + 10));
  assert.deepEqual([late.left_at, late.duration_s, late.leave_reason], [iso(t0 + 70), 60, 'left']);
  // a join that arrives after the end (late webhook) is closed at the end
  await joined(room, { id: 'guest-late', name: 'Late' }, 'PA_m4', t0 + 300);
  const lj = (await history(room, alice.token)).visits.find((v) => v.identity === 'guest-late');
  assert.deepEqual([lj.left_at, lj.leave_reason, lj.role, lj.user_id], [endedAt, 'room_ended', 'guest', undefined]);
});

test('a room_finished webhook ends the room for history: open visits close at its time', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const t0 = nowS() - 500;
  await joined(room, bob, 'PA_rf', t0);
  await wh(room, { event: 'room_finished', createdAt: t0 + 120 });
  const v = await waitFor(async () => (await history(room, alice.token)).visits.find((x) => x.left_at));
  assert.ok(v, 'closed by the finish');
  assert.deepEqual([v.left_at, v.leave_reason, v.duration_s], [iso(t0 + 120), 'room_ended', 120]);
  assert.equal((await history(room, alice.token)).ended_at, iso(t0 + 120));
});

test('POST /rooms/{id}/leave closes the visit as left even without a participant_left webhook', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const j = await join(room, bob);
  const t0 = nowS() - 30;
  await joined(room, bob, 'PA_lv', t0);
  const r = await call('POST', `/rooms/${room.id}/leave`, j.room_token);
  assert.equal(r.status, 204, r.text);
  const v = await waitFor(async () => (await history(room, alice.token)).visits.find((x) => x.left_at));
  assert.ok(v, 'closed');
  assert.equal(v.leave_reason, 'left');
  assert.ok(v.duration_s >= 29 && v.duration_s <= 40, String(v.duration_s));
});

// ---- /users/me/calls ------------------------------------------------------------

test('calls: newest first, host role in own rooms, paging never repeats or skips while new visits arrive', async () => {
  const u = await user('Pager');
  const rooms = [];
  for (let i = 0; i < 4; i++) rooms.push(await createRoom(alice, `R${i}`));
  for (const r of rooms) await roomKnown(r);
  const base = nowS() - 10000;
  const want = [];
  for (let i = 0; i < 7; i++) {
    const r = rooms[i % 3];
    await joined(r, u, `PA_p${i}`, base + i * 100);
    if (i < 6) await left(r, u, `PA_p${i}`, base + i * 100 + 20);
    want.push(iso(base + i * 100));
  }
  want.reverse();
  const seen = [];
  let cursor;
  let page = 0;
  do {
    const q = `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const r = await call('GET', `/users/me/calls${q}`, u.token);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.calls.length <= 3);
    seen.push(...r.json.calls.map((c) => c.joined_at));
    cursor = r.json.next_cursor;
    // new visits arrive between pages (in another room, newer than every page)
    await joined(rooms[3], u, `PA_new${page}`, nowS() - 5 + page);
    page++;
  } while (cursor);
  assert.deepEqual(seen.slice(0, 7), want, 'the seven visits in order, none repeated or skipped');
  assert.equal(new Set(seen).size, seen.length, 'no repeats');
  const first = await call('GET', '/users/me/calls?limit=100', u.token);
  const c0 = first.json.calls.find((c) => c.joined_at === iso(base + 500));
  assert.deepEqual(Object.keys(c0).sort(), ['duration_s', 'joined_at', 'leave_reason', 'left_at', 'role', 'room_id', 'room_name'].sort());
  assert.deepEqual([c0.room_id, c0.room_name, c0.role, c0.duration_s, c0.leave_reason], [rooms[2].id, 'R2', 'participant', 20, 'left']);
  const open = first.json.calls.find((c) => c.joined_at === iso(base + 600));
  assert.equal(open.left_at, undefined);
  assert.equal(open.duration_s, undefined);
  // default limit 20
  assert.ok(first.json.calls.length >= 7);
  // the host's own visit says host
  await joined(rooms[1], alice, 'PA_host', base + 50);
  const ac = await call('GET', `/users/me/calls?from=${iso(base + 50)}&to=${iso(base + 51)}`, alice.token);
  assert.deepEqual(ac.json.calls.map((c) => [c.room_id, c.role]), [[rooms[1].id, 'host']]);
});

test('calls: from is inclusive, to exclusive (on joined_at); guests and other users are not mixed in', async () => {
  const u = await user('Filter');
  const room = await createRoom(alice);
  await roomKnown(room);
  const t = nowS() - 20000;
  for (const d of [0, 1, 2, 3]) await joined(room, u, `PA_f${d}`, t + d * 60);
  await joined(room, { id: 'guest-f', name: 'G' }, 'PA_fg', t + 60);
  const q = async (qs) => (await call('GET', `/users/me/calls?${qs}`, u.token)).json.calls.map((c) => c.joined_at);
  assert.deepEqual(await q(`from=${iso(t + 60)}&to=${iso(t + 180)}`), [iso(t + 120), iso(t + 60)]);
  assert.deepEqual(await q(`from=${iso(t + 60)}`), [iso(t + 180), iso(t + 120), iso(t + 60)]);
  assert.deepEqual(await q(`to=${iso(t + 60)}`), [iso(t)]);
  assert.deepEqual(await q(`from=${encodeURIComponent('2026-01-01T00:00:00+00:00')}&to=${iso(t)}`), []);
  // offsets and fractions are RFC 3339 too: t+60 expressed at +02:00 with .5 s -> after t+60
  const off = new Date((t + 60) * 1000 + 2 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, '.5+02:00');
  assert.deepEqual(await q(`from=${encodeURIComponent(off)}&to=${iso(t + 121)}`), [iso(t + 120)]);
  assert.equal((await call('GET', `/users/me/calls?from=${iso(t)}&to=${iso(t + 181)}`, bob.token)).json.calls.length, 0, "not another user's");
});

test('calls: errors (bad times, limits, cursors, token kinds)', async () => {
  const u = alice;
  expectError(await call('GET', '/users/me/calls?from=yesterday', u.token), 400, 'validation_failed');
  expectError(await call('GET', '/users/me/calls?to=2026-13-01T00:00:00Z', u.token), 400, 'validation_failed');
  expectError(await call('GET', '/users/me/calls?limit=0', u.token), 400, 'validation_failed');
  expectError(await call('GET', '/users/me/calls?limit=101', u.token), 400, 'validation_failed');
  expectError(await call('GET', '/users/me/calls?limit=x', u.token), 400, 'validation_failed');
  expectError(await call('GET', '/users/me/calls?cursor=abc', u.token), 400, 'validation_failed');
  assert.equal((await call('GET', '/users/me/calls?limit=100', u.token)).status, 200);
  expectError(await call('GET', '/users/me/calls', null), 401, 'missing_auth');
  const room = await createRoom(alice);
  const j = await join(room, bob);
  expectError(await call('GET', '/users/me/calls', j.room_token), 401, 'invalid_token');
});

// ---- who may read a room's history, audit and stats --------------------------------

function waitingToken(roomId) {
  const now = nowS();
  return signJwt({ alg: 'HS256', typ: 'JWT' }, { iss: 'calixio', aud: 'calixio-waiting', sub: 'guest-w', room: roomId, wid: randomUUID(), name: 'W', jti: randomUUID(), iat: now, nbf: now, exp: now + 600 }, DEFAULT_ENV.JWT_SECRET);
}

test('host checks: room tokens of another room, participant and guest roles, wrong token kinds', async () => {
  const room = await createRoom(alice);
  const other = await createRoom(bob);
  await roomKnown(room);
  const hostTok = (await join(room, alice)).room_token;
  const partTok = (await join(room, bob)).room_token;
  const guestTok = (await join(room, null, 'Gus')).room_token;
  const otherHostTok = (await join(other, bob)).room_token;
  for (const path of ['history', 'audit', 'stats']) {
    const p = `/rooms/${room.id}/${path}`;
    assert.equal((await call('GET', p, alice.token)).status, 200, `${path}: owner's access token`);
    assert.equal((await call('GET', p, hostTok)).status, 200, `${path}: host room token`);
    expectError(await call('GET', p, bob.token), 403, 'room_forbidden');
    expectError(await call('GET', p, partTok), 403, 'room_forbidden');
    expectError(await call('GET', p, guestTok), 403, 'room_forbidden');
    expectError(await call('GET', p, otherHostTok), 403, 'room_forbidden');
    expectError(await call('GET', p, waitingToken(room.id)), 401, 'invalid_token');
    expectError(await call('GET', p, null), 401, 'missing_auth');
    expectError(await call('GET', p, 'nonsense'), 401, 'invalid_token');
    expectError(await call('GET', `/rooms/not-a-uuid/${path}`, alice.token), 404, 'room_not_found');
    expectError(await call('GET', `/rooms/${randomUUID()}/${path}`, alice.token), 404, 'room_not_found');
  }
  expectError(await call('GET', `/rooms/${room.id}/history?limit=0`, alice.token), 400, 'validation_failed');
  expectError(await call('GET', `/rooms/${room.id}/audit?cursor=zz`, alice.token), 400, 'validation_failed');
  // a deleted room is gone here too, but its visitors keep the visit (room name kept)
  const tv = nowS() - 70000;
  await joined(room, carol, 'PA_del', tv);
  assert.equal((await call('DELETE', `/rooms/${room.id}`, alice.token)).status, 204);
  expectError(await call('GET', `/rooms/${room.id}/history`, alice.token), 404, 'room_not_found');
  const kept = await waitFor(async () => {
    const c = (await call('GET', `/users/me/calls?from=${iso(tv)}&to=${iso(tv + 1)}`, carol.token)).json.calls;
    return c.length === 1 && c[0].leave_reason === 'room_ended' ? c[0] : null;
  });
  assert.ok(kept, 'the visit stays, closed by the end that came with the deletion');
  assert.deepEqual([kept.room_id, kept.room_name], [room.id, 'Standup']);
});

test('history pages: newest first, cursor paging without repeats while visits arrive, totals over all', async () => {
  const room = await createRoom(alice);
  await roomKnown(room);
  const t = nowS() - 50000;
  for (let i = 0; i < 5; i++) {
    await joined(room, { id: `guest-h${i}`, name: `H${i}` }, `PA_h${i}`, t + i * 10);
    await left(room, { id: `guest-h${i}`, name: `H${i}` }, `PA_h${i}`, t + i * 10 + 60);
  }
  const seen = [];
  let cursor;
  let k = 0;
  do {
    const h = await history(room, alice.token, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(h.participants, 5 + k);
    seen.push(...h.visits.map((v) => v.identity));
    cursor = h.next_cursor;
    await joined(room, { id: `guest-n${k}`, name: 'N' }, `PA_n${k}`, nowS());
    k++;
  } while (cursor);
  assert.deepEqual(seen, ['guest-h4', 'guest-h3', 'guest-h2', 'guest-h1', 'guest-h0']);
  assert.equal((await history(room, alice.token)).total_minutes, 5);
});

// ---- audit ---------------------------------------------------------------------

test('audit: room events become entries, newest first, paged without repeats while entries arrive', async () => {
  const room = await createRoom(alice, 'Audited');
  await roomKnown(room);
  assert.equal((await call('PATCH', `/rooms/${room.id}`, alice.token, { name: 'Audited 2' })).status, 200);
  assert.equal((await call('PATCH', `/rooms/${room.id}`, alice.token, { locked: true })).status, 200);
  const three = await waitFor(async () => (await q1(`SELECT count(*) FROM audit_entries WHERE room_id = '${room.id}'`)).trim() === '3');
  assert.ok(three, 'three entries');
  const p1 = (await call('GET', `/rooms/${room.id}/audit?limit=2`, alice.token)).json;
  assert.deepEqual(p1.entries.map((e) => e.action), ['room.updated', 'room.updated']);
  assert.ok(p1.next_cursor);
  // a new entry arrives between pages: the second page still starts right after the first
  assert.equal((await call('POST', `/rooms/${room.id}/end`, alice.token)).status, 200);
  await waitFor(async () => (await q1(`SELECT count(*) FROM audit_entries WHERE room_id = '${room.id}'`)).trim() === '4');
  const p2 = (await call('GET', `/rooms/${room.id}/audit?limit=2&cursor=${p1.next_cursor}`, alice.token)).json;
  assert.deepEqual(p2.entries.map((e) => e.action), ['room.created']);
  assert.equal(p2.next_cursor, undefined);
  const all = (await call('GET', `/rooms/${room.id}/audit`, alice.token)).json;
  assert.deepEqual(all.entries.map((e) => e.action), ['room.ended', 'room.updated', 'room.updated', 'room.created']);
  for (const e of all.entries) {
    assert.match(e.at, RFC3339);
    assert.equal(e.actor.user_id, alice.id);
  }
  // the deletion is recorded too (read in Postgres: the room is gone from every route)
  assert.equal((await call('DELETE', `/rooms/${room.id}`, alice.token)).status, 204);
  const five = await waitFor(async () => (await q1(`SELECT count(*) FROM audit_entries WHERE room_id = '${room.id}'`)).trim() === '5');
  assert.ok(five);
  assert.equal((await q1(`SELECT action FROM audit_entries WHERE room_id = '${room.id}' ORDER BY id DESC LIMIT 1`)).trim(), 'room.deleted');
});

// A RoomEvent (proto/calixio/v1/events.proto) encoded by hand, as the
// moderation routes publish them; o: {type, room_id, livekit_room, at_ms,
// event_id, participant: {identity, name, role, user_id, reason}, actor}.
function pbRoomEvent(o) {
  const varint = (n) => {
    const out = [];
    let v = BigInt(n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      out.push(b);
    } while (v);
    return Buffer.from(out);
  };
  const str = (f, v) => (v === undefined ? Buffer.alloc(0) : Buffer.concat([varint((f << 3) | 2), varint(Buffer.byteLength(v)), Buffer.from(v)]));
  const msg = (f, b) => Buffer.concat([varint((f << 3) | 2), varint(b.length), b]);
  const part = (p) => Buffer.concat([str(1, p.identity), str(2, p.name), str(3, p.role), str(4, p.user_id), str(5, p.reason)]);
  return Buffer.concat([
    str(1, o.type), str(2, o.room_id), str(3, o.livekit_room), varint((5 << 3) | 0), varint(o.at_ms), str(6, o.event_id),
    o.participant ? msg(8, part(o.participant)) : Buffer.alloc(0),
    o.actor ? msg(11, part(o.actor)) : Buffer.alloc(0),
  ]);
}

test('audit table rows for moderation events: removal (visit reason removed), role change details, own deleted message not audited', async () => {
  const room = await createRoom(alice, 'Moderated');
  await roomKnown(room);
  const t0 = nowS() - 600;
  await joined(room, bob, 'PA_mod', t0);
  const nc = await s.nats();
  const host = { identity: alice.id, name: 'Alice', role: 'host', user_id: alice.id };
  const send = (type, participant, actor = host) => {
    const ev = { type, room_id: room.id, livekit_room: room.livekit_room, at_ms: Date.now(), event_id: randomUUID(), participant, actor };
    const b = pbRoomEvent(ev);
    nc.publish(`${s.prefix}.events.room.${room.id}.${type}`, b);
    return b;
  };
  const removal = send('participant.removed', { identity: bob.id, name: 'Bob', role: 'participant', user_id: bob.id });
  nc.publish(`${s.prefix}.events.room.${room.id}.participant.removed`, removal); // the same event twice
  send('participant.role_changed', { identity: carol.id, name: 'Carol', role: 'moderator', user_id: carol.id });
  send('chat.message_deleted', { identity: bob.id, name: 'Bob' }, { identity: bob.id, name: 'Bob', role: 'participant', user_id: bob.id });
  send('chat.message_deleted', { identity: bob.id, name: 'Bob' });
  send('participant.joined', { identity: bob.id, name: 'Bob' }); // not an audited action
  await nc.flush();
  const ok = await waitFor(async () => (await q1(`SELECT count(*) FROM audit_entries WHERE room_id = '${room.id}'`)).trim() === '4');
  assert.ok(ok, 'room.created + removal + role change + one deleted message');
  await sleep(200);
  const a = (await call('GET', `/rooms/${room.id}/audit`, alice.token)).json.entries;
  assert.deepEqual(a.map((e) => [e.action, e.target ?? null, e.details ?? null]), [
    ['chat.message_deleted', bob.id, null],
    ['participant.role_changed', carol.id, { role: 'moderator' }],
    ['participant.removed', bob.id, { role: 'participant' }],
    ['room.created', null, null],
  ]);
  assert.deepEqual(a[0].actor, { identity: alice.id, user_id: alice.id, name: 'Alice' });
  // a promotion shows in the history role
  await joined(room, carol, 'PA_carol', t0 + 5);
  send('participant.role_changed', { identity: carol.id, name: 'Carol', role: 'moderator', user_id: carol.id });
  await nc.flush();
  const promoted = await waitFor(async () => (await history(room, alice.token)).visits.find((x) => x.identity === carol.id && x.role === 'moderator'));
  assert.ok(promoted, 'the visit says moderator');
  // the removed participant's leave says removed
  await left(room, bob, 'PA_mod', t0 + 30);
  const v = (await history(room, alice.token)).visits.find((x) => x.identity === bob.id);
  assert.deepEqual([v.leave_reason, v.duration_s], ['removed', 30]);
});

// ---- stats -----------------------------------------------------------------------

test('stats: bounds, room token only, one sample per 5 s per participant (429), aggregates', async () => {
  const room = await createRoom(alice);
  const other = await createRoom(bob);
  const jb = await join(room, bob);
  const jg = await join(room, null, 'Gwen');
  const post = (tok, json, id = room.id) => call('POST', `/rooms/${id}/stats`, tok, json);
  const good = { rtt_ms: 40, jitter_ms: 5, packet_loss_pct: 1.5, bitrate_kbps: 1200 };
  for (const [field, bad, rule] of [['rtt_ms', -1, 'min'], ['rtt_ms', 60001, 'max'], ['jitter_ms', -0.5, 'min'], ['jitter_ms', 1e9, 'max'], ['packet_loss_pct', 100.1, 'max'], ['packet_loss_pct', -1, 'min'], ['bitrate_kbps', -1, 'min'], ['bitrate_kbps', 1000001, 'max']]) {
    const r = await post(jb.room_token, { ...good, [field]: bad });
    expectError(r, 400, 'validation_failed');
    assert.equal(r.json.fields?.[field], rule, r.text);
  }
  for (const field of ['rtt_ms', 'jitter_ms', 'packet_loss_pct']) {
    const { [field]: _, ...rest } = good;
    const r = await post(jb.room_token, rest);
    expectError(r, 400, 'validation_failed');
    assert.equal(r.json.fields?.[field], 'required');
  }
  expectError(await post(jb.room_token, { ...good, extra: 1 }), 400, 'invalid_json');
  expectError(await post(jb.room_token, { ...good, rtt_ms: 'fast' }), 400, 'invalid_json');
  expectError(await post(alice.token, good), 401, 'invalid_token');
  expectError(await post(waitingToken(room.id), good), 401, 'invalid_token');
  expectError(await post(null, good), 401, 'missing_auth');
  expectError(await post(jb.room_token, good, other.id), 403, 'room_forbidden');

  const r1 = await post(jb.room_token, good);
  assert.equal(r1.status, 202, r1.text);
  const r2 = await post(jb.room_token, { ...good, rtt_ms: 999 });
  expectError(r2, 429, 'rate_limited');
  const ra = Number(r2.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 5, `Retry-After ${ra}`);
  assert.equal((await post(jg.room_token, { rtt_ms: 200, jitter_ms: 30, packet_loss_pct: 10 })).status, 202, 'another participant has its own slot');
  await sleep(5100);
  assert.equal((await post(jb.room_token, { rtt_ms: 140, jitter_ms: 15, packet_loss_pct: 0.5 })).status, 202, 'after 5 s');
  const st = await call('GET', `/rooms/${room.id}/stats`, alice.token);
  assert.equal(st.status, 200, st.text);
  const b = st.json.participants.find((p) => p.identity === bob.id);
  assert.deepEqual(b, { identity: bob.id, name: 'Bob', samples: 2, rtt_ms: { p50: 90, p95: 135 }, jitter_ms: { p50: 10, p95: 14.5 }, packet_loss_pct: { avg: 1, max: 1.5 } });
  const g = st.json.participants.find((p) => p.name === 'Gwen');
  assert.deepEqual([g.samples, g.rtt_ms.p50, g.packet_loss_pct.max], [1, 200, 10]);
  assert.equal(st.json.participants.length, 2, 'the refused sample was not stored');
});

// ---- account deletion --------------------------------------------------------------

test('account deletion: the visit stays for others with the name "Deleted user", names erased in the rows', async () => {
  const dora = await user('Dora Doomed');
  const room = await createRoom(alice);
  await roomKnown(room);
  const t = nowS() - 900;
  await joined(room, dora, 'PA_dd', t);
  await left(room, dora, 'PA_dd', t + 42);
  const jd = await join(room, dora);
  assert.equal((await call('POST', `/rooms/${room.id}/stats`, jd.room_token, { rtt_ms: 1, jitter_ms: 1, packet_loss_pct: 0 })).status, 202);
  const d = await call('DELETE', '/users/me', dora.token, { password: dora.password });
  assert.equal(d.status, 204, d.text);
  const erased = await waitFor(async () => (await q1(`SELECT count(*) FROM history_deleted_users WHERE user_id = '${dora.id}'`)).trim() === '1');
  assert.ok(erased, 'the account-deleted event reached the history');
  assert.equal((await q1(`SELECT string_agg(DISTINCT name, ',') FROM visits WHERE user_id = '${dora.id}'`)).trim(), 'Deleted user');
  assert.equal((await q1(`SELECT string_agg(DISTINCT name, ',') FROM participant_events WHERE identity = '${dora.id}'`)).trim(), 'Deleted user');
  assert.equal((await q1(`SELECT string_agg(DISTINCT name, ',') FROM call_stats WHERE user_id = '${dora.id}'`)).trim(), 'Deleted user');
  assert.equal((await q1(`SELECT count(*) FROM participant_events WHERE name LIKE '%Dora%'`)).trim(), '0');
  const v = (await history(room, alice.token)).visits.find((x) => x.user_id === dora.id);
  assert.deepEqual([v.name, v.duration_s, v.leave_reason], ['Deleted user', 42, 'left']);
  // idempotent: the event again (auth delivers at least once) changes nothing and fails nothing
  const nc = await s.nats();
  const id = Buffer.from(dora.id);
  nc.publish(`${s.prefix}.events.user.${dora.id}.deleted`, Buffer.concat([Buffer.from([0x0a, id.length]), id]));
  await nc.flush();
  await sleep(200);
  assert.equal((await q1(`SELECT count(*) FROM history_deleted_users WHERE user_id = '${dora.id}'`)).trim(), '1');
  // a late webhook of the deleted account is stored without the name
  await left(room, { id: dora.id, name: 'Dora Doomed' }, 'PA_dd', t + 50);
  assert.equal((await q1(`SELECT count(*) FROM participant_events WHERE name LIKE '%Dora%'`)).trim(), '0');
});
