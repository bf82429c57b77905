// discovery.test.mjs: the whole stack seen through independent, official NATS
// clients (issue 7), i.e. what `nats micro ls|info|stats` and `nats req` show.
//
// - @nats-io/services (Svcm) discovers every Calixio service and reads its
//   INFO and STATS;
// - ../shared/nats/svc-check.mjs --strict (the schema checks `nats micro`
//   applies) passes for each service; skipped with a visible message when
//   shared/ is not beside the repository;
// - a JSON request sent with @nats-io/transport-node (Content-Type and
//   Authorization headers, as `nats req ... -H` sends them) gets a JSON reply,
//   and an error gets the Nats-Service-Error-Code / JSON Error contract.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { Svcm } from '@nats-io/services';
import { startStack } from '../harness/stack.mjs';
import { missing, skipOrFail } from '../harness/optional-check.mjs';
import { stageSharedTools, sharedDir } from '../harness/shared-tools.mjs';

const execFileP = promisify(execFile);

// What each service must expose (name -> endpoint names).
const SERVICES = {
  'calixio-auth': ['register', 'login', 'refresh', 'logout', 'me',
    // account routes (issue 18)
    'profile_get', 'profile_update', 'settings_get', 'settings_update', 'video_profiles_list',
    'video_profile_create', 'video_profile_update', 'video_profile_delete', 'password_change',
    'sessions_list', 'session_revoke', 'account_delete'],
  'calixio-rooms': ['create', 'list', 'get', 'end', 'participants',
    'update', 'delete', 'leave', 'by_code', 'start', // issue 16
    'admit', 'invites_create', 'invites_list', 'invites_revoke', 'waiting_poll', 'waiting_leave', 'waiting_list', // issue 17
    'waiting_approve', 'waiting_reject', 'remove', 'mute', 'set_role',
    // issue 13 (chat)
    'chat_post', 'chat_list', 'chat_update', 'chat_delete'],
  'calixio-media': ['join'],
  'calixio-webhook': ['livekit',
    // history, audit, call quality (issue 18)
    'calls', 'history', 'audit', 'stats_add', 'stats_get'],
};

// CI clones the repository beside shared/: <repo>/../shared/nats/svc-check.mjs
// The script runs with this repository's packages (shared/ has none in CI).
const NATS_TOOLS = stageSharedTools('nats') || sharedDir('nats');
const SVC_CHECK = resolve(NATS_TOOLS, 'svc-check.mjs');
const SVC_CHECK_DEPS = resolve(NATS_TOOLS, 'node_modules', '@nats-io', 'services');

let s;
let nc; // our own official client, independent of the harness's
let token; // a real access token from calixio.auth.login
const enc = new TextEncoder();
const dec = new TextDecoder();

// A JSON request exactly as `nats req <subj> '<json>' -H ... -H ...` sends it.
async function jsonRequest(subject, body, { auth } = {}) {
  const h = natsHeaders();
  h.set('Content-Type', 'application/json');
  if (auth) h.set('Authorization', `Bearer ${auth}`);
  const m = await nc.request(subject, enc.encode(JSON.stringify(body)), { headers: h, timeout: 5000 });
  const text = dec.decode(m.data);
  return { code: m.headers?.get('Nats-Service-Error-Code') || '', error: m.headers?.get('Nats-Service-Error') || '', text, json: text ? JSON.parse(text) : null };
}

async function collect(it) {
  const out = [];
  for await (const r of await it) out.push(r);
  return out;
}

before(async () => {
  s = await startStack({ daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'] });
  nc = await connect({ servers: s.natsUrl, name: 'discovery-test', ...s.natsAuth });
  const email = `disc-${randomUUID()}@example.com`;
  const reg = await jsonRequest('calixio.auth.register', { name: 'Disco Very', email, password: 'correct horse battery' });
  assert.equal(reg.code, '', `register failed: ${reg.code} ${reg.text}`);
  const login = await jsonRequest('calixio.auth.login', { email, password: 'correct horse battery' });
  assert.equal(login.code, '', `login failed: ${login.code} ${login.text}`);
  token = login.json.access_token;
  assert.ok(token, `no access_token in ${login.text}`);
});

after(async () => {
  await nc?.close().catch(() => {});
  await s?.stop();
});

test('Svcm discovers every Calixio service (ping, info) with its endpoints', { timeout: 30000 }, async () => {
  const client = new Svcm(nc).client({ strategy: 'stall', maxWait: 2000, stall: 300 });
  // `nats micro ls`: one INFO to $SRV.INFO, every instance of every service answers
  const all = await collect(client.info());
  const names = new Set(all.map((i) => i.name));
  for (const name of Object.keys(SERVICES)) assert.ok(names.has(name), `$SRV.INFO: ${name} missing (saw ${[...names]})`);
  for (const [name, eps] of Object.entries(SERVICES)) {
    // `nats micro info calixio-<svc>`
    const infos = await collect(client.info(name));
    assert.equal(infos.length, 1, `${name}: one instance expected, got ${infos.length}`);
    const info = infos[0];
    assert.equal(info.type, 'io.nats.micro.v1.info_response');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    const got = info.endpoints.map((e) => e.name).sort();
    assert.deepEqual(got, [...eps].sort(), `${name}: endpoints`);
    for (const e of info.endpoints) {
      assert.equal(e.subject, `calixio.${name.slice('calixio-'.length)}.${e.name}`, `${name}: subject of ${e.name}`);
      assert.equal(typeof e.queue_group, 'string', `${name}.${e.name}: queue_group`);
    }
    const pings = await collect(client.ping(name, info.id));
    assert.deepEqual(pings.map((p) => p.id), [info.id], `${name}: $SRV.PING.${name}.<id> answers for that instance`);
    console.log(`${name} ${info.version} id=${info.id} endpoints=${got.join(',')}`);
  }
});

test('a JSON request with @nats-io/transport-node gets a JSON reply (nats req ... -H)', { timeout: 30000 }, async () => {
  const created = await jsonRequest('calixio.rooms.create', { name: 'Discovery room' }, { auth: token });
  assert.equal(created.code, '', `rooms.create: ${created.code} ${created.error} ${created.text}`);
  assert.match(created.json.id, /^[0-9a-f-]{36}$/);

  const got = await jsonRequest('calixio.rooms.get', { id: created.json.id }, { auth: token });
  assert.equal(got.code, '', `rooms.get: ${got.code} ${got.error} ${got.text}`);
  assert.equal(got.json.id, created.json.id);
  assert.equal(got.json.name, 'Discovery room');
  assert.equal(got.json.status, 'active');
  console.log(`nats req calixio.rooms.get -> ${got.text}`);

  // the error contract, in JSON too
  const missing = await jsonRequest('calixio.rooms.get', { id: randomUUID() }, { auth: token });
  assert.equal(missing.code, '404', missing.text);
  assert.ok(missing.error.length > 0, 'Nats-Service-Error carries a message');
  assert.equal(missing.json.code, 'room_not_found', missing.text);
  const anon = await jsonRequest('calixio.rooms.get', { id: created.json.id });
  assert.equal(anon.code, '401', anon.text);
  const bad = await jsonRequest('calixio.rooms.get', { id: created.json.id }, { auth: token + 'x' });
  assert.equal(bad.code, '401', bad.text);
});

test('Svcm reads the stats of every service and they count what was served', { timeout: 30000 }, async () => {
  const client = new Svcm(nc).client({ strategy: 'stall', maxWait: 2000, stall: 300 });
  const h = natsHeaders();
  h.set('Content-Type', 'application/json');
  for (const [name, eps] of Object.entries(SERVICES)) {
    // `nats micro stats calixio-<svc>`
    const stats = await collect(client.stats(name));
    assert.equal(stats.length, 1, `${name}: stats replies`);
    const st = stats[0];
    assert.equal(st.type, 'io.nats.micro.v1.stats_response');
    assert.ok(!Number.isNaN(Date.parse(st.started)), `${name}: started ${st.started}`);
    assert.deepEqual(st.endpoints.map((e) => e.name).sort(), [...eps].sort());
    for (const e of st.endpoints) {
      for (const k of ['num_requests', 'num_errors', 'processing_time', 'average_processing_time']) {
        assert.ok(Number.isInteger(e[k]) && e[k] >= 0, `${name}.${e.name}.${k} = ${e[k]}`);
      }
      assert.equal(typeof e.last_error, 'string', `${name}.${e.name}.last_error`);
    }
    const by = Object.fromEntries(st.endpoints.map((e) => [e.name, e]));
    console.log(`${name} stats: ${st.endpoints.map((e) => `${e.name}=${e.num_requests}/${e.num_errors}`).join(' ')}`);
    if (name === 'calixio-rooms') {
      assert.ok(by.get.num_requests >= 4, `rooms.get served ${by.get.num_requests} (this file sent 4)`);
      // the 404 and the two 401s of the previous test are errors, as Go's micro counts them
      assert.ok(by.get.num_errors >= 3, `rooms.get num_errors ${by.get.num_errors}`);
      assert.match(by.get.last_error, /^\d{3}:.+/, 'last_error is "<code>:<message>"');
      assert.ok(by.create.num_requests >= 1);
    }
    if (name === 'calixio-auth') {
      assert.ok(by.register.num_requests >= 1 && by.login.num_requests >= 1);
    }
  }
});

test('svc-check.mjs --strict (the `nats micro` schema checks) passes for every service', { timeout: 60000 }, async (t) => {
  const why = missing([
    { path: SVC_CHECK, what: 'svc-check.mjs (CI clones the repo beside shared/)' },
    { path: SVC_CHECK_DEPS, what: "svc-check's npm packages" },
  ]);
  if (skipOrFail(t, why)) return;
  for (const [name, eps] of Object.entries(SERVICES)) {
    let out;
    let code = 0;
    try {
      ({ stdout: out } = await execFileP('node', [SVC_CHECK, s.natsUrl, name, '--strict', '--endpoints', eps.join(','), '--instances', '1'], { env: { ...process.env, ...s.natsAdminEnv } }));
    } catch (e) {
      out = e.stdout;
      code = e.code;
    }
    const r = JSON.parse(out);
    assert.equal(code, 0, `svc-check ${name} exit ${code}: ${JSON.stringify({ errors: r.errors, warnings: r.warnings })}`);
    assert.equal(r.ok, true);
    assert.deepEqual(r.warnings, [], `${name}: warnings under --strict`);
    console.log(`svc-check ${name} --strict: ok, ${r.instances.length} instance(s)`);
  }
});
