// rooms-extended.test.mjs: issue 16 (API-ROOMS.md "Who is calling", "Room,
// extended", "Meeting codes", "Joining, extended" without waiting room,
// invites, bans and locks, and POST /rooms/{id}/leave) and issue 19 item 3
// (rooms.create holds no pooled Postgres connection across LiveKit).
//
// Everything goes through the gateway over HTTP, against real NATS,
// Postgres and Redis and the fake LiveKit (tests/harness/fake-livekit.mjs),
// which checks the grant of every call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, createHmac } from 'node:crypto';
import { startStack, sleep, mintAccessToken, signJwt, DEFAULT_ENV } from '../harness/stack.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';
import * as lkw from '../harness/livekit-webhook.mjs';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const CODE = /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/;
const OLD_KEYS = ['id', 'name', 'status', 'created_at', 'owner_user_id', 'max_participants', 'livekit_room'];
const NEW_KEYS = ['description', 'code', 'access', 'locked', 'started_at', 'metadata', 'has_password'];
const EARLY_JOIN_S = 3;
const TOKEN_TTL_S = 900;

let s, lk, alice, bob;

function b64json(seg) {
  return JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
}
function claimsOf(jwt) {
  return b64json(jwt.split('.')[1]);
}
// True when jwt is HS256-signed with secret.
function signedWith(jwt, secret) {
  const [h, p, sig] = jwt.split('.');
  return createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url') === sig;
}

async function user(name) {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name, email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  return { user_id: login.json.user_id, name, token: login.json.access_token };
}

const bearer = (t) => (t ? { Authorization: `Bearer ${t}` } : {});
async function call(method, path, { token, json, body, headers } = {}) {
  const h = { ...bearer(token), ...(headers ?? {}) };
  const o = { headers: h };
  if (json !== undefined) o.json = json;
  else if (body !== undefined) o.body = body;
  return s.http(method, path, o);
}
async function createRoom(u, json = {}) {
  const r = await call('POST', '/rooms', { token: u.token, json });
  assert.equal(r.status, 201, r.text);
  return r.json;
}
async function join(id, { token, json = {} } = {}) {
  return call('POST', `/rooms/${id}/join`, { token, json });
}
const plus = (s_) => new Date(Date.now() + s_ * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

// Collects the room events of one room from NATS (the subjects of record).
async function roomEvents(roomId) {
  const nc = await s.nats();
  const sub = nc.subscribe(`calixio.events.room.${roomId}.>`);
  const got = [];
  (async () => {
    for await (const m of sub) got.push({ subject: m.subject, size: m.data.length });
  })();
  await nc.flush();
  return { got, stop: () => sub.unsubscribe() };
}

async function waitFor(fn, ms = 5000, step = 50) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) return v;
    await sleep(step);
  }
}

before(async () => {
  lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  s = await startStack({
    daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'],
    env: {
      LIVEKIT_HOST: lk.url,
      LIVEKIT_TIMEOUT: '1500ms',
      LIVEKIT_MAX_ATTEMPTS: '1',
      ROOMS_SWEEP_INTERVAL: '300ms',
      ROOM_EARLY_JOIN: `${EARLY_JOIN_S}s`,
      LIVEKIT_TOKEN_TTL: `${TOKEN_TTL_S}s`,
      MEDIA_ROOM_CACHE_TTL: '100ms',
      ROOM_PASSWORD_MEMLIMIT: '8388608',
    },
  });
  alice = await user('Alice');
  bob = await user('Bob');
});

after(async () => {
  await s?.stop();
  await lk?.stop();
});

// ---- Room, extended -----------------------------------------------------------

test('create: Room keeps the old keys first and gains the new ones with their defaults', async () => {
  const r = await call('POST', '/rooms', { token: alice.token, json: { name: 'Plain' } });
  assert.equal(r.status, 201);
  const room = r.json;
  assert.deepEqual(Object.keys(room).slice(0, OLD_KEYS.length), OLD_KEYS, 'old keys, old order');
  assert.deepEqual(Object.keys(room).sort(), [...OLD_KEYS, ...NEW_KEYS].sort());
  assert.equal(room.status, 'active');
  assert.equal(room.description, '');
  assert.match(room.code, CODE);
  assert.equal(room.access, 'open');
  assert.equal(room.locked, false);
  assert.match(room.started_at, RFC3339);
  assert.equal(room.metadata, '');
  assert.equal(room.has_password, false);
  assert.equal(room.scheduled_at, undefined);
  assert.deepEqual((await call('GET', `/rooms/${room.id}`, { token: alice.token })).json, room);
});

test('create with every new field; the password is stored only as an Argon2id hash', async () => {
  const room = await createRoom(alice, {
    name: 'Full', description: 'Weekly sync', access: 'knock', locked: true, metadata: '{"x":1}',
    password: 'hunter22', scheduled_end_at: plus(3600),
  });
  assert.equal(room.description, 'Weekly sync');
  assert.equal(room.access, 'knock');
  assert.equal(room.locked, true);
  assert.equal(room.metadata, '{"x":1}');
  assert.equal(room.has_password, true);
  assert.match(room.scheduled_end_at, RFC3339);
  assert.equal(JSON.stringify(room).includes('hunter22'), false);
  const [[hash]] = await s.psql(`SELECT password_hash FROM rooms WHERE id = '${room.id}'`);
  assert.match(hash, /^\$argon2id\$/);
  assert.equal(hash.includes('hunter22'), false);
});

test('create: every rule of the new fields, and unknown keys', async () => {
  const cases = [
    [{ description: 'x'.repeat(501) }, 'description_max'],
    [{ access: 'public' }, 'access_oneof'],
    [{ scheduled_at: 'tomorrow' }, 'scheduled_at_format'],
    [{ scheduled_at: plus(-60) }, 'scheduled_at_future'],
    [{ scheduled_at: plus(367 * 86400) }, 'scheduled_at_max'],
    [{ scheduled_at: plus(3600), scheduled_end_at: plus(1800) }, 'scheduled_end_at_after'],
    [{ scheduled_end_at: plus(-5) }, 'scheduled_end_at_after'],
    [{ password: 'abc' }, 'password_min'],
    [{ password: 'p'.repeat(65) }, 'password_max'],
  ];
  for (const [json, reason] of cases) {
    const r = await call('POST', '/rooms', { token: alice.token, json });
    assert.equal(r.status, 400, JSON.stringify(json));
    assert.equal(r.json.error, 'validation_failed');
    assert.equal(r.json.reason, reason, JSON.stringify(json));
  }
  const r = await call('POST', '/rooms', { token: alice.token, json: { name: 'ok', has_password: true } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_json');
  assert.equal((await call('POST', '/rooms', { token: alice.token, json: { locked: 'yes' } })).json.error, 'invalid_json');
  // 500 characters (not bytes) is fine
  assert.equal((await call('POST', '/rooms', { token: alice.token, json: { description: 'ü'.repeat(500) } })).status, 201);
});

// ---- PATCH ----------------------------------------------------------------------

test('PATCH: the host changes fields, metadata reaches LiveKit with a roomAdmin grant, an event is published', async () => {
  const room = await createRoom(alice, { name: 'Before' });
  const ev = await roomEvents(room.id);
  const before = lk.callsOf('UpdateRoomMetadata').length;
  const r = await call('PATCH', `/rooms/${room.id}`, {
    token: alice.token,
    json: { name: 'After', description: 'd', access: 'invite', locked: true, max_participants: 7, metadata: 'm2', password: 'secret1' },
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'After');
  assert.equal(r.json.description, 'd');
  assert.equal(r.json.access, 'invite');
  assert.equal(r.json.locked, true);
  assert.equal(r.json.max_participants, 7);
  assert.equal(r.json.metadata, 'm2');
  assert.equal(r.json.has_password, true);
  assert.equal(r.json.code, room.code);
  const calls = lk.callsOf('UpdateRoomMetadata').slice(before);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body, { room: room.livekit_room, metadata: 'm2' });
  assert.equal(calls[0].claims.video.roomAdmin, true);
  assert.equal(calls[0].claims.video.room, room.livekit_room);
  assert.equal(lk.rooms.get(room.livekit_room).metadata, 'm2');
  assert.ok(await waitFor(() => ev.got.some((e) => e.subject === `calixio.events.room.${room.id}.room.updated`)));
  ev.stop();

  // "" removes the password; an empty patch changes nothing and calls nobody
  const p2 = await call('PATCH', `/rooms/${room.id}`, { token: alice.token, json: { password: '' } });
  assert.equal(p2.json.has_password, false);
  // (calls about this room only: other files' rooms are swept meanwhile)
  const mine = () => lk.calls.filter((c) => c.body?.room === room.livekit_room).length;
  const n = mine();
  const empty = await call('PATCH', `/rooms/${room.id}`, { token: alice.token, json: {} });
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json, p2.json);
  const blank = await call('PATCH', `/rooms/${room.id}`, { token: alice.token });
  assert.equal(blank.status, 200);
  assert.equal(mine(), n);
});

test('PATCH: who may, bad values, unknown keys, ended room', async () => {
  const room = await createRoom(alice);
  const other = await createRoom(bob);
  const path = `/rooms/${room.id}`;
  assert.equal((await call('PATCH', path, { json: { name: 'x' } })).json.error, 'missing_auth');
  let r = await call('PATCH', path, { token: bob.token, json: { name: 'Hijack' } });
  assert.equal(r.status, 403);
  assert.equal(r.json.error, 'room_forbidden');
  // a participant's room token is not enough; a room token of another room is 403
  const pj = await join(room.id, { token: bob.token });
  assert.equal(pj.json.role, 'participant');
  r = await call('PATCH', path, { token: pj.json.room_token, json: { name: 'Hijack' } });
  assert.equal(r.status, 403);
  const hj = await join(other.id, { token: bob.token });
  assert.equal(hj.json.role, 'host');
  r = await call('PATCH', path, { token: hj.json.room_token, json: { name: 'Hijack' } });
  assert.equal(r.status, 403);
  assert.equal(r.json.error, 'room_forbidden');
  // the host's room token may
  const aj = await join(room.id, { token: alice.token });
  r = await call('PATCH', path, { token: aj.json.room_token, json: { name: 'By token' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'By token');

  for (const [json, reason] of [
    [{ name: 'x' }, 'name_min'], [{ max_participants: 0 }, 'max_participants_min'],
    [{ max_participants: 501 }, 'max_participants_max'], [{ access: 'nope' }, 'access_oneof'],
    [{ password: 'abc' }, 'password_min'], [{ description: 'y'.repeat(501) }, 'description_max'],
    [{ scheduled_end_at: plus(-10) }, 'scheduled_end_at_after'],
  ]) {
    r = await call('PATCH', path, { token: alice.token, json });
    assert.equal(r.status, 400, JSON.stringify(json));
    assert.equal(r.json.reason, reason);
  }
  for (const json of [{ id: room.id }, { code: 'abcdefghij' }, { bogus: 1 }, { locked: 'no' }]) {
    r = await call('PATCH', path, { token: alice.token, json });
    assert.equal(r.status, 400, JSON.stringify(json));
    assert.equal(r.json.error, 'invalid_json');
  }
  // scheduled_at only while pending
  r = await call('PATCH', path, { token: alice.token, json: { scheduled_at: plus(3600) } });
  assert.equal(r.status, 409);
  assert.equal((await call('PATCH', '/rooms/not-a-uuid', { token: alice.token, json: {} })).json.error, 'room_not_found');
  assert.equal((await call('PATCH', `/rooms/${randomUUID()}`, { token: alice.token, json: {} })).status, 404);
  assert.equal((await call('POST', `${path}/end`, { token: alice.token, json: {} })).status, 200);
  r = await call('PATCH', path, { token: alice.token, json: { name: 'Late' } });
  assert.equal(r.status, 409);
  assert.equal(r.json.error, 'room_ended');
});

// ---- DELETE ---------------------------------------------------------------------

test('DELETE: host only; the room is ended (DeleteRoom) and then gone from every route', async () => {
  const room = await createRoom(alice, { name: 'Doomed' });
  const ev = await roomEvents(room.id);
  const path = `/rooms/${room.id}`;
  let r = await call('DELETE', path, { token: bob.token });
  assert.equal(r.status, 403);
  assert.equal(r.json.error, 'room_forbidden');
  const before = lk.callsOf('DeleteRoom').filter((c) => c.body.room === room.livekit_room).length;
  r = await call('DELETE', path, { token: alice.token });
  assert.equal(r.status, 204);
  assert.equal(r.text, '');
  const dels = lk.callsOf('DeleteRoom').filter((c) => c.body.room === room.livekit_room);
  assert.equal(dels.length, before + 1);
  assert.deepEqual(dels.at(-1).claims.video, { roomCreate: true });
  assert.equal(lk.rooms.has(room.livekit_room), false);

  for (const [m, p, json] of [['GET', path], ['PATCH', path, {}], ['POST', `${path}/end`, {}], ['GET', `${path}/participants`],
    ['POST', `${path}/join`, {}], ['GET', `/rooms/by-code/${room.code}`], ['POST', `/rooms/by-code/${room.code}/join`, {}], ['DELETE', path]]) {
    r = await call(m, p, { token: alice.token, json });
    assert.equal(r.status, 404, `${m} ${p}`);
    assert.equal(r.json.error, 'room_not_found', `${m} ${p}`);
  }
  const list = await call('GET', '/rooms?limit=100', { token: alice.token });
  assert.equal(list.json.some((x) => x.id === room.id), false);
  // the row stays for history (name kept), marked deleted
  const [[name, status, deleted]] = await s.psql(`SELECT name, status, deleted_at IS NOT NULL FROM rooms WHERE id = '${room.id}'`);
  assert.deepEqual([name, status, deleted], ['Doomed', 'ended', 't']);
  assert.ok(await waitFor(() => ev.got.some((e) => e.subject.endsWith('.room.deleted'))));
  assert.ok(ev.got.some((e) => e.subject.endsWith('.room.ended')));
  ev.stop();
});

// ---- meeting codes ----------------------------------------------------------------

test('by-code: no auth, case- and dash-insensitive; unknown and malformed are 404', async () => {
  const room = await createRoom(alice, { name: 'Coded', access: 'knock' });
  const bare = room.code.replaceAll('-', '');
  for (const c of [room.code, bare, bare.toUpperCase(), room.code.toUpperCase(), `${bare.slice(0, 5)}-${bare.slice(5)}`]) {
    const r = await call('GET', `/rooms/by-code/${c}`);
    assert.equal(r.status, 200, c);
    assert.deepEqual(r.json, { room_id: room.id, name: 'Coded', status: 'active', access: 'knock', locked: false });
  }
  for (const c of ['zzzzzzzzzz', 'abc', 'abc-defg-hi1', 'a'.repeat(30)]) {
    const r = await call('GET', `/rooms/by-code/${c}`);
    assert.equal(r.status, 404, c);
    assert.equal(r.json.error, 'room_not_found');
  }
  // the same over NATS, straight to rooms
  const n = await s.natsRequest('rooms.by_code', { code: bare.toUpperCase() });
  assert.equal(n.json.room_id, room.id);
});

test('by-code join is exactly a join of that room', async () => {
  const room = await createRoom(alice);
  const r = await call('POST', `/rooms/by-code/${room.code.toUpperCase()}/join`, { json: { user_name: 'Gus' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.room_id, room.id);
  assert.equal(r.json.livekit_room, room.livekit_room);
  assert.equal(r.json.role, 'guest');
  const bad = await call('POST', `/rooms/by-code/${room.code}/join`, { json: { code: 'x' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'invalid_json');
  assert.equal((await call('POST', '/rooms/by-code/nope/join', { json: {} })).json.error, 'room_not_found');
});

test('codes: random, unique among rooms, not derived from the id', async () => {
  const codes = new Set();
  const rooms = await Promise.all(Array.from({ length: 30 }, () => createRoom(bob)));
  for (const r of rooms) {
    assert.match(r.code, CODE);
    codes.add(r.code);
    assert.equal(r.id.includes(r.code.replaceAll('-', '').slice(0, 4)), false);
  }
  assert.equal(codes.size, 30);
  const [[dups]] = await s.psql('SELECT count(*) - count(DISTINCT code) FROM rooms WHERE deleted_at IS NULL');
  assert.equal(dups, '0');
});

// ---- room tokens and roles -----------------------------------------------------------

test('join answers role and a room token (aud calixio-room, same lifetime as the LiveKit token)', async () => {
  const room = await createRoom(alice, { name: 'Tokens' });
  const cases = [
    [alice, 'host', alice.user_id, 'Alice'],
    [bob, 'participant', bob.user_id, 'Bob'],
    [null, 'guest', null, 'Visitor'],
  ];
  for (const [u, role, identity, name] of cases) {
    const r = await join(room.id, { token: u?.token, json: u ? {} : { user_name: 'Visitor' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json).slice(0, 8), ['room_id', 'room_name', 'livekit_room', 'token', 'expires_in', 'state', 'url', 'identity']);
    assert.equal(r.json.role, role);
    const c = claimsOf(r.json.room_token);
    assert.ok(signedWith(r.json.room_token, DEFAULT_ENV.JWT_SECRET));
    assert.equal(c.aud, 'calixio-room');
    assert.equal(c.iss, 'calixio');
    assert.equal(c.sub, r.json.identity);
    if (identity) assert.equal(c.sub, identity);
    else assert.match(c.sub, /^guest-[0-9a-f]{32}$/);
    assert.equal(c.room, room.id);
    assert.equal(c.name, name);
    assert.equal(c.role, role);
    assert.equal(c.exp - c.iat, TOKEN_TTL_S);
    const lkc = claimsOf(r.json.token);
    assert.equal(lkc.exp - lkc.iat, TOKEN_TTL_S);
    assert.equal(r.json.expires_in, TOKEN_TTL_S);
    // the LiveKit grant follows the role
    assert.equal(lkc.video.roomAdmin === true, role === 'host');
    assert.equal(lkc.video.canPublish, true);
  }
});

test('a token of the wrong kind or room is refused', async () => {
  const a = await createRoom(alice);
  const b = await createRoom(alice);
  const ja = (await join(a.id, { json: { user_name: 'G' } })).json;
  // a room token is no access token
  let r = await call('GET', '/rooms', { token: ja.room_token });
  assert.equal(r.status, 401);
  assert.equal(r.json.error, 'invalid_token');
  r = await call('GET', `/rooms/${a.id}`, { token: ja.room_token });
  assert.equal(r.json.error, 'invalid_token');
  r = await join(a.id, { token: ja.room_token });
  assert.equal(r.status, 401);
  assert.equal(r.json.error, 'invalid_token');
  // an access token is no room token
  r = await call('POST', `/rooms/${a.id}/leave`, { token: alice.token, json: {} });
  assert.equal(r.status, 401);
  assert.equal(r.json.error, 'invalid_token');
  // a room token of room A on room B
  r = await call('POST', `/rooms/${b.id}/leave`, { token: ja.room_token, json: {} });
  assert.equal(r.status, 403);
  assert.equal(r.json.error, 'room_forbidden');
  // forged: right claims, wrong secret; and an expired one
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...claimsOf(ja.room_token) };
  const forged = signJwt({ alg: 'HS256', typ: 'JWT' }, claims, 'not-the-secret');
  r = await call('POST', `/rooms/${a.id}/leave`, { token: forged, json: {} });
  assert.equal(r.json.error, 'invalid_token');
  const expired = signJwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }, DEFAULT_ENV.JWT_SECRET);
  r = await call('POST', `/rooms/${a.id}/leave`, { token: expired, json: {} });
  assert.equal(r.json.error, 'invalid_token');
  // an access token re-labelled as a room token (aud calixio-room but no room claims)
  const relabeled = mintAccessToken({ sub: alice.user_id, extra: { aud: 'calixio-room' } });
  r = await call('POST', `/rooms/${a.id}/leave`, { token: relabeled, json: {} });
  assert.equal(r.json.error, 'invalid_token');
  assert.equal((await call('POST', `/rooms/${a.id}/leave`, { json: {} })).json.error, 'missing_auth');
});

// ---- scheduling ---------------------------------------------------------------------------

test('scheduled room: pending, no LiveKit room yet, 409 room_not_started for others, the host starts it', async () => {
  const creates = lk.callsOf('CreateRoom').length;
  const room = await createRoom(alice, { name: 'Later', scheduled_at: plus(3600) });
  assert.equal(room.status, 'pending');
  assert.match(room.scheduled_at, RFC3339);
  assert.equal(room.started_at, undefined);
  assert.equal(lk.callsOf('CreateRoom').length, creates, 'created in LiveKit only when it starts');
  const ev = await roomEvents(room.id);
  for (const u of [null, bob]) {
    const r = await join(room.id, { token: u?.token });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error, 'room_not_started');
  }
  const byCode = await call('GET', `/rooms/by-code/${room.code}`);
  assert.equal(byCode.json.status, 'pending');
  assert.equal(byCode.json.scheduled_at, room.scheduled_at);
  // scheduled_at may move while pending
  const moved = await call('PATCH', `/rooms/${room.id}`, { token: alice.token, json: { scheduled_at: plus(7200) } });
  assert.equal(moved.status, 200, moved.text);
  assert.notEqual(moved.json.scheduled_at, room.scheduled_at);

  const h = await join(room.id, { token: alice.token });
  assert.equal(h.status, 200, h.text);
  assert.equal(h.json.role, 'host');
  const after = (await call('GET', `/rooms/${room.id}`, { token: alice.token })).json;
  assert.equal(after.status, 'active');
  assert.match(after.started_at, RFC3339);
  const c = lk.callsOf('CreateRoom').filter((x) => x.body.name === room.livekit_room);
  assert.equal(c.length, 1);
  assert.ok(await waitFor(() => ev.got.some((e) => e.subject.endsWith('.room.started'))));
  ev.stop();
  // now everyone gets in
  assert.equal((await join(room.id, { token: bob.token })).status, 200);
  assert.equal((await call('PATCH', `/rooms/${room.id}`, { token: alice.token, json: { scheduled_at: plus(9000) } })).status, 409);
});

test(`ROOM_EARLY_JOIN (${EARLY_JOIN_S}s): others get in that long before scheduled_at, and that join starts the room`, async () => {
  const room = await createRoom(alice, { scheduled_at: plus(EARLY_JOIN_S + 3) });
  const early = await join(room.id, { json: { user_name: 'Early' } });
  assert.equal(early.status, 409);
  assert.equal(early.json.error, 'room_not_started');
  const ok = await waitFor(async () => {
    const r = await join(room.id, { json: { user_name: 'Early' } });
    return r.status === 200 ? r : null;
  }, 8000, 250);
  assert.ok(ok, 'a guest gets in within the early-join window');
  const at = Date.parse(room.scheduled_at);
  assert.ok(Date.now() >= at - EARLY_JOIN_S * 1000 - 1500, 'not much earlier than the window');
  assert.ok(Date.now() < at, 'before the scheduled time');
  const after = (await call('GET', `/rooms/${room.id}`, { token: alice.token })).json;
  assert.equal(after.status, 'active');
  // straight to rooms over NATS, a guest cannot start a room early either
  const other = await createRoom(alice, { scheduled_at: plus(3600) });
  const n = await s.natsRequest('rooms.start', { id: other.id });
  assert.equal(n.status, 409);
  assert.equal(n.json.code, 'room_not_started');
});

test('sweeper: ends a scheduled room nobody started within ROOM_MAX_AGE, and any room at its scheduled_end_at', async () => {
  const stale = await createRoom(alice, { scheduled_at: plus(3600) });
  await s.psql(`UPDATE rooms SET scheduled_at = now() - interval '25 hours' WHERE id = '${stale.id}'`);
  const ending = await createRoom(alice, { scheduled_end_at: plus(2) });
  const ev = await roomEvents(ending.id);
  const st = await waitFor(async () => {
    const [[a]] = await s.psql(`SELECT status FROM rooms WHERE id = '${stale.id}'`);
    const [[b]] = await s.psql(`SELECT status FROM rooms WHERE id = '${ending.id}'`);
    return a === 'ended' && b === 'ended';
  }, 8000, 200);
  assert.ok(st, 'both ended by the sweeper');
  const [[endedAt]] = await s.psql(`SELECT extract(epoch from ended_at - scheduled_end_at) FROM rooms WHERE id = '${ending.id}'`);
  assert.ok(Number(endedAt) >= 0 && Number(endedAt) < 3, `ended at its end time (+${endedAt}s)`);
  assert.ok(await waitFor(() => ev.got.some((e) => e.subject.endsWith('.room.ended'))));
  ev.stop();
  assert.equal((await join(ending.id)).json.error, 'room_ended');
  await waitFor(() => lk.callsOf('DeleteRoom').some((c) => c.body.room === ending.livekit_room), 5000);
  assert.ok(lk.callsOf('DeleteRoom').some((c) => c.body.room === ending.livekit_room), 'its LiveKit room is deleted');
});

// ---- max_participants from live presence ---------------------------------------------------

async function webhook(o) {
  const r = await lkw.postWebhook(s, lkw.eventBody(o));
  assert.equal(r.status, 200, r.text);
}

test('room_full from live presence; the host always gets in; a leave frees the seat', async () => {
  const room = await createRoom(alice, { max_participants: 2 });
  const g1 = (await join(room.id, { json: { user_name: 'One' } })).json;
  const g2 = (await join(room.id, { json: { user_name: 'Two' } })).json;
  await webhook({ event: 'participant_joined', room: room.livekit_room, identity: g1.identity, sid: 'PA_1', name: 'One', joinedAt: Math.floor(Date.now() / 1000) });
  await webhook({ event: 'participant_joined', room: room.livekit_room, identity: g2.identity, sid: 'PA_2', name: 'Two', joinedAt: Math.floor(Date.now() / 1000) });
  let r = await join(room.id, { json: { user_name: 'Three' } });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error, 'room_full');
  assert.equal((await join(room.id, { token: bob.token })).json.error, 'room_full');
  r = await join(room.id, { token: alice.token });
  assert.equal(r.status, 200, 'the host always gets in');
  // one leaves (POST /leave, no webhook): the seat is free at once
  assert.equal((await call('POST', `/rooms/${room.id}/leave`, { token: g1.room_token, json: {} })).status, 204);
  r = await waitFor(async () => {
    const x = await join(room.id, { json: { user_name: 'Three' } });
    return x.status === 200 ? x : null;
  }, 5000, 100);
  assert.ok(r, 'a guest gets in once a participant left');
});

// issue 14: media keeps a live count per room from the webhook's pushed participant.joined /
// participant.left and asks Redis (HLEN) only near the limit or when the count is unknown
async function hlenCalls() {
  const m = /cmdstat_hlen:calls=(\d+)/.exec(await s.redis('INFO', 'commandstats'));
  return m ? Number(m[1]) : 0;
}

async function signedWebhook(o) {
  const body = lkw.eventBody(o);
  const r = await lkw.postWebhook(s, body, { auth: await lkw.signSdk(body) });
  assert.equal(r.status, 200, r.text);
}

test('room_full without a Redis round trip far from the limit; a room at its limit is full right after the webhooks', async () => {
  const room = await createRoom(alice, { max_participants: 20 });
  // the first guest join loads the room's count from Redis (0 live)
  assert.equal((await join(room.id, { json: { user_name: 'First' } })).status, 200);
  let h0 = await hlenCalls();
  for (let i = 0; i < 12; i++) assert.equal((await join(room.id, { json: { user_name: `G${i}` } })).status, 200);
  assert.equal(await hlenCalls() - h0, 0, 'far from the limit: no HLEN per guest join');

  // 20 live participants, signed by the SDK: the pushed joins bring the count near the limit,
  // so the next guest join asks Redis and is refused at once
  const now = Math.floor(Date.now() / 1000);
  const ids = [];
  for (let i = 0; i < 20; i++) {
    ids.push(`p-${i}-${randomUUID()}`);
    await signedWebhook({ event: 'participant_joined', room: room.livekit_room, identity: ids[i], sid: `PA_${i}`, name: `P${i}`, joinedAt: now, createdAt: now });
  }
  h0 = await hlenCalls();
  const r = await join(room.id, { json: { user_name: 'Late' } });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error, 'room_full');
  assert.ok(await hlenCalls() > h0, 'near the limit the exact count is asked');
  assert.equal((await join(room.id, { token: alice.token })).status, 200, 'the host always gets in');

  // four leave: a seat is free, and 16 of 20 is far again (no HLEN once the leaves are seen)
  for (let i = 0; i < 4; i++) {
    await signedWebhook({ event: 'participant_left', room: room.livekit_room, identity: ids[i], sid: `PA_${i}`, name: `P${i}`, createdAt: now + 1 });
  }
  assert.equal((await join(room.id, { json: { user_name: 'Seat' } })).status, 200);
  h0 = await hlenCalls();
  for (let i = 0; i < 5; i++) assert.equal((await join(room.id, { json: { user_name: `H${i}` } })).status, 200);
  assert.equal(await hlenCalls() - h0, 0, '16 of 20 live: no HLEN');
});

// ---- leave ----------------------------------------------------------------------------

test('leave: RemoveParticipant with a roomAdmin grant, the visit closed without any webhook, twice is 204', async () => {
  const room = await createRoom(alice);
  const j = (await join(room.id, { token: bob.token })).json;
  const joinedAt = Math.floor(Date.now() / 1000) - 5;
  await webhook({ event: 'participant_joined', room: room.livekit_room, identity: j.identity, sid: 'PA_bob', name: 'Bob', joinedAt, createdAt: joinedAt });
  lk.setParticipants(room.livekit_room, [{ identity: j.identity, name: 'Bob', sid: 'PA_bob' }]);
  const ev = await roomEvents(room.id);
  const before = lk.callsOf('RemoveParticipant').length;
  let r = await call('POST', `/rooms/${room.id}/leave`, { token: j.room_token, json: {} });
  assert.equal(r.status, 204, r.text);
  assert.equal(r.text, '');
  const calls = lk.callsOf('RemoveParticipant').slice(before);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body, { room: room.livekit_room, identity: j.identity });
  assert.equal(calls[0].claims.video.roomAdmin, true);
  assert.equal(calls[0].claims.video.room, room.livekit_room);
  assert.deepEqual(lk.participants(room.livekit_room), []);
  // the visit is closed in history by the webhook service, from the room event
  const rows = await waitFor(async () => {
    const x = await s.psql(`SELECT event, identity FROM participant_events WHERE room_id = '${room.id}' ORDER BY occurred_at, event`);
    return x.length === 2 ? x : null;
  });
  assert.deepEqual(rows, [['participant_joined', bob.user_id], ['participant_left', bob.user_id]]);
  assert.equal(await s.redis('HEXISTS', `cx:presence:{${room.livekit_room}}`, j.identity), '0');
  const parts = await call('GET', `/rooms/${room.id}/participants`, { token: alice.token });
  assert.deepEqual(parts.json, []);
  assert.ok(ev.got.some((e) => e.subject === `calixio.events.room.${room.id}.participant.left`));
  ev.stop();
  // twice: 204 again, still one closed visit
  r = await call('POST', `/rooms/${room.id}/leave`, { token: j.room_token });
  assert.equal(r.status, 204);
  await sleep(300);
  const [[n]] = await s.psql(`SELECT count(*) FROM participant_events WHERE room_id = '${room.id}' AND event = 'participant_left'`);
  assert.equal(n, '1');
});

// ---- issue 19 item 3: no pooled connection across LiveKit -----------------------------------

test('item 3: LiveKit stalls, 16 concurrent creates; gets and lists still answer 200 quickly', async (t) => {
  // its own small stack: rooms with 8 Postgres connections and 32 delivery
  // threads per endpoint, so 16 stalled creates could hold every connection
  // (the old create kept a transaction open across CreateRoom: the 8
  // connections went to stalled creates and every get/list waited 2 s for
  // one, then answered 503)
  const lk2 = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  const s2 = await startStack({
    daemons: ['rooms'],
    env: { LIVEKIT_HOST: lk2.url, LIVEKIT_TIMEOUT: '3s', LIVEKIT_MAX_ATTEMPTS: '1', ROOMS_PG_POOL_SIZE: '8', CX_SUBS_PER_ENDPOINT: '32' },
  });
  try {
    const owner = randomUUID();
    const h = { Authorization: `Bearer ${mintAccessToken({ sub: owner })}` };
    const existing = await s2.natsRequest('rooms.create', { name: 'Existing' }, h);
    assert.equal(existing.status, 200, existing.text);
    lk2.stall('CreateRoom', true);
    const creates = Array.from({ length: 16 }, () => s2.natsRequest('rooms.create', { name: 'Stalled' }, h, 60000));
    await waitFor(() => lk2.calls.filter((c) => c.status === 'stalled').length >= 8, 2500, 20);
    const stalled = lk2.calls.filter((c) => c.status === 'stalled').length;
    assert.ok(stalled >= 8, `creates waiting on LiveKit: ${stalled}`);
    const lat = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      const g = await s2.natsRequest('rooms.get', { id: existing.json.id }, h, 5000);
      const l = await s2.natsRequest('rooms.list', {}, h, 5000);
      lat.push(Date.now() - t0);
      assert.equal(g.status, 200, g.text);
      assert.equal(l.status, 200, l.text);
    }
    const worst = Math.max(...lat);
    t.diagnostic(`get + list with ${stalled} creates stalled at LiveKit: ${lat.join(', ')} ms`);
    assert.ok(worst < 500, `get + list while LiveKit stalls: worst ${worst} ms (${lat.join(', ')})`);
    const res = await Promise.all(creates);
    for (const r of res) assert.equal(r.status, 503, r.text);
    const [[n]] = await s2.psql("SELECT count(*) FROM rooms WHERE name = 'Stalled'");
    assert.equal(n, '0', 'no row without a LiveKit room');
  } finally {
    lk2.stall('CreateRoom', false);
    await s2.stop();
    await lk2.stop();
  }
});
