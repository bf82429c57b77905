// redis-cluster.test.mjs: the stack on a real three-master Redis Cluster
// (issue 19 item 16). stores.sh starts `redis-server --cluster-enabled yes`
// three times on free loopback ports and joins them with
// `redis-cli --cluster create ... --cluster-replicas 0`; every daemon gets
// REDIS_ADDR = the three seeds. Exercised: the webhook's Lua scripts
// (presence, tracks, de-duplication, room end) on the room's slot, the
// rooms daemon's participants read, and auth's revocation deny-list (a
// logout, then the access token is refused by a daemon that can only have
// learnt it from Redis).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startStack, sleep } from '../harness/stack.mjs';
import * as lk from '../harness/livekit-webhook.mjs';

let s;
let seeds; // [port, port, port]
const now = () => Math.floor(Date.now() / 1000);
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

// the operator's ACL user (the harness runs the cluster with ACL users too)
const adminAuth = () => (s.storeEnv.REDIS_ADMIN_USER ? ['--user', s.storeEnv.REDIS_ADMIN_USER, '--pass', s.storeEnv.REDIS_ADMIN_PASSWORD, '--no-auth-warning'] : []);

// redis-cli on one node, without following redirections.
async function onNode(port, ...args) {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) =>
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...adminAuth(), ...args], (e, out) => (e ? reject(e) : resolve(out.trim()))),
  );
}

// Which node holds `key` (index into seeds), or -1.
async function nodeOf(key) {
  for (let i = 0; i < seeds.length; i++) {
    if ((await onNode(seeds[i], 'EXISTS', key)) === '1') return i;
  }
  return -1;
}

async function user() {
  const email = `rc-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name: 'Cluster User', email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const login = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.status, 200, login.text);
  return login.json;
}

function joined(room, identity, sid, t) {
  return lk.eventBody({ event: 'participant_joined', room, identity, sid, name: `${identity} name`, joinedAt: t - 2, createdAt: t });
}

before(async () => {
  s = await startStack({ daemons: ['auth', 'rooms', 'webhook', 'gateway'], stores: ['nats', 'pg', 'redis-cluster'], env: { ROOMS_SWEEP_INTERVAL: '300ms' } });
  assert.equal(s.storeEnv.REDIS_CLUSTER, '1');
  seeds = s.storeEnv.REDIS_CLUSTER_ADDR.split(',').map((a) => Number(a.split(':')[1]));
  assert.equal(seeds.length, 3);
  assert.equal(s.env.REDIS_ADDR, s.storeEnv.REDIS_CLUSTER_ADDR, 'the daemons get the seed list');
});

after(async () => {
  await s?.stop();
});

test('the cluster is real: three masters, slots spread, the daemons run in cluster mode', async () => {
  for (const p of seeds) {
    const info = await onNode(p, 'CLUSTER', 'INFO');
    assert.match(info, /cluster_state:ok/);
    assert.match(info, /cluster_size:3/);
  }
  // a plain client on one node is redirected for keys of other nodes' slots
  const moved = await Promise.all(seeds.map((p) => onNode(p, 'GET', 'foo')));
  assert.equal(moved.filter((r) => r.startsWith('MOVED')).length, 2, moved.join(' | '));
  // webhook and rooms touched Redis at start-up or will on first use; webhook
  // logs the mode when it first connects (forced by the first test below)
});

test('on the cluster too every daemon logs in as its own ACL user; the default user is off', async () => {
  assert.ok(s.storeEnv.REDIS_ADMIN_USER, 'the harness runs secured stores');
  // (webhook and rooms talk to Redis from start-up: the sweeper, the first event below)
  let users = '';
  for (let i = 0; i < 50 && !/user=calixio_rooms/.test(users); i++) {
    users = (await Promise.all(seeds.map((p) => onNode(p, 'CLIENT', 'LIST')))).join('\n');
    await sleep(100);
  }
  assert.match(users, /user=calixio_rooms/);
  assert.doesNotMatch(users, /user=default/);
  const anon = await new Promise((resolve) =>
    import('node:child_process').then(({ execFile }) =>
      execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(seeds[0]), 'PING'], (e, out) => resolve(String(out).trim()))),
  );
  assert.match(anon, /NOAUTH|NOPERM/, anon);
});

test('webhook presence, tracks and de-duplication run on the room\'s slot; GET participants reads them', async () => {
  const owner = await user();
  const cr = await s.http('POST', '/rooms', { json: { name: 'Cluster room' }, headers: bearer(owner.access_token) });
  assert.equal(cr.status, 201, cr.text);
  const { id, livekit_room: lkr } = cr.json;
  const t = now();
  const a = joined(lkr, 'ana', 'PA_a', t);
  const aAuth = await lk.signSdk(a);
  assert.equal((await lk.postWebhook(s, a, { auth: aAuth })).status, 200);
  assert.equal((await lk.postWebhook(s, joined(lkr, 'ben', 'PA_b', t))).status, 200);
  const tp = lk.eventBody({ event: 'track_published', room: lkr, identity: 'ben', sid: 'PA_b', trackSid: 'TR_b', createdAt: t });
  assert.equal((await lk.postWebhook(s, tp)).status, 200);
  // a repeated delivery changes nothing (dedup key in the same slot)
  for (let i = 0; i < 2; i++) {
    const r = await lk.postWebhook(s, a, { auth: aAuth });
    assert.equal(r.status, 200, r.text);
  }
  assert.equal((await lk.postWebhook(s, tp)).status, 200);
  assert.equal(await s.redis('HGET', `cx:tracks:{${lkr}}`, 'ben'), '1');
  assert.deepEqual(await s.psql(`SELECT count(*) FROM participant_events WHERE livekit_room = '${lkr}'`), [['2']]);

  // every key of the room sits on one node (one slot), with the dedup key
  const keys = [`cx:presence:{${lkr}}`, `cx:presence-ts:{${lkr}}`, `cx:tracks:{${lkr}}`, `cx:track-ts:{${lkr}}`, `cx:webhook:event:{${lkr}}:${JSON.parse(a).id}`];
  const nodes = await Promise.all(keys.map(nodeOf));
  assert.ok(nodes[0] >= 0, 'presence stored');
  assert.deepEqual(nodes, keys.map(() => nodes[0]), `keys of one room on one node: ${nodes}`);
  assert.equal(await s.redis('GET', keys[4]), 'done');

  const get = async () => {
    const r = await s.http('GET', `/rooms/${id}/participants`, { headers: bearer(owner.access_token) });
    assert.equal(r.status, 200, r.text);
    return r.json.map((p) => p.identity).sort();
  };
  assert.deepEqual(await get(), ['ana', 'ben']);
  assert.equal((await lk.postWebhook(s, lk.eventBody({ event: 'participant_left', room: lkr, identity: 'ana', sid: 'PA_a', createdAt: t + 1 }))).status, 200);
  assert.deepEqual(await get(), ['ben']);

  // room_finished: the Lua clean-up of five keys runs on the cluster too
  assert.equal((await lk.postWebhook(s, lk.eventBody({ event: 'room_finished', room: lkr, createdAt: t + 5 }))).status, 200);
  for (const k of keys.slice(0, 4)) assert.equal(await s.redis('EXISTS', k), '0', k);
  assert.equal(await s.redis('GET', `cx:room-finished:{${lkr}}`), String(t + 5));
  assert.deepEqual(await s.psql(`SELECT status FROM rooms WHERE id = '${id}'`), [['ended']]);
  assert.match(s.logs('webhook'), /redis: cluster mode/);
});

test('rooms of different names spread over the masters, each one working', async () => {
  const owner = await user();
  const used = new Set();
  for (let i = 0; i < 8; i++) {
    const cr = await s.http('POST', '/rooms', { json: { name: `Spread ${i}` }, headers: bearer(owner.access_token) });
    assert.equal(cr.status, 201, cr.text);
    const lkr = cr.json.livekit_room;
    assert.equal((await lk.postWebhook(s, joined(lkr, 'x', 'PA_x', now()))).status, 200);
    used.add(await nodeOf(`cx:presence:{${lkr}}`));
    const r = await s.http('GET', `/rooms/${cr.json.id}/participants`, { headers: bearer(owner.access_token) });
    assert.deepEqual(r.json.map((p) => p.identity), ['x']);
  }
  assert.ok(!used.has(-1));
  assert.ok(used.size >= 2, `8 rooms on ${used.size} node(s)`);
});

test('revocation on the cluster: after a logout the access token is refused, also by a copy that only Redis can have told', async () => {
  const l = await user();
  const sid = JSON.parse(Buffer.from(l.access_token.split('.')[1], 'base64url')).sid;
  assert.equal((await s.natsRequest('rooms.list', {}, bearer(l.access_token))).status, 200);
  assert.equal((await s.natsRequest('auth.logout', { refresh_token: l.refresh_token })).status, 200);
  assert.equal(await s.redis('EXISTS', `cx:revoked:sid:${sid}`), '1', 'deny-list entry written to the cluster');
  const me = await s.natsRequest('auth.me', {}, bearer(l.access_token));
  assert.equal(me.status, 401);
  assert.equal(me.json.code, 'token_revoked');
  // a rooms copy started after the logout missed the revocation event: only
  // the deny-list on the cluster can tell it
  await s.killDaemon('rooms');
  s.startDaemon('rooms');
  await s.waitReady('rooms', 1);
  let r;
  for (let i = 0; i < 20; i++) {
    r = await s.natsRequest('rooms.list', {}, bearer(l.access_token)).catch((e) => ({ status: 0, text: String(e) }));
    if (r.status !== 0 && r.status !== 503) break;
    await sleep(100);
  }
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.code, 'token_revoked');
});

test('the rooms sweeper finds stale presence of ended rooms on every master', async () => {
  const owner = await user();
  const rooms = [];
  for (let i = 0; i < 8; i++) {
    const cr = await s.http('POST', '/rooms', { json: { name: `Swept ${i}` }, headers: bearer(owner.access_token) });
    assert.equal(cr.status, 201, cr.text);
    rooms.push(cr.json);
  }
  // ended behind every daemon's back, with presence a late writer left
  await s.psql(`UPDATE rooms SET status = 'ended', ended_at = now() WHERE id IN (${rooms.map((r) => `'${r.id}'`).join(',')})`);
  const nodes = new Set();
  for (const r of rooms) {
    await s.redis('HSET', `cx:presence:{${r.livekit_room}}`, 'late', JSON.stringify({ identity: 'late', name: 'L', sid: 'PA_l', joined_at: 5, kind: 'standard', ts: 5 }));
    nodes.add(await nodeOf(`cx:presence:{${r.livekit_room}}`));
  }
  assert.ok(nodes.size >= 2, `stale presence on ${nodes.size} node(s)`);
  const t0 = Date.now();
  let left = rooms.length;
  while (left > 0 && Date.now() - t0 < 8000) {
    left = 0;
    for (const r of rooms) left += Number(await s.redis('EXISTS', `cx:presence:{${r.livekit_room}}`));
    if (left) await sleep(100);
  }
  assert.equal(left, 0, `presence of ${left} ended room(s) still there after ${Date.now() - t0} ms`);
});
