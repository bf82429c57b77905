// access.test.mjs: issue 17 — who gets in (API-ROOMS.md "Joining, extended",
// "Waiting room", "Invites"), and the one role x action table of
// services/rooms/policy.c, row by row.
//
// Everything goes through the gateway over HTTP against real NATS,
// Postgres, Redis and the fake LiveKit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, createHash } from 'node:crypto';
import { startStack, sleep } from '../harness/stack.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';
import * as lkw from '../harness/livekit-webhook.mjs';

const WAITING_TTL_S = 3;
const PW_MAX_FAILS = 3;
let s, lk, alice, bob, carol;

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
const bearer = (t) => (t ? { Authorization: `Bearer ${t}` } : {});
async function call(method, path, { token, json, headers } = {}) {
  const o = { headers: { ...bearer(token), ...(headers ?? {}) } };
  if (json !== undefined) o.json = json;
  return s.http(method, path, o);
}
async function user(name) {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name, email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  return { user_id: login.json.user_id, name, token: login.json.access_token };
}
async function createRoom(u, json = {}) {
  const r = await call('POST', '/rooms', { token: u.token, json: { name: 'Room', ...json } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
const join = (id, { token, json = {}, headers } = {}) => call('POST', `/rooms/${id}/join`, { token, json, headers });
async function invite(room, token, json = {}) {
  const r = await call('POST', `/rooms/${room.id}/invites`, { token, json });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
function expectError(r, status, code) {
  assert.equal(r.status, status, `${status} ${code} expected, got ${r.status} ${r.text}`);
  assert.equal(r.json?.error, code, r.text);
}

before(async () => {
  lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  s = await startStack({
    daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'],
    env: {
      LIVEKIT_HOST: lk.url,
      LIVEKIT_TIMEOUT: '1500ms',
      LIVEKIT_MAX_ATTEMPTS: '1',
      MEDIA_ROOM_CACHE_TTL: '100ms',
      ROOM_PASSWORD_MEMLIMIT: '8388608',
      ROOM_PASSWORD_OPSLIMIT: '1',
      ROOM_PASSWORD_MAX_FAILS: String(PW_MAX_FAILS),
      WAITING_TTL: `${WAITING_TTL_S}s`,
      CX_SUBS_PER_ENDPOINT: '4',
      ROOMS_SWEEP_INTERVAL: '300ms',
    },
  });
  alice = await user('Alice');
  bob = await user('Bob');
  carol = await user('Carol');
});

after(async () => {
  await s?.stop();
  await lk?.stop();
});

// ---- the join table -------------------------------------------------------------

test('open room: a plain join still answers 200 with role and room token', async () => {
  const room = await createRoom(alice);
  const g = await join(room.id, { json: { user_name: 'Gus' } });
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.role, 'guest');
  assert.equal(g.json.status, undefined, 'a plain join has no status key');
  const b = await join(room.id, { token: bob.token });
  assert.equal(b.json.role, 'participant');
});

test('invite room: 403 room_invite_required without an invite; the host always gets in', async () => {
  const room = await createRoom(alice, { access: 'invite' });
  expectError(await join(room.id), 403, 'room_invite_required');
  expectError(await join(room.id, { token: bob.token }), 403, 'room_invite_required');
  const h = await join(room.id, { token: alice.token });
  assert.equal(h.status, 200, h.text);
  assert.equal(h.json.role, 'host');
  assert.equal(claimsOf(h.json.token).video.roomAdmin, true);
  const inv = await invite(room, alice.token);
  const g = await join(room.id, { json: { invite: inv.code, user_name: 'Invited' } });
  assert.equal(g.status, 200, g.text);
  assert.equal(g.json.role, 'participant', 'an invite holder is a participant');
  assert.equal(claimsOf(g.json.token).video.roomAdmin, undefined);
  assert.equal(claimsOf(g.json.room_token).role, 'participant');
});

test('locked room: 403 room_locked, but the host and moderators get in', async () => {
  const room = await createRoom(alice, { locked: true });
  expectError(await join(room.id), 403, 'room_locked');
  expectError(await join(room.id, { token: bob.token }), 403, 'room_locked');
  assert.equal((await join(room.id, { token: alice.token })).status, 200);
  const p = await invite(room, alice.token);
  expectError(await join(room.id, { json: { invite: p.code } }), 403, 'room_locked');
  const m = await invite(room, alice.token, { role: 'moderator' });
  const j = await join(room.id, { token: bob.token, json: { invite: m.code } });
  assert.equal(j.status, 200, j.text);
  assert.equal(j.json.role, 'moderator');
  // the account keeps its room role: a later join without the invite gets in
  const again = await join(room.id, { token: bob.token });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.role, 'moderator');
});

test('password: required, invalid, right; an invite and the host need none; 429 after repeated failures', async () => {
  const room = await createRoom(alice, { password: 'open sesame' });
  const ip = { 'X-Forwarded-For': '198.51.100.7' };
  expectError(await join(room.id), 403, 'room_password_required');
  expectError(await join(room.id, { json: { password: 'wrong' } }), 403, 'room_password_invalid');
  const ok = await join(room.id, { json: { password: 'open sesame' } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await join(room.id, { token: alice.token })).status, 200, 'host needs no password');
  const inv = await invite(room, alice.token);
  assert.equal((await join(room.id, { json: { invite: inv.code } })).status, 200, 'invite needs no password');
  // throttled per room and client
  const room2 = await createRoom(alice, { password: 'open sesame' });
  for (let i = 0; i < PW_MAX_FAILS; i++)
    expectError(await join(room2.id, { json: { password: `bad${i}` }, headers: ip }), 403, 'room_password_invalid');
  const t = await join(room2.id, { json: { password: 'open sesame' }, headers: ip });
  expectError(t, 429, 'too_many_attempts');
  assert.ok(Number(t.headers.get('retry-after')) >= 1, 'Retry-After');
  // another room is not throttled for that client
  assert.equal((await join(room.id, { json: { password: 'open sesame' }, headers: ip })).status, 200);
});

test('invite errors: unknown, revoked, another room\'s: 403 invite_invalid; used up: 410 invite_expired', async () => {
  const room = await createRoom(alice, { access: 'invite' });
  const other = await createRoom(alice, { access: 'invite' });
  expectError(await join(room.id, { json: { invite: 'no-such-invite-code-AAAAAAAAAAAAAAA' } }), 403, 'invite_invalid');
  const theirs = await invite(other, alice.token);
  expectError(await join(room.id, { json: { invite: theirs.code } }), 403, 'invite_invalid');
  const revoked = await invite(room, alice.token);
  assert.equal((await call('DELETE', `/rooms/${room.id}/invites/${revoked.id}`, { token: alice.token })).status, 204);
  expectError(await join(room.id, { json: { invite: revoked.code } }), 403, 'invite_invalid');
  const once = await invite(room, alice.token, { max_uses: 1 });
  assert.equal((await join(room.id, { json: { invite: once.code } })).status, 200);
  expectError(await join(room.id, { json: { invite: once.code } }), 410, 'invite_expired');
  const late = await invite(room, alice.token, { expires_in: 60 });
  await s.psql(`UPDATE room_invites SET expires_at = now() - interval '1 second' WHERE id = '${late.id}'`);
  expectError(await join(room.id, { json: { invite: late.code } }), 410, 'invite_expired');
  // an invite is tried on an open room too
  const open = await createRoom(alice);
  expectError(await join(open.id, { json: { invite: 'bogus' } }), 403, 'invite_invalid');
});

test('precedence: the first answer of the contract order wins', async () => {
  // ended beats everything
  const ended = await createRoom(alice, { access: 'invite', locked: true, password: 'pw-pw-pw' });
  await call('POST', `/rooms/${ended.id}/end`, { token: alice.token });
  expectError(await join(ended.id, { json: { invite: 'x' } }), 409, 'room_ended');
  // locked before the invite errors, the invite errors before invite_required / password
  const all = await createRoom(alice, { access: 'invite', locked: true, password: 'pw-pw-pw' });
  expectError(await join(all.id, { json: { invite: 'bogus' } }), 403, 'room_locked');
  await call('PATCH', `/rooms/${all.id}`, { token: alice.token, json: { locked: false } });
  expectError(await join(all.id, { json: { invite: 'bogus' } }), 403, 'invite_invalid');
  expectError(await join(all.id, { json: { password: 'pw-pw-pw' } }), 403, 'room_invite_required');
  // password before waiting
  const knock = await createRoom(alice, { access: 'knock', password: 'pw-pw-pw' });
  expectError(await join(knock.id), 403, 'room_password_required');
  const w = await join(knock.id, { json: { password: 'pw-pw-pw' } });
  assert.equal(w.status, 202, w.text);
  // banned before room_not_started and room_locked
  const banned = await createRoom(alice, { locked: true, scheduled_at: new Date(Date.now() + 3600e3).toISOString().replace(/\.\d+Z$/, 'Z') });
  await s.psql(`INSERT INTO room_bans (room_id, identity, user_id) VALUES ('${banned.id}', '${carol.user_id}', '${carol.user_id}')`);
  expectError(await join(banned.id, { token: carol.token }), 403, 'banned');
  expectError(await join(banned.id, { token: bob.token }), 409, 'room_not_started');
});

test('gated room: room_full after the password checks (the host exempt, no use counted); the first allowed join starts a pending room', async () => {
  const room = await createRoom(alice, { access: 'invite', max_participants: 1 });
  await s.redis('HSET', `cx:presence:{${room.livekit_room}}`, 'someone', JSON.stringify({ identity: 'someone', name: 'S', sid: 'PA_s', joined_at: 1, kind: 'standard', ts: 1 }));
  const inv = await invite(room, alice.token, { max_uses: 3 });
  expectError(await join(room.id), 403, 'room_invite_required');
  expectError(await join(room.id, { json: { invite: inv.code } }), 409, 'room_full');
  assert.equal((await join(room.id, { token: alice.token })).status, 200, 'the host always gets in');
  assert.deepEqual(await s.psql(`SELECT uses FROM room_invites WHERE id = '${inv.id}'`), [['0']]);
  // a pending room inside ROOM_EARLY_JOIN (default 10m): an invite join starts it
  const soon = new Date(Date.now() + 120e3).toISOString().replace(/\.\d+Z$/, 'Z');
  const pending = await createRoom(alice, { access: 'invite', scheduled_at: soon });
  assert.equal(pending.status, 'pending');
  const pi = await invite(pending, alice.token);
  const n0 = lk.callsOf('CreateRoom').filter((c) => c.body.name === pending.livekit_room).length;
  const j = await join(pending.id, { json: { invite: pi.code } });
  assert.equal(j.status, 200, j.text);
  const now = (await call('GET', `/rooms/${pending.id}`, { token: alice.token })).json;
  assert.equal(now.status, 'active');
  assert.ok(now.started_at);
  assert.equal(lk.callsOf('CreateRoom').filter((c) => c.body.name === pending.livekit_room).length, n0 + 1);
});

test('a use is counted only on 200 or 202: refused joins leave the invite alone', async () => {
  const room = await createRoom(alice, { access: 'invite', locked: true });
  const inv = await invite(room, alice.token, { max_uses: 1 });
  expectError(await join(room.id, { json: { invite: inv.code } }), 403, 'room_locked');
  const list = (await call('GET', `/rooms/${room.id}/invites`, { token: alice.token })).json;
  assert.equal(list.find((x) => x.id === inv.id).uses, 0);
});

// ---- invites -------------------------------------------------------------------

test('invites: create answers the code once (>= 128 bits, URL-safe), only its hash is stored, list newest first', async () => {
  const room = await createRoom(alice, { access: 'invite' });
  const a = await invite(room, alice.token, { label: 'first', max_uses: 5, expires_in: 3600 });
  assert.deepEqual(Object.keys(a).sort(), ['code', 'created_at', 'expires_at', 'id', 'label', 'max_uses', 'role', 'uses'].sort());
  assert.match(a.code, /^[A-Za-z0-9_-]{22,}$/);
  assert.ok(Buffer.from(a.code, 'base64url').length >= 16, 'at least 128 bits');
  assert.equal(a.role, 'participant');
  assert.equal(a.uses, 0);
  assert.equal(a.max_uses, 5);
  await sleep(1100);
  const b = await invite(room, alice.token, { label: 'second' });
  assert.equal(b.expires_at, undefined);
  assert.equal(b.max_uses, undefined);
  const rows = await s.psql(`SELECT encode(code_hash, 'hex') FROM room_invites WHERE id = '${a.id}'`);
  assert.equal(rows[0][0], createHash('sha256').update(a.code).digest('hex'));
  const dump = await s.psql(`SELECT row_to_json(i)::text FROM room_invites i WHERE room_id = '${room.id}'`);
  assert.ok(!dump.flat().join().includes(a.code), 'the code itself is not stored');
  const list = await call('GET', `/rooms/${room.id}/invites`, { token: alice.token });
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.map((x) => x.id), [b.id, a.id]);
  assert.equal(list.json[0].code, undefined, 'the code is not shown again');
  assert.equal((await call('DELETE', `/rooms/${room.id}/invites/${b.id}`, { token: alice.token })).status, 204);
  expectError(await call('DELETE', `/rooms/${room.id}/invites/${b.id}`, { token: alice.token }), 404, 'invite_not_found');
  expectError(await call('DELETE', `/rooms/${room.id}/invites/${randomUUID()}`, { token: alice.token }), 404, 'invite_not_found');
  expectError(await call('DELETE', `/rooms/${room.id}/invites/not-a-uuid`, { token: alice.token }), 404, 'invite_not_found');
  const other = await createRoom(alice);
  expectError(await call('DELETE', `/rooms/${other.id}/invites/${a.id}`, { token: alice.token }), 404, 'invite_not_found');
  assert.deepEqual((await call('GET', `/rooms/${room.id}/invites`, { token: alice.token })).json.map((x) => x.id), [a.id]);
});

test('invites: bad input', async () => {
  const room = await createRoom(alice);
  const bad = [
    [{ label: 'x'.repeat(65) }, 'label_max'],
    [{ expires_in: 59 }, 'expires_in_min'],
    [{ expires_in: 2592001 }, 'expires_in_max'],
    [{ max_uses: 0 }, 'max_uses_min'],
    [{ max_uses: 10001 }, 'max_uses_max'],
    [{ role: 'host' }, 'role_oneof'],
  ];
  for (const [json, reason] of bad) {
    const r = await call('POST', `/rooms/${room.id}/invites`, { token: alice.token, json });
    expectError(r, 400, 'validation_failed');
    assert.equal(r.json.reason, reason);
  }
  expectError(await call('POST', `/rooms/${room.id}/invites`, { token: alice.token, json: { nope: 1 } }), 400, 'invalid_json');
});

test('invites: two racing joins on the last use get one 200 and one 410 (real concurrency)', async () => {
  const room = await createRoom(alice, { access: 'invite' });
  for (let round = 0; round < 8; round++) {
    const inv = await invite(room, alice.token, { max_uses: 1 });
    const rs = await Promise.all([0, 1].map(() => join(room.id, { json: { invite: inv.code } })));
    const st = rs.map((r) => r.status).sort();
    assert.deepEqual(st, [200, 410], rs.map((r) => r.text).join(' | '));
    assert.equal(rs.find((r) => r.status === 410).json.error, 'invite_expired');
    const uses = await s.psql(`SELECT uses FROM room_invites WHERE id = '${inv.id}'`);
    assert.equal(uses[0][0], '1');
  }
});

// ---- waiting room -----------------------------------------------------------------

async function natsEvents(roomId) {
  const nc = await s.nats();
  const sub = nc.subscribe(`calixio.events.room.${roomId}.waiting.>`);
  const got = [];
  (async () => {
    for await (const m of sub) got.push(m.subject.split('.').slice(-2).join('.'));
  })();
  await nc.flush();
  return { got, stop: () => sub.unsubscribe() };
}

test('waiting room: 202 with a waiting token, list, approve, poll mints the answer once and answers the same later', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  const ev = await natsEvents(room.id);
  const w = await join(room.id, { json: { user_name: 'Knocker' } });
  assert.equal(w.status, 202, w.text);
  assert.deepEqual(Object.keys(w.json).sort(), ['expires_in', 'room_id', 'room_name', 'status', 'waiting_id', 'waiting_token'].sort());
  assert.equal(w.json.status, 'waiting');
  assert.equal(w.json.expires_in, WAITING_TTL_S);
  assert.equal(claimsOf(w.json.waiting_token).aud, 'calixio-waiting');
  const wt = w.json.waiting_token;
  const path = `/rooms/${room.id}/waiting/${w.json.waiting_id}`;
  assert.deepEqual((await call('GET', path, { token: wt })).json, { status: 'waiting' });
  // the host and a signed-in user who is no host
  const list = await call('GET', `/rooms/${room.id}/waiting`, { token: alice.token });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.length, 1);
  assert.deepEqual(Object.keys(list.json[0]).sort(), ['id', 'name', 'requested_at']);
  assert.equal(list.json[0].name, 'Knocker');
  const b = await join(room.id, { token: bob.token });
  assert.equal(b.status, 202);
  const list2 = (await call('GET', `/rooms/${room.id}/waiting`, { token: alice.token })).json;
  assert.deepEqual(list2.map((e) => e.id), [w.json.waiting_id, b.json.waiting_id], 'oldest first');
  assert.equal(list2[1].user_id, bob.user_id);
  // the host joins directly
  assert.equal((await join(room.id, { token: alice.token })).status, 200);
  const ap = await call('POST', `${path}/approve`, { token: alice.token });
  assert.equal(ap.status, 200, ap.text);
  assert.deepEqual(ap.json, { id: w.json.waiting_id, status: 'approved' });
  assert.deepEqual((await call('POST', `${path}/reject`, { token: alice.token, json: { reason: 'late' } })).json,
    { id: w.json.waiting_id, status: 'approved' }, 'deciding twice answers the first decision');
  const p1 = await call('GET', path, { token: wt });
  assert.equal(p1.status, 200, p1.text);
  assert.equal(p1.json.status, 'approved');
  assert.equal(p1.json.role, 'guest');
  assert.equal(claimsOf(p1.json.token).video.room, room.livekit_room);
  assert.equal(claimsOf(p1.json.room_token).sub, p1.json.identity);
  assert.equal(p1.json.identity, claimsOf(wt).sub, 'joins as the identity it waited as');
  const p2 = await call('GET', path, { token: wt });
  assert.deepEqual(p2.json, p1.json, 'later polls answer the same');
  assert.deepEqual((await call('GET', `/rooms/${room.id}/waiting`, { token: alice.token })).json.map((e) => e.id), [b.json.waiting_id]);
  // reject with a reason the waiting party sees
  const bp = `/rooms/${room.id}/waiting/${b.json.waiting_id}`;
  const rj = await call('POST', `${bp}/reject`, { token: alice.token, json: { reason: 'not today' } });
  assert.deepEqual(rj.json, { id: b.json.waiting_id, status: 'rejected' });
  assert.deepEqual((await call('GET', bp, { token: b.json.waiting_token })).json, { status: 'rejected', reason: 'not today' });
  await sleep(200);
  ev.stop();
  assert.deepEqual(ev.got, ['waiting.requested', 'waiting.requested', 'waiting.approved', 'waiting.rejected']);
});

test('waiting room: bad input and the waiting token is good for its own entry only', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  const w = await join(room.id);
  const w2 = await join(room.id);
  const path = `/rooms/${room.id}/waiting/${w.json.waiting_id}`;
  expectError(await call('GET', `/rooms/${room.id}/waiting/${w2.json.waiting_id}`, { token: w.json.waiting_token }), 403, 'room_forbidden');
  expectError(await call('GET', path), 401, 'missing_auth');
  expectError(await call('GET', path, { token: alice.token }), 401, 'invalid_token');
  expectError(await call('GET', `/rooms/${room.id}/waiting`, { token: w.json.waiting_token }), 401, 'invalid_token');
  expectError(await call('POST', `${path}/approve`, { token: w.json.waiting_token }), 401, 'invalid_token');
  expectError(await call('POST', `/rooms/${room.id}/waiting/${randomUUID()}/approve`, { token: alice.token }), 404, 'waiting_not_found');
  expectError(await call('POST', `/rooms/${room.id}/waiting/nope/approve`, { token: alice.token }), 404, 'waiting_not_found');
  const r = await call('POST', `${path}/reject`, { token: alice.token, json: { reason: 'x'.repeat(201) } });
  expectError(r, 400, 'validation_failed');
  expectError(await call('POST', `${path}/approve`, { token: alice.token, json: { reason: 'x' } }), 400, 'invalid_json');
  // an entry of another room
  const other = await createRoom(alice, { access: 'knock' });
  expectError(await call('POST', `/rooms/${other.id}/waiting/${w.json.waiting_id}/approve`, { token: alice.token }), 404, 'waiting_not_found');
});

test('waiting room: an entry expires after WAITING_TTL; approving it then is 404', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  const ev = await natsEvents(room.id);
  const w = await join(room.id);
  assert.equal(w.status, 202);
  await sleep(WAITING_TTL_S * 1000 + 800);
  ev.stop();
  assert.deepEqual(ev.got, ['waiting.requested', 'waiting.left'], 'the sweeper tells the host it left');
  const path = `/rooms/${room.id}/waiting/${w.json.waiting_id}`;
  assert.deepEqual((await call('GET', path, { token: w.json.waiting_token })).json, { status: 'expired' });
  expectError(await call('POST', `${path}/approve`, { token: alice.token }), 404, 'waiting_not_found');
  assert.deepEqual((await call('GET', `/rooms/${room.id}/waiting`, { token: alice.token })).json, []);
});

test('waiting room: entries of a room that ends are rejected; a deleted room is gone', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  const w = await join(room.id);
  const ev = await natsEvents(room.id);
  assert.equal((await call('POST', `/rooms/${room.id}/end`, { token: alice.token })).status, 200);
  const p = await call('GET', `/rooms/${room.id}/waiting/${w.json.waiting_id}`, { token: w.json.waiting_token });
  assert.equal(p.json.status, 'rejected', p.text);
  await sleep(200);
  assert.deepEqual(ev.got, ['waiting.rejected']);
  ev.stop();
  const room2 = await createRoom(alice, { access: 'knock' });
  const w2 = await join(room2.id);
  assert.equal((await call('DELETE', `/rooms/${room2.id}`, { token: alice.token })).status, 204);
  expectError(await call('GET', `/rooms/${room2.id}/waiting/${w2.json.waiting_id}`, { token: w2.json.waiting_token }), 404, 'room_not_found');
  assert.deepEqual(await s.psql(`SELECT count(*) FROM room_waiting WHERE room_id = '${room2.id}'`), [['0']]);
});

test('waiting room: the waiting party may give up (DELETE with its token): waiting.left, then it cannot be approved', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  const ev = await natsEvents(room.id);
  const w = await join(room.id, { json: { user_name: 'Quitter' } });
  const path = `/rooms/${room.id}/waiting/${w.json.waiting_id}`;
  expectError(await call('DELETE', path, { token: alice.token }), 401, 'invalid_token');
  assert.equal((await call('DELETE', path, { token: w.json.waiting_token })).status, 204);
  assert.equal((await call('DELETE', path, { token: w.json.waiting_token })).status, 204, 'leaving twice is 204');
  assert.deepEqual((await call('GET', path, { token: w.json.waiting_token })).json, { status: 'left' });
  assert.deepEqual((await call('GET', `/rooms/${room.id}/waiting`, { token: alice.token })).json, []);
  expectError(await call('POST', `${path}/approve`, { token: alice.token }), 404, 'waiting_not_found');
  await sleep(200);
  ev.stop();
  assert.deepEqual(ev.got, ['waiting.requested', 'waiting.left']);
});

test('knock room: host, moderators and invite holders skip the waiting room', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  assert.equal((await join(room.id, { token: alice.token })).status, 200);
  const inv = await invite(room, alice.token);
  const j = await join(room.id, { json: { invite: inv.code } });
  assert.equal(j.status, 200, j.text);
  const m = await invite(room, alice.token, { role: 'moderator' });
  const jm = await join(room.id, { token: carol.token, json: { invite: m.code } });
  assert.equal(jm.json.role, 'moderator');
  assert.equal((await join(room.id, { token: carol.token })).status, 200, 'a moderator of the room does not wait');
});

// ---- the role x action table (services/rooms/policy.c) ------------------------------

// min role per action, as in policy.c; each action is one route.
const ROLE_ORDER = ['guest', 'participant', 'moderator', 'host'];
const ACTIONS = [
  { action: 'update', min: 'moderator', run: (r, t) => call('PATCH', `/rooms/${r.id}`, { token: t, json: { description: 'x' } }), ok: 200 },
  { action: 'invite_create', min: 'moderator', run: (r, t) => call('POST', `/rooms/${r.id}/invites`, { token: t, json: {} }), ok: 201 },
  { action: 'invite_moderator', min: 'host', run: (r, t) => call('POST', `/rooms/${r.id}/invites`, { token: t, json: { role: 'moderator' } }), ok: 201 },
  { action: 'invite_list', min: 'moderator', run: (r, t) => call('GET', `/rooms/${r.id}/invites`, { token: t }), ok: 200 },
  { action: 'invite_revoke', min: 'moderator', run: async (r, t) => {
    const inv = await invite(r, alice.token);
    return call('DELETE', `/rooms/${r.id}/invites/${inv.id}`, { token: t });
  }, ok: 204 },
  { action: 'waiting_list', min: 'moderator', run: (r, t) => call('GET', `/rooms/${r.id}/waiting`, { token: t }), ok: 200 },
  { action: 'waiting_decide', min: 'moderator', run: async (r, t) => {
    await call('PATCH', `/rooms/${r.id}`, { token: alice.token, json: { access: 'knock' } });
    await sleep(150); // media's cache learns the change from the room event
    const w = await join(r.id);
    assert.equal(w.status, 202, w.text);
    await call('PATCH', `/rooms/${r.id}`, { token: alice.token, json: { access: 'open' } });
    return call('POST', `/rooms/${r.id}/waiting/${w.json.waiting_id}/approve`, { token: t });
  }, ok: 200 },
  { action: 'remove', min: 'moderator', run: async (r, t) => {
    const v = await victim(r);
    return call('POST', `/rooms/${r.id}/participants/${v}/remove`, { token: t, json: {} });
  }, ok: 204 },
  { action: 'mute', min: 'moderator', run: async (r, t) => {
    const v = await victim(r);
    return call('POST', `/rooms/${r.id}/participants/${v}/mute`, { token: t, json: { kind: 'all' } });
  }, ok: 204 },
  { action: 'set_role', min: 'host', run: async (r, t) => {
    const v = await victim(r);
    return call('POST', `/rooms/${r.id}/participants/${v}/role`, { token: t, json: { role: 'participant' } });
  }, ok: 200 },
  { action: 'delete', min: 'host', run: (r, t) => call('DELETE', `/rooms/${r.id}`, { token: t }), ok: 204 },
];

// Callers of one room: their token and what they are.
async function callers() {
  const room = await createRoom(alice);
  const other = await createRoom(alice);
  const mod = await invite(room, alice.token, { role: 'moderator' });
  const m = await join(room.id, { json: { invite: mod.code, user_name: 'Mo' } });
  const p = await join(room.id, { token: bob.token });
  const g = await join(room.id, { json: { user_name: 'Gee' } });
  const o = await join(other.id, { token: alice.token });
  const knock = await createRoom(alice, { access: 'knock' });
  const w = await join(knock.id);
  for (const r of [m, p, g, o]) assert.equal(r.status, 200, r.text);
  return {
    room,
    list: [
      { who: 'host', token: alice.token, role: 'host' },
      { who: 'moderator', token: m.json.room_token, role: 'moderator' },
      { who: 'participant', token: p.json.room_token, role: 'participant' },
      { who: 'guest', token: g.json.room_token, role: 'guest' },
      { who: 'waiting party', token: w.json.waiting_token, expect: [401, 'invalid_token'] },
      { who: "another room's token", token: o.json.room_token, expect: [403, 'room_forbidden'] },
      { who: 'no token', token: null, expect: [401, 'missing_auth'] },
      { who: 'signed-in user, no room token', token: carol.token, role: 'none' },
    ],
  };
}

for (const a of ACTIONS) {
  test(`role x action: ${a.action} (least role ${a.min})`, async () => {
    const { room, list } = await callers();
    // the host last: a destructive action (delete) must not hide the other rows
    for (const c of [...list.filter((x) => x.who !== 'host'), list.find((x) => x.who === 'host')]) {
      const r = await a.run(room, c.token);
      const allowed = c.role && c.role !== 'none' && ROLE_ORDER.indexOf(c.role) >= ROLE_ORDER.indexOf(a.min);
      if (c.expect) expectError(r, c.expect[0], c.expect[1]);
      else if (allowed) assert.equal(r.status, a.ok, `${c.who} may ${a.action}: ${r.text}`);
      else expectError(r, 403, 'room_forbidden');
    }
  });
}

// A fresh guest joined to room r and present in LiveKit, with one audio and
// one video track; its identity.
async function victim(r) {
  const g = await join(r.id, { json: { user_name: 'Victim' } });
  assert.equal(g.status, 200, g.text);
  const id = g.json.identity;
  const list = lk.participants(g.json.livekit_room).map((identity) => ({ identity }));
  lk.setParticipants(g.json.livekit_room, [...list, {
    identity: id, name: 'Victim', sid: `PA_${id.slice(-6)}`,
    tracks: [{ sid: `TR_a${id.slice(-6)}`, type: 'AUDIO' }, { sid: `TR_v${id.slice(-6)}`, type: 'VIDEO' }, { sid: `TR_s${id.slice(-6)}`, type: 'VIDEO', source: 'SCREEN_SHARE' }],
  }]);
  return id;
}

// ---- moderation ------------------------------------------------------------------

test('remove: RemoveParticipant with a roomAdmin grant for that room; the act is an event and an audit row', async () => {
  const room = await createRoom(alice);
  const v = await victim(room);
  const nc = await s.nats();
  const sub = nc.subscribe(`calixio.events.room.${room.id}.participant.>`);
  const got = [];
  (async () => { for await (const m of sub) got.push(m.subject.split('.').slice(-2).join('.')); })();
  await nc.flush();
  const n0 = lk.callsOf('RemoveParticipant').length;
  const r = await call('POST', `/rooms/${room.id}/participants/${v}/remove`, { token: alice.token });
  assert.equal(r.status, 204, r.text);
  const calls = lk.callsOf('RemoveParticipant').slice(n0);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body, { room: room.livekit_room, identity: v });
  assert.equal(calls[0].claims.video.roomAdmin, true);
  assert.equal(calls[0].claims.video.room, room.livekit_room);
  assert.ok(!lk.participants(room.livekit_room).includes(v));
  // not banned: the same identity may come back (a guest gets a new one anyway); removing again is 404
  expectError(await call('POST', `/rooms/${room.id}/participants/${v}/remove`, { token: alice.token }), 404, 'participant_not_found');
  await sleep(200);
  sub.unsubscribe();
  assert.deepEqual(got, ['participant.removed']);
  const audit = await s.psql(`SELECT action, target, actor_user_id, details::text FROM room_audit WHERE room_id = '${room.id}'`);
  assert.deepEqual(audit, [['participant.removed', v, alice.user_id, '{"ban": false}']]);
});

test('remove with ban: later joins of that account are 403 banned; a late participant_joined webhook is removed again at once', async () => {
  const room = await createRoom(alice);
  const j = await join(room.id, { token: carol.token });
  assert.equal(j.status, 200);
  lk.setParticipants(room.livekit_room, [{ identity: j.json.identity, name: 'Carol', sid: 'PA_carol' }]);
  const r = await call('POST', `/rooms/${room.id}/participants/${j.json.identity}/remove`, { token: alice.token, json: { ban: true } });
  assert.equal(r.status, 204, r.text);
  await sleep(150); // media's cache drops the room on the event
  expectError(await join(room.id, { token: carol.token }), 403, 'banned');
  const code = room.code;
  expectError(await call('POST', `/rooms/by-code/${code}/join`, { token: carol.token, json: {} }), 403, 'banned');
  // others still get in
  assert.equal((await join(room.id, { token: bob.token })).status, 200);
  // the old token still connects: LiveKit reports the join, rooms removes it again
  lk.setParticipants(room.livekit_room, [{ identity: j.json.identity, name: 'Carol', sid: 'PA_carol2' }]);
  const n0 = lk.callsOf('RemoveParticipant').length;
  const now = Math.floor(Date.now() / 1000);
  const body = lkw.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: j.json.identity, sid: 'PA_carol2', name: 'Carol', joinedAt: now, createdAt: now });
  const w = await lkw.postWebhook(s, body, { auth: await lkw.signSdk(body) });
  assert.equal(w.status, 200, w.text);
  let again = [];
  for (let i = 0; i < 50 && again.length === 0; i++) {
    await sleep(50);
    again = lk.callsOf('RemoveParticipant').slice(n0);
  }
  assert.equal(again.length, 1, 'removed again');
  assert.deepEqual(again[0].body, { room: room.livekit_room, identity: j.json.identity });
  assert.equal(again[0].claims.video.roomAdmin, true);
  assert.ok(!lk.participants(room.livekit_room).includes(j.json.identity));
  const audit = await s.psql(`SELECT action, details->>'ban', COALESCE(details->>'enforced', '') FROM room_audit WHERE room_id = '${room.id}' ORDER BY id`);
  assert.deepEqual(audit, [['participant.removed', 'true', ''], ['participant.removed', 'true', 'true']]);
  // a participant_joined of someone not banned removes nobody
  const n1 = lk.callsOf('RemoveParticipant').length;
  const b2 = lkw.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: bob.user_id, sid: 'PA_bob', name: 'Bob', joinedAt: now, createdAt: now + 1 });
  assert.equal((await lkw.postWebhook(s, b2, { auth: await lkw.signSdk(b2) })).status, 200);
  await sleep(300);
  assert.equal(lk.callsOf('RemoveParticipant').length, n1);
});

test('mute: MutePublishedTrack for each published track of the kind, with the grant of that room', async () => {
  const room = await createRoom(alice);
  const v = await victim(room);
  const sfx = v.slice(-6);
  const muted = async (kind) => {
    const n0 = lk.callsOf('MutePublishedTrack').length;
    const r = await call('POST', `/rooms/${room.id}/participants/${v}/mute`, { token: alice.token, json: { kind } });
    assert.equal(r.status, 204, r.text);
    const c = lk.callsOf('MutePublishedTrack').slice(n0);
    for (const x of c) {
      assert.equal(x.body.room, room.livekit_room);
      assert.equal(x.body.identity, v);
      assert.equal(x.body.muted, true);
      assert.equal(x.claims.video.roomAdmin, true);
      assert.equal(x.claims.video.room, room.livekit_room);
    }
    return c.map((x) => x.body.track_sid).sort();
  };
  assert.deepEqual(await muted('audio'), [`TR_a${sfx}`]);
  assert.deepEqual(await muted('video'), [`TR_s${sfx}`, `TR_v${sfx}`].sort());
  assert.deepEqual(await muted('all'), [`TR_a${sfx}`, `TR_s${sfx}`, `TR_v${sfx}`].sort());
  const bad = await call('POST', `/rooms/${room.id}/participants/${v}/mute`, { token: alice.token, json: { kind: 'screen' } });
  expectError(bad, 400, 'validation_failed');
  expectError(await call('POST', `/rooms/${room.id}/participants/${v}/mute`, { token: alice.token, json: {} }), 400, 'validation_failed');
  expectError(await call('POST', `/rooms/${room.id}/participants/nobody-here/mute`, { token: alice.token, json: { kind: 'all' } }), 404, 'participant_not_found');
  const audit = await s.psql(`SELECT count(*) FROM room_audit WHERE room_id = '${room.id}' AND action = 'participant.muted'`);
  assert.deepEqual(audit, [['3']]);
});

test('role: promote / demote with UpdateParticipant (permissions + metadata); the new role acts at once and sticks to the account', async () => {
  const room = await createRoom(alice);
  const j = await join(room.id, { token: bob.token });
  lk.setParticipants(room.livekit_room, [{ identity: j.json.identity, name: 'Bob', sid: 'PA_bob' }]);
  const rt = j.json.room_token;
  expectError(await call('GET', `/rooms/${room.id}/invites`, { token: rt }), 403, 'room_forbidden');
  const n0 = lk.callsOf('UpdateParticipant').length;
  const r = await call('POST', `/rooms/${room.id}/participants/${j.json.identity}/role`, { token: alice.token, json: { role: 'moderator' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { identity: j.json.identity, role: 'moderator' });
  const c = lk.callsOf('UpdateParticipant').slice(n0);
  assert.equal(c.length, 1);
  assert.equal(c[0].body.room, room.livekit_room);
  assert.equal(c[0].body.identity, j.json.identity);
  assert.deepEqual(JSON.parse(c[0].body.metadata), { role: 'moderator' });
  assert.deepEqual(c[0].body.permission, { can_subscribe: true, can_publish: true, can_publish_data: true, can_update_metadata: true });
  assert.equal(c[0].claims.video.roomAdmin, true);
  // the same room token now moderates
  assert.equal((await call('GET', `/rooms/${room.id}/invites`, { token: rt })).status, 200);
  const again = await join(room.id, { token: bob.token });
  assert.equal(again.json.role, 'moderator', 'a later join keeps the role');
  // a moderator cannot change roles; demote
  expectError(await call('POST', `/rooms/${room.id}/participants/${j.json.identity}/role`, { token: rt, json: { role: 'participant' } }), 403, 'room_forbidden');
  const d = await call('POST', `/rooms/${room.id}/participants/${j.json.identity}/role`, { token: alice.token, json: { role: 'participant' } });
  assert.deepEqual(d.json, { identity: j.json.identity, role: 'participant' });
  assert.equal(lk.callsOf('UpdateParticipant').at(-1).body.permission.can_update_metadata, false);
  expectError(await call('GET', `/rooms/${room.id}/invites`, { token: rt }), 403, 'room_forbidden');
  expectError(await call('POST', `/rooms/${room.id}/participants/${j.json.identity}/role`, { token: alice.token, json: { role: 'host' } }), 400, 'validation_failed');
  // the host cannot be moderated
  expectError(await call('POST', `/rooms/${room.id}/participants/${alice.user_id}/remove`, { token: rt }), 403, 'room_forbidden');
});

test('moderation: bad identities, unknown ones, another room', async () => {
  const room = await createRoom(alice);
  expectError(await call('POST', `/rooms/${room.id}/participants/bad.identity!/remove`, { token: alice.token }), 404, 'participant_not_found');
  expectError(await call('POST', `/rooms/${room.id}/participants/${'a'.repeat(65)}/remove`, { token: alice.token }), 404, 'participant_not_found');
  expectError(await call('POST', `/rooms/${room.id}/participants/ghost/remove`, { token: alice.token }), 404, 'participant_not_found');
  expectError(await call('POST', `/rooms/${room.id}/participants/ghost/role`, { token: alice.token, json: { role: 'moderator' } }), 404, 'participant_not_found');
  expectError(await call('POST', `/rooms/${room.id}/participants/ghost/remove`, { token: alice.token, json: { kind: 'audio' } }), 400, 'invalid_json');
  const other = await createRoom(alice);
  const v = await victim(other);
  expectError(await call('POST', `/rooms/${room.id}/participants/${v}/remove`, { token: alice.token }), 404, 'participant_not_found');
  expectError(await call('POST', `/rooms/${randomUUID()}/participants/${v}/remove`, { token: alice.token }), 404, 'room_not_found');
});

// ---- participants, extended ---------------------------------------------------------

test('participants list adds role and audio / video / screen_share from LiveKit tracks', async () => {
  const room = await createRoom(alice);
  const m = await invite(room, alice.token, { role: 'moderator' });
  const mod = await join(room.id, { json: { invite: m.code, user_name: 'Mo' } });
  const g = await join(room.id, { json: { user_name: 'Gee' } });
  const p = await join(room.id, { token: bob.token });
  lk.setParticipants(room.livekit_room, [
    { identity: alice.user_id, name: 'Alice', sid: 'PA_h', joined_at: 1700000000, tracks: [{ sid: 'TR_1', type: 'AUDIO' }, { sid: 'TR_2', type: 'VIDEO' }] },
    { identity: mod.json.identity, name: 'Mo', sid: 'PA_m', joined_at: 1700000001, tracks: [{ sid: 'TR_3', type: 'VIDEO', source: 'SCREEN_SHARE' }] },
    { identity: g.json.identity, name: 'Gee', sid: 'PA_g', joined_at: 1700000002, tracks: [{ sid: 'TR_4', type: 'AUDIO', muted: true }] },
    { identity: p.json.identity, name: 'Bob', sid: 'PA_p', joined_at: 1700000003 },
  ]);
  const r = await call('GET', `/rooms/${room.id}/participants`, { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.map((x) => [x.identity, x.role, x.audio, x.video, x.screen_share]), [
    [alice.user_id, 'host', true, true, false],
    [mod.json.identity, 'moderator', false, false, true],
    [g.json.identity, 'guest', false, false, false],
    [p.json.identity, 'participant', false, false, false],
  ]);
  assert.deepEqual(Object.keys(r.json[0]).slice(0, 4), ['identity', 'name', 'sid', 'joined_at'], 'old keys first');
  // after a mute (and a promotion) the list tells at once
  assert.equal((await call('POST', `/rooms/${room.id}/participants/${mod.json.identity}/mute`, { token: alice.token, json: { kind: 'video' } })).status, 204);
  assert.equal((await call('POST', `/rooms/${room.id}/participants/${p.json.identity}/role`, { token: alice.token, json: { role: 'moderator' } })).status, 200);
  const r2 = (await call('GET', `/rooms/${room.id}/participants`, { token: alice.token })).json;
  assert.equal(r2.find((x) => x.identity === mod.json.identity).screen_share, false);
  assert.equal(r2.find((x) => x.identity === p.json.identity).role, 'moderator');
  // nobody moderates the host
  expectError(await call('POST', `/rooms/${room.id}/participants/${alice.user_id}/mute`, { token: mod.json.room_token, json: { kind: 'audio' } }), 403, 'room_forbidden');
});

test('participants list: a room token of that room reads it (a guest without media sees who is here), an invite holder is listed as participant; another room, a waiting token, none: refused', async () => {
  const room = await createRoom(alice, { access: 'knock' });
  const other = await createRoom(alice);
  const g = await join(room.id, { token: alice.token }); // the host, then a guest let in
  const w = await join(room.id, { json: { user_name: 'Gwen' } });
  assert.equal(w.status, 202, w.text);
  assert.equal((await call('POST', `/rooms/${room.id}/waiting/${w.json.waiting_id}/approve`, { token: alice.token })).status, 200);
  const in_ = await call('GET', `/rooms/${room.id}/waiting/${w.json.waiting_id}`, { token: w.json.waiting_token });
  assert.equal(in_.json.status, 'approved', in_.text);
  // an invite holder without an account: role participant in its token and in the list
  const inv = await invite(room, alice.token);
  const ih = await join(room.id, { json: { user_name: 'Ivy', invite: inv.code } });
  assert.equal(ih.status, 200, ih.text);
  assert.equal(ih.json.role, 'participant');
  assert.match(ih.json.identity, /^guest-/);
  lk.setParticipants(room.livekit_room, [
    { identity: g.json.identity, name: 'Alice', sid: 'PA_h', joined_at: 1700000000 },
    { identity: in_.json.identity, name: 'Gwen', sid: 'PA_g', joined_at: 1700000001 },
    { identity: ih.json.identity, name: 'Ivy', sid: 'PA_i', joined_at: 1700000002 },
  ]);
  const r = await call('GET', `/rooms/${room.id}/participants`, { token: in_.json.room_token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.map((x) => [x.identity, x.role]), [[alice.user_id, 'host'], [in_.json.identity, 'guest'], [ih.json.identity, 'participant']]);
  expectError(await call('GET', `/rooms/${other.id}/participants`, { token: in_.json.room_token }), 403, 'room_forbidden');
  const w2 = await join(room.id, { json: { user_name: 'Still waiting' } });
  expectError(await call('GET', `/rooms/${room.id}/participants`, { token: w2.json.waiting_token }), 401, 'invalid_token');
  expectError(await call('GET', `/rooms/${room.id}/participants`, {}), 401, 'missing_auth');
  // any account still reads it (API.md), as before
  assert.equal((await call('GET', `/rooms/${room.id}/participants`, { token: bob.token })).status, 200);
});

// ---- what the decision costs (reported, not asserted: no benchmarks here) -------------

test('cost: an open join stays on media (no rooms.admit), a gated join takes one more hop', async (t) => {
  const open = await createRoom(alice);
  const gated = await createRoom(alice, { access: 'invite' });
  const inv = await invite(gated, alice.token, { max_uses: 100 });
  // a plain subscription sees a copy of every rooms.admit request (rooms answers in its queue group)
  const nc = await s.nats();
  let admits = 0;
  const sub = nc.subscribe('calixio.rooms.admit', { callback: () => { admits++; } });
  await nc.flush();
  const time = async (fn) => {
    const v = [];
    for (let i = 0; i < 20; i++) {
      const t0 = process.hrtime.bigint();
      const r = await fn();
      v.push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.equal(r.status, 200, r.text);
    }
    v.sort((a, b) => a - b);
    return { p50: v[10].toFixed(2), p95: v[18].toFixed(2) };
  };
  const a = await time(() => join(open.id, { json: { user_name: 'Fast' } }));
  await nc.flush();
  assert.equal(admits, 0, 'open joins never ask rooms');
  const b = await time(() => join(gated.id, { json: { user_name: 'Gated', invite: inv.code } }));
  await nc.flush();
  await sleep(100);
  sub.unsubscribe();
  assert.equal(admits, 20, 'each gated join asks rooms once');
  t.diagnostic(`open join p50 ${a.p50} ms p95 ${a.p95} ms; invite join p50 ${b.p50} ms p95 ${b.p95} ms (ASan build, shared box)`);
  const uses = await s.psql(`SELECT uses FROM room_invites WHERE id = '${inv.id}'`);
  assert.equal(uses[0][0], '20', 'every gated join went through rooms (and counted its use)');
});
