// media.test.mjs: POST /rooms/{id}/join (media.join) against a real stack.
// Tokens are checked with the official SDK (livekit-server-sdk TokenVerifier)
// and with shared/livekit/verify-token.mjs --strict-go (the Go server's rules;
// skipped with the reason when that script is missing, failed under CI=true).
//
// Through the gateway over HTTP when cx-gateway is built in $CX_BUILD_DIR
// (or CX_VIA=http), else over NATS (CX_VIA=nats).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { TokenVerifier } from 'livekit-server-sdk';
import { startStack, buildDir, repoRoot, sleep, mintAccessToken } from '../harness/stack.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';
import { missing, skipOrFail } from '../harness/optional-check.mjs';
import { stageSharedTools, sharedDir } from '../harness/shared-tools.mjs';

const execFileP = promisify(execFile);
const VIA = process.env.CX_VIA ?? (existsSync(join(buildDir, 'cx-gateway')) ? 'http' : 'nats');
const TTL_S = 900; // LIVEKIT_TOKEN_TTL below
const PUBLIC_URL = 'wss://media.example.test';
const verifier = new TokenVerifier('devkey', 'secret');
// issue 16 added role and room_token (API-ROOMS.md "Joining, extended")
const JOIN_KEYS = ['expires_in', 'identity', 'livekit_room', 'role', 'room_id', 'room_name', 'room_token', 'state', 'token', 'url'];

let s, lk;
let owner, other;

// The Go server's stricter rules are checked by a script outside this repo.
// Every token checkToken sees is kept and verified by the last test of this
// file, which is skipped with the reason (or fails under CI) when the script
// or its packages are missing: never a silent pass.
// The scripts run with this repository's packages (shared/ has none in CI).
const LIVEKIT_TOOLS = process.env.CX_LIVEKIT_TOOLS ?? (stageSharedTools('livekit') || sharedDir('livekit'));
const strictTokens = [];

function strictGoMissing(dir = LIVEKIT_TOOLS) {
  return missing([
    { path: join(dir, 'verify-token.mjs'), what: 'verify-token.mjs (the Go server\'s token rules)' },
    { path: join(dir, 'node_modules', 'livekit-server-sdk'), what: 'its npm packages (npm install there)' },
  ]);
}

function authHeader(token) {
  if (!token) return {};
  return { Authorization: /^(Bearer|Basic) /.test(token) ? token : `Bearer ${token}` };
}

async function join_(id, { token, body } = {}) {
  const headers = authHeader(token);
  if (VIA === 'http') {
    const r = await s.http('POST', `/rooms/${id}/join`, { json: body ?? {}, headers });
    return { status: r.status, json: r.json, error: r.json?.error, reason: r.json?.reason };
  }
  const r = await s.natsRequest('media.join', { ...(body ?? {}), id }, headers);
  return { status: r.status, json: r.json, error: r.status === 200 ? undefined : r.json?.code, reason: r.json?.reason };
}

async function rooms(route, token, req) {
  const r = await s.natsRequest(`rooms.${route}`, req, authHeader(token));
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function user(name) {
  const email = `${name.toLowerCase().replace(/[^a-z]/g, '')}-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name, email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  return { user_id: login.json.user_id, name, token: login.json.access_token };
}

async function waitFor(fn, ms, step = 20) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v || Date.now() - t0 > ms) return v;
    await sleep(step);
  }
}

before(async () => {
  lk = await startFakeLiveKit({ apiKey: 'devkey', apiSecret: 'secret' });
  const daemons = ['auth', 'rooms', 'media'];
  if (VIA === 'http') daemons.push('gateway');
  s = await startStack({
    daemons,
    env: { LIVEKIT_HOST: lk.url, LIVEKIT_TOKEN_TTL: '15m', LIVEKIT_PUBLIC_URL: PUBLIC_URL, MEDIA_ROOM_CACHE_TTL: '1s' },
  });
  owner = await user('Olivia Owner');
  other = await user('Uma User');
});

after(async () => {
  await s?.stop();
  await lk?.stop();
});

function checkCommon(r, room) {
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(Object.keys(r.json).sort(), JOIN_KEYS);
  assert.equal(r.json.room_id, room.id);
  assert.equal(r.json.room_name, room.name);
  assert.equal(r.json.livekit_room, room.livekit_room);
  assert.equal(r.json.expires_in, TTL_S);
  assert.deepEqual(r.json.state, { mode: 'conference' });
  assert.equal(r.json.url, PUBLIC_URL);
}

async function checkToken(token, { identity, name, room, admin }) {
  const c = await verifier.verify(token);
  assert.equal(c.iss, 'devkey');
  assert.equal(c.sub, identity);
  assert.equal(c.name, name);
  const video = { room, roomJoin: true, canPublish: true, canSubscribe: true, canPublishData: true };
  if (admin) video.roomAdmin = true;
  assert.deepEqual(c.video, video);
  assert.equal(c.exp - c.iat, TTL_S);
  assert.ok(c.nbf < c.iat && c.iat - c.nbf <= 30, 'nbf back-dated a few seconds');
  assert.ok(Math.abs(c.iat - Date.now() / 1000) < 60);
  strictTokens.push(token);
  // the wrong secret must not verify
  await assert.rejects(new TokenVerifier('devkey', 'other').verify(token));
  return c;
}

test('a logged-in user joins as themself: identity = user id, name = their name, no roomAdmin', async () => {
  const room = await rooms('create', owner.token, { name: 'Town hall' });
  const r = await join_(room.id, { token: other.token });
  checkCommon(r, room);
  assert.equal(r.json.identity, other.user_id);
  await checkToken(r.json.token, { identity: other.user_id, name: 'Uma User', room: room.livekit_room, admin: false });
  // user_name is not a way for a user to rename themself
  const r2 = await join_(room.id, { token: other.token, body: { user_name: 'Someone Else' } });
  assert.equal(r2.json.identity, other.user_id);
  assert.equal((await verifier.verify(r2.json.token)).name, 'Uma User');
});

test('the owner joins with roomAdmin', async () => {
  const room = await rooms('create', owner.token, { name: 'Owned' });
  const r = await join_(room.id, { token: owner.token });
  checkCommon(r, room);
  assert.equal(r.json.identity, owner.user_id);
  await checkToken(r.json.token, { identity: owner.user_id, name: 'Olivia Owner', room: room.livekit_room, admin: true });
});

test('a guest gets guest-<32 hex>, named by user_name (default "Guest"), never roomAdmin', async () => {
  const room = await rooms('create', owner.token, { name: 'Open house' });
  const a = await join_(room.id);
  checkCommon(a, room);
  assert.match(a.json.identity, /^guest-[0-9a-f]{32}$/);
  await checkToken(a.json.token, { identity: a.json.identity, name: 'Guest', room: room.livekit_room, admin: false });

  const b = await join_(room.id, { body: { user_name: 'Zoë Q' } });
  assert.match(b.json.identity, /^guest-[0-9a-f]{32}$/);
  assert.notEqual(b.json.identity, a.json.identity);
  await checkToken(b.json.token, { identity: b.json.identity, name: 'Zoë Q', room: room.livekit_room, admin: false });

  const edge = await join_(room.id, { body: { user_name: 'n'.repeat(36) } });
  assert.equal(edge.status, 200);
  assert.equal((await verifier.verify(edge.json.token)).name, 'n'.repeat(36));
  const one = await join_(room.id, { body: { user_name: 'é' } });
  assert.equal(one.status, 200);
});

test('join input errors: user_name empty / too long -> 400, unknown key or wrong type -> invalid_json', async () => {
  const room = await rooms('create', owner.token, { name: 'Strict' });
  for (const [body, reason] of [
    [{ user_name: '' }, 'user_name_min'],
    [{ user_name: 'n'.repeat(37) }, 'user_name_max'],
    [{ user_name: 'é'.repeat(37) }, 'user_name_max'],
  ]) {
    const r = await join_(room.id, { body });
    assert.equal(r.status, 400);
    assert.equal(r.error, 'validation_failed');
    assert.equal(r.reason, reason);
  }
  for (const body of [{ user_name: 5 }, { nickname: 'x' }]) {
    const r = await join_(room.id, { body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.error, 'invalid_json');
  }
});

test('an invalid bearer is 401, not a silent guest; a revoked session is 401 token_revoked', async () => {
  const room = await rooms('create', owner.token, { name: 'Guarded' });
  for (const [token, code] of [
    ['garbage', 'invalid_token'],
    [mintAccessToken({ sub: other.user_id, secret: 'wrong-secret-0123456789' }), 'invalid_token'],
    [mintAccessToken({ sub: other.user_id, now: Math.floor(Date.now() / 1000) - 3600, ttl: 60 }), 'invalid_token'],
    ['Basic dXNlcjpwYXNz', 'invalid_auth'],
  ]) {
    const r = await join_(room.id, { token });
    assert.equal(r.status, 401, token);
    assert.equal(r.error, code);
  }
  const sid = `sid-${randomUUID()}`;
  const t = mintAccessToken({ sub: other.user_id, username: 'Uma User', sid });
  assert.equal((await join_(room.id, { token: t })).status, 200);
  // revoked in Redis behind the services' back (no event): the services
  // trust the pushed deny-list (issue 14) and fill it from the index
  // cx:revoked:index at start, after a NATS gap and every 30 s; a copy
  // started afterwards refuses the token at once (cold start from Redis)
  await s.redis('SET', `cx:revoked:sid:${sid}`, '1', 'EX', '600');
  await s.redis('ZADD', 'cx:revoked:index', String(Math.floor(Date.now() / 1000) + 600), sid);
  const n = s.daemons.media.length;
  s.startDaemon('media');
  await s.waitReady('media', n + 1);
  for (let i = 0; i < n; i++) assert.equal(await s.killDaemon('media', i), 0);
  const revoked = await join_(room.id, { token: t });
  assert.equal(revoked.status, 401);
  assert.equal(revoked.error, 'token_revoked');
  // the revocation event (what auth publishes on logout) takes effect at once
  const sid2 = `sid-${randomUUID()}`;
  const t2 = mintAccessToken({ sub: other.user_id, username: 'Uma User', sid: sid2 });
  assert.equal((await join_(room.id, { token: t2 })).status, 200); // cached as not revoked
  await s.redis('SET', `cx:revoked:sid:${sid2}`, '1', 'EX', '600');
  const nc = await s.nats();
  nc.publish(`${s.prefix}.events.auth.revoked`, sid2);
  await nc.flush();
  await new Promise((r) => setTimeout(r, 50));
  const r2 = await join_(room.id, { token: t2 });
  assert.equal(r2.status, 401);
  assert.equal(r2.error, 'token_revoked');
});

test('unknown room -> 404 room_not_found (malformed id too)', async () => {
  const r = await join_(randomUUID());
  assert.equal(r.status, 404);
  assert.equal(r.error, 'room_not_found');
  const bad = await join_(VIA === 'http' ? 'not-a-uuid' : "nope' OR '1'='1");
  assert.equal(bad.status, 404);
});

test('a room ended through rooms is refused with 409 room_ended within a second (cache invalidated by the event)', async () => {
  const room = await rooms('create', owner.token, { name: 'Short lived' });
  assert.equal((await join_(room.id)).status, 200); // cache warm
  assert.equal((await join_(room.id, { token: other.token })).status, 200);
  await rooms('end', owner.token, { id: room.id });
  const t0 = Date.now();
  // well inside the 1 s cache TTL (warmed just above), so only the event can explain it
  const refused = await waitFor(async () => (await join_(room.id)).status === 409, 400);
  assert.ok(refused, `still joinable ${Date.now() - t0} ms after the end`);
  const r = await join_(room.id, { token: owner.token });
  assert.equal(r.status, 409);
  assert.equal(r.error, 'room_ended');
});

test('a room ended behind media\'s back (no event) is refused once the cache entry expires (<= 1 s)', async () => {
  const room = await rooms('create', owner.token, { name: 'Silent end' });
  assert.equal((await join_(room.id)).status, 200);
  await s.psql(`UPDATE rooms SET status = 'ended', ended_at = now() WHERE id = '${room.id}'`);
  const refused = await waitFor(async () => (await join_(room.id)).status === 409, 1500);
  assert.ok(refused);
});

test('two rooms with the same display name: different LiveKit rooms, tokens for different rooms', async () => {
  const a = await rooms('create', owner.token, { name: 'Weekly sync' });
  const b = await rooms('create', other.token, { name: 'Weekly sync' });
  assert.notEqual(a.livekit_room, b.livekit_room);
  const ja = await join_(a.id);
  const jb = await join_(b.id);
  assert.equal(ja.json.room_name, 'Weekly sync');
  assert.equal(jb.json.room_name, 'Weekly sync');
  assert.equal((await verifier.verify(ja.json.token)).video.room, a.livekit_room);
  assert.equal((await verifier.verify(jb.json.token)).video.room, b.livekit_room);
});

test('join never asks rooms over NATS and needs no LiveKit call', async () => {
  const room = await rooms('create', owner.token, { name: 'Quiet' });
  const nc = await s.nats();
  const sub = nc.subscribe('calixio.rooms.>');
  let seen = 0;
  (async () => {
    for await (const _ of sub) seen++;
  })();
  const calls = lk.calls.length;
  await sleep(50);
  for (let i = 0; i < 20; i++) assert.equal((await join_(room.id)).status, 200);
  await sleep(100);
  sub.unsubscribe();
  assert.equal(seen, 0);
  assert.equal(lk.calls.slice(calls).filter((c) => c.method !== 'ListRooms').length, 0);
});

test('every token checked above passes the Go server\'s rules (verify-token.mjs --strict-go)', async (t) => {
  if (skipOrFail(t, strictGoMissing())) return;
  assert.ok(strictTokens.length >= 4, `only ${strictTokens.length} tokens were collected`);
  for (const token of strictTokens) {
    const strict = await execFileP('node', [join(LIVEKIT_TOOLS, 'verify-token.mjs'), 'devkey', 'secret', token, '--strict-go']).catch((e) => e);
    assert.equal(strict.code ?? 0, 0, `${strict.stdout}${strict.stderr}`);
  }
});

test('the guard of that check: a missing script is a skip with its reason locally and a failure under CI', () => {
  const why = strictGoMissing('/nonexistent/livekit-tools');
  assert.match(why, /verify-token\.mjs .* missing \(\/nonexistent\/livekit-tools\/verify-token\.mjs\)/);
  let skipped;
  const fakeT = { skip: (reason) => { skipped = reason; } };
  assert.equal(skipOrFail(fakeT, why, {}), true);
  assert.match(skipped, /^cannot run: verify-token\.mjs/);
  assert.throws(() => skipOrFail(fakeT, why, { CI: 'true' }), /check cannot run: .*under CI/);
  assert.equal(skipOrFail(fakeT, null, { CI: 'true' }), false);
});
