// rooms.test.mjs: the rooms daemon against real NATS/Postgres/Redis and a
// fake LiveKit (tests/harness/fake-livekit.mjs) that checks every call's
// bearer token and grants.
//
// Routes are exercised through the gateway over HTTP when cx-gateway is
// built in $CX_BUILD_DIR (or CX_VIA=http), else straight over NATS
// (CX_VIA=nats); both answer the same statuses and error codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startStack, buildDir, sleep, mintAccessToken } from '../harness/stack.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';

const VIA = process.env.CX_VIA ?? (existsSync(join(buildDir, 'cx-gateway')) ? 'http' : 'nats');
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
// issue 16 added the keys of API-ROOMS.md "Room, extended" (old clients ignore them)
const ROOM_KEYS = ['access', 'code', 'created_at', 'description', 'has_password', 'id', 'livekit_room', 'locked', 'max_participants', 'metadata', 'name', 'owner_user_id', 'started_at', 'status'];

let s, lk;
let alice, bob; // {user_id, name, token}

// ---- one adapter: HTTP through the gateway or NATS requests -------------
async function api(route, { token, id, body, query } = {}) {
  const headers = token ? { Authorization: token.startsWith('Bearer') || token.startsWith('Basic') ? token : `Bearer ${token}` } : {};
  if (VIA === 'http') {
    const paths = {
      create: ['POST', '/rooms'],
      list: ['GET', '/rooms'],
      get: ['GET', `/rooms/${id}`],
      end: ['POST', `/rooms/${id}/end`],
      participants: ['GET', `/rooms/${id}/participants`],
    };
    const [method, path] = paths[route];
    const qs = query ? '?' + new URLSearchParams(query).toString() : '';
    const r = await s.http(method, path + qs, method === 'POST' ? { json: body ?? {}, headers } : { headers });
    return { status: r.status, json: r.json, error: r.json?.error, reason: r.json?.reason };
  }
  let req = body ?? {};
  if (id !== undefined) req = { id };
  if (query) {
    req = {};
    for (const [k, v] of Object.entries(query)) req[k] = k === 'status' ? v : Number(v);
  }
  const r = await s.natsRequest(`rooms.${route}`, req, headers);
  let json = r.json;
  if (r.status === 200 && route === 'list') json = json.rooms;
  if (r.status === 200 && route === 'participants') json = json.participants;
  const status = r.status === 200 && route === 'create' ? 201 : r.status;
  return { status, json, error: r.status === 200 ? undefined : json?.code, reason: json?.reason };
}

async function user(name) {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name, email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  return { user_id: login.json.user_id, name, token: login.json.access_token };
}

async function createRoom(u, body = {}) {
  const r = await api('create', { token: u.token, body });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json;
}

async function rowCount(where = 'true') {
  return Number((await s.psql(`SELECT count(*) FROM rooms WHERE ${where}`))[0][0]);
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

const LK_ENV = (url) => ({
  LIVEKIT_HOST: url,
  LIVEKIT_TIMEOUT: '1500ms',
  LIVEKIT_CONNECT_TIMEOUT: '500ms',
  LIVEKIT_MAX_ATTEMPTS: '3',
  LIVEKIT_RETRY_BACKOFF: '50ms',
  ROOMS_SWEEP_INTERVAL: '300ms',
  ROOMS_ORPHAN_GRACE: '5s',
});

before(async () => {
  lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  const daemons = ['auth', 'rooms', 'media'];
  if (VIA === 'http') daemons.push('gateway');
  s = await startStack({ daemons, env: LK_ENV(lk.url) });
  alice = await user('Alice');
  bob = await user('Bob');
});

after(async () => {
  await s?.stop();
  await lk?.stop();
});

// ---- create -------------------------------------------------------------------

test('create with defaults: Room shape, row, LiveKit CreateRoom with a roomCreate token', async () => {
  const before = lk.callsOf('CreateRoom').length;
  const room = await createRoom(alice);
  assert.deepEqual(Object.keys(room).sort(), ROOM_KEYS);
  assert.equal(room.name, 'Room');
  assert.equal(room.status, 'active');
  assert.equal(room.owner_user_id, alice.user_id);
  assert.equal(room.max_participants, 100);
  assert.equal(room.livekit_room, `cx-${room.id}`);
  assert.match(room.created_at, RFC3339);
  assert.ok(Math.abs(Date.parse(room.created_at) - Date.now()) < 60000);

  const calls = lk.callsOf('CreateRoom').slice(before);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].body, { name: room.livekit_room, emptyTimeout: 7200, maxParticipants: 100 });
  const c = calls[0].claims;
  assert.equal(c.iss, 'devkey');
  assert.deepEqual(c.video, { roomCreate: true });
  assert.equal(c.sub, undefined);
  assert.ok(c.exp - c.iat === 600, 'service token lives 10 minutes');
  assert.ok(c.nbf <= c.iat);
  assert.equal(calls[0].headers['content-type'], 'application/json');
  assert.ok(lk.rooms.has(room.livekit_room));

  const rows = await s.psql(`SELECT status, owner_user_id, max_participants, empty_timeout, livekit_room, livekit_delete_pending FROM rooms WHERE id = '${room.id}'`);
  assert.deepEqual(rows, [['active', alice.user_id, '100', '7200', room.livekit_room, 'f']]);
});

test('create with every field: values reach LiveKit and the row', async () => {
  const before = lk.callsOf('CreateRoom').length;
  const room = await createRoom(alice, { name: 'Daily standup', max_participants: 8, empty_timeout: 600, metadata: '{"topic":"daily"}' });
  assert.equal(room.name, 'Daily standup');
  assert.equal(room.max_participants, 8);
  const [call] = lk.callsOf('CreateRoom').slice(before);
  assert.deepEqual(call.body, { name: room.livekit_room, emptyTimeout: 600, maxParticipants: 8, metadata: '{"topic":"daily"}' });
  const rows = await s.psql(`SELECT empty_timeout, metadata FROM rooms WHERE id = '${room.id}'`);
  assert.deepEqual(rows, [['600', '{"topic":"daily"}']]);
  // bounds that are allowed
  const r2 = await createRoom(alice, { name: 'éü', max_participants: 500 });
  assert.equal(r2.name, 'éü');
  assert.equal(r2.max_participants, 500);
  const r3 = await createRoom(alice, { name: 'x'.repeat(64), max_participants: 1 });
  assert.equal(r3.name.length, 64);
});

test('create publishes a RoomChanged event on <prefix>.events.rooms.created', async () => {
  const nc = await s.nats();
  const sub = nc.subscribe('calixio.events.rooms.>', { max: 1 });
  const got = (async () => {
    for await (const m of sub) return { subject: m.subject, data: Buffer.from(m.data) };
  })();
  await sleep(50);
  const room = await createRoom(alice, { name: 'Evented' });
  const ev = await Promise.race([got, sleep(3000).then(() => null)]);
  assert.ok(ev, 'no event');
  assert.equal(ev.subject, 'calixio.events.rooms.created');
  assert.ok(ev.data.includes(Buffer.from(room.id)) && ev.data.includes(Buffer.from('created')));
});

test('two rooms with the same display name get different LiveKit rooms', async () => {
  const a = await createRoom(alice, { name: 'Same name' });
  const b = await createRoom(alice, { name: 'Same name' });
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.livekit_room, b.livekit_room);
  assert.ok(lk.rooms.has(a.livekit_room) && lk.rooms.has(b.livekit_room));
});

test('create validation: 400 validation_failed with <field>_<rule>, nothing stored, LiveKit not called', async () => {
  const rows = await rowCount();
  const calls = lk.callsOf('CreateRoom').length;
  const cases = [
    [{ name: 'a' }, 'name_min'],
    [{ name: '' }, 'name_min'],
    [{ name: 'x'.repeat(65) }, 'name_max'],
    [{ name: 'é'.repeat(65) }, 'name_max'],
    [{ max_participants: 0 }, 'max_participants_min'],
    [{ max_participants: 501 }, 'max_participants_max'],
    [{ max_participants: -3 }, 'max_participants_min'],
    [{ empty_timeout: 0 }, 'empty_timeout_min'],
    [{ empty_timeout: 86401 }, 'empty_timeout_max'],
  ];
  for (const [body, reason] of cases) {
    const r = await api('create', { token: alice.token, body });
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 60)} -> ${r.status}`);
    assert.equal(r.error, 'validation_failed');
    assert.equal(r.reason, reason);
  }
  // metadata <= 64 KiB is the daemon's rule, checked over NATS (through the
  // gateway the 64 KiB body limit answers 413 first)
  const auth = { Authorization: `Bearer ${alice.token}` };
  const big = await s.natsRequest('rooms.create', { metadata: 'm'.repeat(64 * 1024 + 1) }, auth);
  assert.equal(big.status, 400);
  assert.equal(big.json.reason, 'metadata_max');
  const ok = await s.natsRequest('rooms.create', { metadata: 'm'.repeat(64 * 1024) }, auth);
  assert.equal(ok.status, 200);
  if (VIA === 'http') {
    const r = await api('create', { token: alice.token, body: { metadata: 'm'.repeat(64 * 1024 + 1) } });
    assert.equal(r.status, 413);
  }
  for (const body of [{ nope: 1 }, { name: 5 }, { max_participants: 'many' }, { max_participants: 2.5 }]) {
    const r = await api('create', { token: alice.token, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.error, 'invalid_json');
  }
  assert.equal(await rowCount(), rows + 1);
  assert.equal(lk.callsOf('CreateRoom').length, calls + 1);
});

test('create needs a valid bearer: 401 missing/invalid/expired, LiveKit not called', async () => {
  const calls = lk.calls.length;
  assert.equal((await api('create', {})).error, 'missing_auth');
  const bad = await api('create', { token: 'not-a-jwt' });
  assert.equal(bad.status, 401);
  assert.equal(bad.error, 'invalid_token');
  const forged = mintAccessToken({ sub: alice.user_id, secret: 'another-secret-0123456789' });
  assert.equal((await api('create', { token: forged })).error, 'invalid_token');
  const expired = mintAccessToken({ sub: alice.user_id, now: Math.floor(Date.now() / 1000) - 7200, ttl: 60 });
  assert.equal((await api('create', { token: expired })).error, 'invalid_token');
  assert.equal((await api('create', { token: 'Basic abc' })).error, 'invalid_auth');
  assert.equal(lk.calls.slice(calls).filter((c) => c.method === 'CreateRoom').length, 0);
});

// ---- LiveKit failing / stalled on create ------------------------------------------

test('LiveKit failing on create: retried, then 503 and no row; a transient 500 is retried to success', async () => {
  const rows = await rowCount();
  const before = lk.callsOf('CreateRoom').length;
  lk.failNext('CreateRoom', 10);
  const r = await api('create', { token: alice.token, body: { name: 'Doomed' } });
  lk.clearFailures();
  assert.equal(r.status, 503);
  assert.equal(r.error, 'unavailable');
  assert.equal(lk.callsOf('CreateRoom').length - before, 3, 'LIVEKIT_MAX_ATTEMPTS attempts');
  assert.equal(await rowCount(), rows, 'no row without a LiveKit room');
  assert.equal(await rowCount(`name = 'Doomed'`), 0);
  assert.match(s.logs('rooms'), /livekit CreateRoom: HTTP 500 internal: injected failure/);

  lk.failNext('CreateRoom', 1);
  const before2 = lk.callsOf('CreateRoom').length;
  const ok = await createRoom(alice, { name: 'Second try' });
  assert.equal(lk.callsOf('CreateRoom').length - before2, 2);
  assert.ok(lk.rooms.has(ok.livekit_room));
});

test('a Twirp 4xx on create is not retried: 503, no row, the error logged clearly', async () => {
  const rows = await rowCount();
  const before = lk.callsOf('CreateRoom').length;
  lk.failNext('CreateRoom', 1, { status: 400, code: 'invalid_argument', msg: 'metadata too large' });
  const r = await api('create', { token: alice.token, body: { name: 'Refused' } });
  assert.equal(r.status, 503);
  assert.equal(lk.callsOf('CreateRoom').length - before, 1);
  assert.equal(await rowCount(), rows);
  assert.match(s.logs('rooms'), /livekit CreateRoom: HTTP 400 invalid_argument: metadata too large/);
});

test('LiveKit stalled on create: 503 within LIVEKIT_TIMEOUT, no row, no hang', async () => {
  const rows = await rowCount();
  lk.stall('CreateRoom', true);
  const t0 = Date.now();
  const r = await api('create', { token: alice.token, body: { name: 'Stalled' } });
  const took = Date.now() - t0;
  lk.stall('CreateRoom', false);
  assert.equal(r.status, 503);
  assert.equal(r.error, 'unavailable');
  assert.ok(took < 4500, `answered after ${took} ms (LIVEKIT_TIMEOUT is 1.5 s)`);
  assert.equal(await rowCount(), rows);
  // and the daemon still serves
  await createRoom(alice, { name: 'After stall' });
});

// ---- get ----------------------------------------------------------------------------

test('get: any authenticated user; unknown or malformed id is 404 room_not_found; 401 without bearer', async () => {
  const room = await createRoom(alice, { name: 'Lookup' });
  const mine = await api('get', { token: alice.token, id: room.id });
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.json, room);
  const theirs = await api('get', { token: bob.token, id: room.id });
  assert.equal(theirs.status, 200);
  assert.deepEqual(theirs.json, room);
  for (const id of [randomUUID(), '00000000-0000-0000-0000-000000000000']) {
    const r = await api('get', { token: alice.token, id });
    assert.equal(r.status, 404);
    assert.equal(r.error, 'room_not_found');
  }
  if (VIA === 'nats') {
    for (const id of ['nope', '', `${room.id}x`, "' OR 1=1 --"]) {
      const r = await api('get', { token: alice.token, id });
      assert.equal(r.status, 404, id);
      assert.equal(r.error, 'room_not_found');
    }
  } else {
    const r = await api('get', { token: alice.token, id: 'nope' });
    assert.equal(r.status, 404);
  }
  assert.equal((await api('get', { id: room.id })).status, 401);
});

// ---- list ----------------------------------------------------------------------------

test('list: own rooms only, newest first, paging, status filter and its validation', async () => {
  const carol = await user('Carol');
  const made = [];
  for (let i = 0; i < 4; i++) made.push(await createRoom(carol, { name: `Carol ${i}` }));
  await createRoom(bob, { name: 'Not Carols' });
  const all = await api('list', { token: carol.token });
  assert.equal(all.status, 200);
  assert.deepEqual(all.json.map((r) => r.id), made.map((r) => r.id).reverse());
  for (const r of all.json) assert.deepEqual(Object.keys(r).sort(), ROOM_KEYS);

  const page = await api('list', { token: carol.token, query: { limit: '2', offset: '1' } });
  assert.deepEqual(page.json.map((r) => r.name), ['Carol 2', 'Carol 1']);
  const past = await api('list', { token: carol.token, query: { offset: '10' } });
  assert.deepEqual(past.json, []);

  assert.equal((await api('end', { token: carol.token, id: made[1].id })).status, 200);
  const ended = await api('list', { token: carol.token, query: { status: 'ended' } });
  assert.deepEqual(ended.json.map((r) => r.id), [made[1].id]);
  assert.equal(ended.json[0].status, 'ended');
  assert.match(ended.json[0].ended_at, RFC3339);
  const active = await api('list', { token: carol.token, query: { status: 'active' } });
  assert.deepEqual(active.json.map((r) => r.id), [made[3].id, made[2].id, made[0].id]);
  assert.deepEqual((await api('list', { token: carol.token, query: { status: 'pending' } })).json, []);

  for (const [query, reason] of [
    [{ status: 'bogus' }, 'status_oneof'],
    [{ limit: '0' }, 'limit_min'],
    [{ limit: '101' }, 'limit_max'],
    [{ offset: '-1' }, 'offset_min'],
  ]) {
    const r = await api('list', { token: carol.token, query });
    assert.equal(r.status, 400, JSON.stringify(query));
    assert.equal(r.error, 'validation_failed');
    assert.equal(r.reason, reason);
  }
  assert.equal((await api('list', { token: carol.token, query: { limit: '100' } })).status, 200);
  assert.equal((await api('list', {})).status, 401);
});

test('list: default limit is 50', async () => {
  const dave = await user('Dave');
  for (let i = 0; i < 52; i++) await createRoom(dave, { name: `D${i}` });
  const r = await api('list', { token: dave.token });
  assert.equal(r.json.length, 50);
  assert.equal(r.json[0].name, 'D51');
});

// ---- end ------------------------------------------------------------------------------

test('end: owner only (403 room_forbidden), DeleteRoom with roomCreate, ending twice is 200 with the same room', async () => {
  const room = await createRoom(alice, { name: 'To end' });
  await s.redis('HSET', `cx:presence:{${room.livekit_room}}`, 'x', JSON.stringify({ identity: 'x', name: 'X', sid: 'PA_x', joined_at: 1, kind: 'standard', ts: 1 }));
  // the sweeper runs every 300 ms and may delete other tests' rooms: count this room's calls only
  const mine = () => lk.callsOf('DeleteRoom').filter((c) => c.body?.room === room.livekit_room);
  const deletes = mine().length;

  const denied = await api('end', { token: bob.token, id: room.id });
  assert.equal(denied.status, 403);
  assert.equal(denied.error, 'room_forbidden');
  assert.equal((await api('get', { token: alice.token, id: room.id })).json.status, 'active');
  assert.equal(mine().length, deletes);

  const ended = await api('end', { token: alice.token, id: room.id });
  assert.equal(ended.status, 200);
  assert.deepEqual(Object.keys(ended.json).sort(), [...ROOM_KEYS, 'ended_at'].sort());
  assert.equal(ended.json.status, 'ended');
  assert.match(ended.json.ended_at, RFC3339);
  const calls = mine().slice(deletes);
  // end calls DeleteRoom once; the sweeper's retry of a pending delete may
  // race it with a second identical (idempotent) call
  assert.ok(calls.length >= 1 && calls.length <= 2, `DeleteRoom calls: ${calls.length}`);
  for (const c of calls) {
    assert.deepEqual(c.body, { room: room.livekit_room });
    assert.deepEqual(c.claims.video, { roomCreate: true });
  }
  assert.ok(!lk.rooms.has(room.livekit_room));
  assert.equal(await s.redis('EXISTS', `cx:presence:{${room.livekit_room}}`), '0');
  assert.deepEqual(await s.psql(`SELECT livekit_delete_pending FROM rooms WHERE id = '${room.id}'`), [['f']]);

  const again = await api('end', { token: alice.token, id: room.id });
  assert.equal(again.status, 200);
  assert.deepEqual(again.json, ended.json);
  assert.equal(mine().length, deletes + 1, 'no second DeleteRoom');
  assert.equal((await api('end', { token: bob.token, id: room.id })).status, 403);

  const missing = await api('end', { token: alice.token, id: randomUUID() });
  assert.equal(missing.status, 404);
  assert.equal(missing.error, 'room_not_found');
  assert.equal((await api('end', { id: room.id })).status, 401);
});

test('end with LiveKit failing: still 200, DeleteRoom owed and retried by the sweeper', async () => {
  const room = await createRoom(alice, { name: 'Flaky end' });
  lk.failNext('DeleteRoom', 3);
  const r = await api('end', { token: alice.token, id: room.id });
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ended');
  // the sweeper (every 300 ms) retries until LiveKit deletes it
  const gone = await waitFor(async () => !lk.rooms.has(room.livekit_room), 8000);
  assert.ok(gone, 'DeleteRoom was not retried');
  const done = await waitFor(async () => (await s.psql(`SELECT livekit_delete_pending FROM rooms WHERE id = '${room.id}'`))[0][0] === 'f', 3000);
  assert.ok(done);
  const injected = lk.calls.filter((c) => c.method === 'DeleteRoom' && c.injected && c.body?.room === room.livekit_room);
  assert.equal(injected.length, 3);
});

test('end with LiveKit stalled: 200 (bounded wait), DeleteRoom done later', async () => {
  const room = await createRoom(alice, { name: 'Stalled end' });
  lk.stall('DeleteRoom', true);
  const r = await api('end', { token: alice.token, id: room.id });
  assert.equal(r.status, 200);
  assert.deepEqual(await s.psql(`SELECT livekit_delete_pending FROM rooms WHERE id = '${room.id}'`), [['t']]);
  lk.stall('DeleteRoom', false);
  assert.ok(await waitFor(async () => !lk.rooms.has(room.livekit_room), 10000));
});

// ---- participants ---------------------------------------------------------------------

function presence(p) {
  return JSON.stringify({ identity: p.identity, name: p.name, sid: p.sid, joined_at: p.joined_at, kind: p.kind ?? 'standard', ts: p.joined_at });
}

test('participants: LiveKit decides who is present (hidden/egress skipped), sorted by joined_at', async () => {
  const room = await createRoom(alice, { name: 'Busy' });
  const key = `cx:presence:{${room.livekit_room}}`;
  await s.redis('HSET', key, 'u1', presence({ identity: 'u1', name: 'Ann', sid: 'PA_1', joined_at: 1700000100 }),
    'stale', presence({ identity: 'stale', name: 'Gone', sid: 'PA_9', joined_at: 1700000000 }));
  lk.setParticipants(room.livekit_room, [
    { identity: 'u1', name: 'Ann', sid: 'PA_1', joined_at: 1700000100 },
    { identity: 'u2', name: 'Ben', sid: 'PA_2', joined_at: 1700000050 },
    { identity: 'rec', name: 'Recorder', sid: 'PA_3', joined_at: 1700000000, kind: 'EGRESS' },
    { identity: 'ghost', name: 'Ghost', sid: 'PA_4', joined_at: 1700000000, hidden: true },
  ]);
  const before = lk.callsOf('ListParticipants').length;
  const r = await api('participants', { token: bob.token, id: room.id });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, [
    { identity: 'u2', name: 'Ben', sid: 'PA_2', joined_at: '2023-11-14T22:14:10Z', role: 'participant', audio: false, video: false, screen_share: false },
    { identity: 'u1', name: 'Ann', sid: 'PA_1', joined_at: '2023-11-14T22:15:00Z', role: 'participant', audio: false, video: false, screen_share: false },
  ]);
  const [call] = lk.callsOf('ListParticipants').slice(before);
  assert.deepEqual(call.body, { room: room.livekit_room });
  assert.equal(call.claims.video.roomAdmin, true);
  assert.equal(call.claims.video.room, room.livekit_room);

  // camelCase answers are read too
  lk.setParticipants(room.livekit_room, [{ identity: 'u3', name: 'Cy', sid: 'PA_5', joined_at: 1700000200 }], { camel: true });
  const r2 = await api('participants', { token: alice.token, id: room.id });
  assert.deepEqual(r2.json, [{ identity: 'u3', name: 'Cy', sid: 'PA_5', joined_at: '2023-11-14T22:16:40Z', role: 'participant', audio: false, video: false, screen_share: false }]);
});

test('participants: Redis presence when LiveKit is down; [] for an ended room; 404 / 401', async () => {
  const room = await createRoom(alice, { name: 'Fallback' });
  const key = `cx:presence:{${room.livekit_room}}`;
  await s.redis('HSET', key, 'b', presence({ identity: 'b', name: 'Bee', sid: 'PA_b', joined_at: 1700000200 }),
    'a', presence({ identity: 'a', name: 'Ay', sid: 'PA_a', joined_at: 1700000100 }),
    'e', presence({ identity: 'e', name: 'Egress', sid: 'PA_e', joined_at: 1700000000, kind: 'egress' }));
  lk.failNext('ListParticipants', 3);
  const r = await api('participants', { token: alice.token, id: room.id });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.map((p) => [p.identity, p.name, p.joined_at]), [
    ['a', 'Ay', '2023-11-14T22:15:00Z'],
    ['b', 'Bee', '2023-11-14T22:16:40Z'],
  ]);
  await api('end', { token: alice.token, id: room.id });
  assert.deepEqual((await api('participants', { token: alice.token, id: room.id })).json, []);
  const missing = await api('participants', { token: alice.token, id: randomUUID() });
  assert.equal(missing.status, 404);
  assert.equal(missing.error, 'room_not_found');
  assert.equal((await api('participants', { id: room.id })).status, 401);
});

// ---- the sweeper -----------------------------------------------------------------------

test('sweeper ends rooms active longer than ROOM_MAX_AGE (event, DeleteRoom, presence dropped)', async () => {
  const room = await createRoom(alice, { name: 'Ancient' });
  const fresh = await createRoom(alice, { name: 'Fresh' });
  await s.redis('HSET', `cx:presence:{${room.livekit_room}}`, 'x', presence({ identity: 'x', name: 'X', sid: 'PA_x', joined_at: 1 }));
  const nc = await s.nats();
  const sub = nc.subscribe('calixio.events.rooms.ended');
  const seen = [];
  (async () => {
    for await (const m of sub) seen.push(Buffer.from(m.data));
  })();
  await s.psql(`UPDATE rooms SET created_at = now() - interval '25 hours' WHERE id = '${room.id}'`);
  const ended = await waitFor(async () => (await api('get', { token: alice.token, id: room.id })).json.status === 'ended', 5000);
  assert.ok(ended, 'old room not ended');
  assert.ok(await waitFor(async () => !lk.rooms.has(room.livekit_room), 5000));
  assert.ok(await waitFor(async () => seen.some((d) => d.includes(Buffer.from(room.id))), 3000));
  assert.equal(await s.redis('EXISTS', `cx:presence:{${room.livekit_room}}`), '0');
  assert.equal((await api('get', { token: alice.token, id: fresh.id })).json.status, 'active');
  sub.unsubscribe();
});

test('sweeper deletes orphan cx- LiveKit rooms (no row) after the grace period, leaves others alone', async () => {
  const orphan = `cx-${randomUUID()}`;
  lk.addRoom(orphan, { ageSeconds: 60 });
  lk.addRoom('someone-elses-room', { ageSeconds: 600 });
  const young = `cx-${randomUUID()}`;
  lk.addRoom(young, { ageSeconds: 0 });
  assert.ok(await waitFor(async () => !lk.rooms.has(orphan), 5000), 'orphan not deleted');
  assert.ok(lk.rooms.has('someone-elses-room'));
  assert.ok(lk.rooms.has(young), 'a room younger than the grace period may belong to a create in flight');
  const lists = lk.callsOf('ListRooms');
  assert.ok(lists.length > 0);
  assert.deepEqual(lists.at(-1).claims.video, { roomList: true });
});

test('sweeper drops presence of ended rooms', async () => {
  const room = await createRoom(alice, { name: 'Leftovers' });
  await api('end', { token: alice.token, id: room.id });
  // a late webhook wrote presence after the end
  await s.redis('HSET', `cx:presence:{${room.livekit_room}}`, 'late', presence({ identity: 'late', name: 'L', sid: 'PA_l', joined_at: 5 }));
  await s.redis('HSET', 'cx:presence:{not-ours}', 'z', presence({ identity: 'z', name: 'Z', sid: 'PA_z', joined_at: 5 }));
  assert.ok(await waitFor(async () => (await s.redis('EXISTS', `cx:presence:{${room.livekit_room}}`)) === '0', 5000));
  assert.equal(await s.redis('EXISTS', 'cx:presence:{not-ours}'), '1');
});

test('every LiveKit call carried a valid token with the grant its method needs', async () => {
  assert.ok(lk.calls.length > 10);
  const refused = lk.calls.filter((c) => c.authError);
  assert.deepEqual(refused, []);
});

// ---- without LiveKit -----------------------------------------------------------------------

test('without LIVEKIT_HOST: rooms work, LiveKit is never called, start-up says so once', async () => {
  assert.equal(await s.killDaemon('rooms', 0), 0);
  const d = s.startDaemon('rooms', { LIVEKIT_HOST: '' });
  // (not s.waitReady: it counts the copy stopped above as a failed start)
  assert.ok(await waitFor(async () => d.exit === null && (await s.pingCount('rooms', 150)) >= 1, 15000), d.stderr);
  const calls = lk.calls.length;
  const room = await createRoom(alice, { name: 'Offline' });
  assert.equal(room.livekit_room, `cx-${room.id}`);
  assert.equal((await api('participants', { token: alice.token, id: room.id })).status, 200);
  assert.equal((await api('end', { token: alice.token, id: room.id })).status, 200);
  await sleep(700); // a couple of sweeps
  assert.equal(lk.calls.length, calls);
  const log = d.stderr;
  assert.equal(log.match(/LIVEKIT_HOST is not set/g)?.length, 1);
  assert.deepEqual(await s.psql(`SELECT livekit_delete_pending FROM rooms WHERE id = '${room.id}'`), [['f']]);
});
