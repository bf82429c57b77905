// faults.test.mjs: Calixio under faults (issue 8).
//
// A steady load of a few concurrent clients runs through the gateway (create
// a room, read it, join it as a guest, deliver a signed LiveKit webhook for
// it) while, one after the other: Postgres restarts, Redis restarts,
// nats-server restarts (same port), and one copy of rooms, then of media, is
// SIGKILLed (two copies of each run). For every fault the test measures and
// prints the failures during the fault, the worst latency and the recovery
// time (first success of every kind of request after the dependency is
// back), and asserts:
//   - every answer is a success or a fast 503/504, never another error, a
//     dropped connection or a wait past the gateway's request timeout;
//   - the service comes back by itself within RECOVERY_MAX_MS;
//   - no daemon crashed (all but the killed copies still run; after() stops
//     them and stop() fails on any unclean exit, ASan/LSan reports included);
//   - no acknowledged write is lost: every room create answered 201 is a row
//     in `rooms`, every webhook answered 200 is a row in participant_events.
// A second test delivers a webhook while Redis, then Postgres, is down (503)
// and retries the same signed delivery once the store is back (stored).
//
// Postgres must run with synchronous_commit=on (stores.sh does; with off,
// an immediate shutdown may lose commits already acknowledged and the
// durability check would test the harness, not Calixio): before() checks it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startStack, mintAccessToken, sleep } from '../harness/stack.mjs';
import * as lk from '../harness/livekit-webhook.mjs';

const REQUEST_TIMEOUT_MS = 3000; // GATEWAY_REQUEST_TIMEOUT below
const LATENCY_SLACK_MS = 1500;   // scheduling noise on a loaded 2-core box (ASan build)
const RECOVERY_MAX_MS = 10000;   // "returns by itself within a few seconds"
const CLIENTS = 4;
const OPS = ['create', 'get', 'join', 'webhook'];

let s;
const now = () => Math.floor(Date.now() / 1000);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// One HTTP request with its latency; status 0 = transport error or client-side
// abort (the gateway never answered within the timeout plus a margin).
async function call(method, path, { json, body, headers = {} } = {}) {
  const h = { ...headers };
  if (json !== undefined) {
    body = JSON.stringify(json);
    h['Content-Type'] = 'application/json';
  }
  const t0 = performance.now();
  try {
    const r = await fetch(s.url + path, { method, headers: h, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS + 10000) });
    const text = await r.text();
    let j = null;
    try {
      j = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: r.status, json: j, text, t0, t1: performance.now(), rid: r.headers.get('x-request-id') };
  } catch (e) {
    return { status: 0, json: null, text: String(e?.cause?.code ?? e?.name ?? e), t0, t1: performance.now() };
  }
}

class Load {
  constructor(clients) {
    this.clients = clients;
    this.records = []; // {op, status, t0, t1, text}
    this.rooms = [];   // [{id, livekit_room}] acknowledged creates
    this.ackedRooms = new Set();
    this.ackedEvents = new Set();
    this.stopped = false;
    this.n = 0;
    this.inflight = new Set();
  }

  // Runs one request, remembering it while it is in flight.
  async track(op, promise) {
    const token = {};
    this.inflight.add(token);
    token.t0 = performance.now();
    try {
      return this.record(op, await promise);
    } finally {
      this.inflight.delete(token);
    }
  }

  // Waits until every request started before t has completed (at most ms).
  async settled(t, ms) {
    const t0 = performance.now();
    while ([...this.inflight].some((x) => x.t0 <= t) && performance.now() - t0 < ms) await sleep(20);
  }

  record(op, r) {
    this.records.push({ op, status: r.status, t0: r.t0, t1: r.t1, text: r.text.slice(0, 200), rid: r.rid });
    return r;
  }

  async iteration(token) {
    const auth = { Authorization: `Bearer ${token}` };
    const c = await this.track('create', call('POST', '/rooms', { json: { name: `load ${++this.n}` }, headers: auth }));
    if (c.status === 201 && c.json && UUID_RE.test(c.json.id)) {
      this.ackedRooms.add(c.json.id);
      this.rooms.push({ id: c.json.id, livekit_room: c.json.livekit_room });
    }
    if (!this.rooms.length) return;
    const room = this.rooms[Math.floor(Math.random() * this.rooms.length)];
    await this.track('get', call('GET', `/rooms/${room.id}`, { headers: auth }));
    await this.track('join', call('POST', `/rooms/${room.id}/join`, { json: { user_name: 'Load guest' } }));
    const evId = lk.lkId('EV_');
    const body = lk.eventBody({ event: 'participant_joined', room: room.livekit_room, identity: `load-${evId}`, sid: lk.lkId('PA_'), name: 'load', joinedAt: now() - 1, createdAt: now(), id: evId });
    const w = await this.track('webhook', call('POST', '/livekit/webhook', { body, headers: { 'Content-Type': 'application/webhook+json', Authorization: lk.signGo(body) } }));
    if (w.status === 200) this.ackedEvents.add(evId);
  }

  start() {
    this.done = Promise.all(
      Array.from({ length: this.clients }, async () => {
        const token = mintAccessToken({ sub: randomUUID(), ttl: 3600 });
        while (!this.stopped) {
          await this.iteration(token);
          await sleep(25);
        }
      }),
    );
  }

  async stop() {
    this.stopped = true;
    await this.done;
  }

  // Waits until every kind of request succeeded at least once after t.
  async recovered(t, maxMs) {
    const t0 = performance.now();
    while (performance.now() - t0 < maxMs) {
      if (OPS.every((op) => this.records.some((r) => r.op === op && r.t0 >= t && r.status >= 200 && r.status < 300))) return true;
      await sleep(50);
    }
    return false;
  }
}

const ok = (st) => st >= 200 && st < 300;
const results = []; // for the summary table
const killed = [];  // daemons this file SIGKILLed on purpose

// Runs one fault under load and measures it. fault() performs it and returns
// the performance.now() at which the dependency is back.
async function faultPhase(load, name, fault) {
  await sleep(1500); // steady state first
  const steadyFrom = performance.now() - 1500;
  const steadyFails = load.records.filter((r) => r.t0 >= steadyFrom && !ok(r.status));
  const tFault = performance.now();
  const tBack = await fault();
  const recoveredOk = await load.recovered(tBack, RECOVERY_MAX_MS + 5000);
  await sleep(1000); // a little steady state after
  const tEnd = performance.now();
  // requests in flight during the fault (e.g. to a killed copy) count here
  await load.settled(tEnd, REQUEST_TIMEOUT_MS + 10000);
  const recs = load.records.filter((r) => r.t1 >= tFault && r.t0 <= tEnd);
  const fails = recs.filter((r) => !ok(r.status));
  const statuses = {};
  const failedOps = {};
  for (const r of fails) {
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    failedOps[r.op] = (failedOps[r.op] ?? 0) + 1;
  }
  const maxLatency = Math.max(0, ...recs.map((r) => r.t1 - r.t0));
  const maxFailLatency = Math.max(0, ...fails.map((r) => r.t1 - r.t0));
  let recovery = 0;
  for (const op of OPS) {
    const first = load.records.find((r) => r.op === op && r.t0 >= tBack && ok(r.status));
    recovery = Math.max(recovery, first ? first.t1 - tBack : Infinity);
  }
  const outage = tBack - tFault;
  const m = {
    fault: name,
    requests: recs.length,
    failures: fails.length,
    statuses,
    failed_ops: failedOps,
    outage_ms: Math.round(outage),
    max_latency_ms: Math.round(maxLatency),
    max_failed_latency_ms: Math.round(maxFailLatency),
    recovery_ms: Math.round(recovery),
  };
  results.push(m);
  console.log(`FAULT ${JSON.stringify(m)}`);
  // the slow failures (timeouts) by request id, to find them in the logs
  for (const r of fails.filter((x) => x.t1 - x.t0 > 1000).slice(0, 5)) console.log(`  slow ${r.op} ${r.status} ${Math.round(r.t1 - r.t0)}ms started ${Math.round(r.t0 - tFault)}ms after the fault, request id ${r.rid}`);
  assert.deepEqual(steadyFails.map((r) => `${r.op} ${r.status} ${r.text}`), [], `${name}: failures before the fault`);
  const bad = fails.filter((r) => r.status !== 503 && r.status !== 504);
  assert.deepEqual(bad.map((r) => `${r.op} ${r.status} ${r.text}`), [], `${name}: only 503/504 may fail`);
  assert.ok(maxLatency <= REQUEST_TIMEOUT_MS + LATENCY_SLACK_MS, `${name}: a request took ${Math.round(maxLatency)} ms (request timeout ${REQUEST_TIMEOUT_MS} ms)`);
  assert.ok(recoveredOk && recovery <= RECOVERY_MAX_MS, `${name}: not recovered ${RECOVERY_MAX_MS} ms after the dependency came back (${Math.round(recovery)} ms)`);
  return m;
}

function assertAllRunning(except = []) {
  for (const [name, list] of Object.entries(s.daemons)) {
    for (const d of list) {
      if (except.includes(d)) continue;
      assert.equal(d.exit, null, `cx-${name}#${d.idx} exited ${JSON.stringify(d.exit)}:\n${d.stderr.split('\n').slice(-30).join('\n')}`);
    }
  }
}

before(async () => {
  s = await startStack({
    copies: { rooms: 2, media: 2 },
    env: { GATEWAY_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`, WEBHOOK_LEEWAY: '30s' },
  });
  // acknowledged must mean committed for the durability check
  assert.deepEqual(await s.psql('SHOW synchronous_commit'), [['on']]);
});

after(async () => {
  if (results.length) {
    console.log('| fault | requests | failures (statuses) | outage ms | max latency ms | recovery ms |');
    for (const m of results) console.log(`| ${m.fault} | ${m.requests} | ${m.failures} ${JSON.stringify(m.statuses)} | ${m.outage_ms} | ${m.max_latency_ms} | ${m.recovery_ms} |`);
  }
  if (process.env.CX_KEEP_STACK) console.log(`stack dir: ${s?.dir}`);
  await s?.stop();
});

test('steady load survives Postgres, Redis and NATS restarts and SIGKILLed copies; no acknowledged write lost', { timeout: 240000 }, async () => {
  const load = new Load(CLIENTS);
  load.start();
  try {
    assert.ok(await load.recovered(0, 10000), 'the load never succeeded before any fault');

    const pgStart = (await s.psql('SELECT pg_postmaster_start_time()'))[0][0];
    await faultPhase(load, 'restart Postgres', async () => {
      await s.storeCtl('restart', 'pg');
      return performance.now();
    });
    assert.notEqual((await s.psql('SELECT pg_postmaster_start_time()'))[0][0], pgStart, 'Postgres did restart');

    const redisRun = (await s.redis('INFO', 'server')).match(/run_id:(\w+)/)[1];
    await faultPhase(load, 'restart Redis', async () => {
      await s.storeCtl('restart', 'redis');
      return performance.now();
    });
    assert.notEqual((await s.redis('INFO', 'server')).match(/run_id:(\w+)/)[1], redisRun, 'Redis did restart');

    const natsPid = readFileSync(join(s.dir, 'nats.pid'), 'utf8').trim();
    await faultPhase(load, 'restart nats-server', async () => {
      await s.storeCtl('restart', 'nats');
      return performance.now();
    });
    assert.notEqual(readFileSync(join(s.dir, 'nats.pid'), 'utf8').trim(), natsPid, 'nats-server did restart');

    for (const name of ['rooms', 'media']) {
      await faultPhase(load, `SIGKILL one of 2 ${name} copies`, async () => {
        const d = s.daemon(name, 0);
        killed.push(d);
        assert.equal(await s.killDaemon(name, 0, 'SIGKILL'), 'SIGKILL');
        return performance.now(); // the other copy is there all along
      });
      // a replacement copy joins the queue group and serves too
      s.startDaemon(name);
      await s.waitReady(name, 2);
    }
  } finally {
    await load.stop();
  }
  assertAllRunning(killed);

  // No acknowledged write is lost.
  const ids = [...load.ackedRooms];
  assert.ok(ids.length > 0);
  const [[nRooms]] = await s.psql(`SELECT count(*) FROM rooms WHERE id = ANY('{${ids.join(',')}}'::uuid[])`);
  const evs = [...load.ackedEvents];
  assert.ok(evs.every((e) => /^EV_\w+$/.test(e)));
  const [[nEvents]] = await s.psql(`SELECT count(*) FROM participant_events WHERE event_id = ANY('{${evs.join(',')}}'::text[])`);
  const total = load.records.length;
  const failed = load.records.filter((r) => !ok(r.status)).length;
  console.log(`LOAD requests=${total} failed=${failed} acked_rooms=${ids.length} rooms_found=${nRooms} acked_webhooks=${evs.length} events_found=${nEvents}`);
  assert.equal(Number(nRooms), ids.length, 'every room answered 201 is in Postgres');
  assert.equal(Number(nEvents), evs.length, 'every webhook answered 200 is in participant_events');
});

// Delivers body until it is answered 200 (LiveKit retries a failed delivery).
async function retryDelivery(body, auth, ms = 10000) {
  const t0 = performance.now();
  let r;
  while (performance.now() - t0 < ms) {
    r = await call('POST', '/livekit/webhook', { body, headers: { 'Content-Type': 'application/webhook+json', Authorization: auth } });
    if (r.status === 200) return { r, ms: Math.round(performance.now() - t0) };
    await sleep(100);
  }
  return { r, ms: Math.round(performance.now() - t0) };
}

test('a webhook refused with 503 while Redis, then Postgres, is down is stored when retried', { timeout: 90000 }, async () => {
  const token = mintAccessToken({ sub: randomUUID() });
  const c = await call('POST', '/rooms', { json: { name: 'retry room' }, headers: { Authorization: `Bearer ${token}` } });
  assert.equal(c.status, 201, c.text);
  const room = c.json.livekit_room;
  const rows = (id) => s.psql(`SELECT event, identity FROM participant_events WHERE event_id = '${id}'`);

  for (const store of ['redis', 'pg']) {
    const id = lk.lkId('EV_');
    const identity = `retry-${store}`;
    const body = lk.eventBody({ event: 'participant_joined', room, identity, sid: lk.lkId('PA_'), name: identity, joinedAt: now() - 1, createdAt: now(), id });
    const auth = lk.signGo(body);
    if (store === 'pg') await s.psql('CHECKPOINT');
    await s.storeCtl('stop', store);
    let down;
    try {
      down = await call('POST', '/livekit/webhook', { body, headers: { 'Content-Type': 'application/webhook+json', Authorization: auth } });
      assert.equal(down.status, 503, `${store} down: ${down.text}`);
      assert.equal(down.json?.error, 'unavailable', down.text);
      assert.ok(down.t1 - down.t0 <= REQUEST_TIMEOUT_MS + LATENCY_SLACK_MS);
      if (store === 'redis') assert.deepEqual(await rows(id), [], 'nothing stored while Redis is down');
      else assert.equal(await s.redis('HGET', `cx:presence:{${room}}`, identity), '', 'no presence while Postgres is down');
    } finally {
      await s.storeCtl('start', store);
    }
    const back = performance.now();
    const { r, ms } = await retryDelivery(body, auth);
    console.log(`WEBHOOK-RETRY store=${store} down_status=${down.status} down_ms=${Math.round(down.t1 - down.t0)} stored_after_ms=${ms} (since start ${Math.round(performance.now() - back)})`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await rows(id), [['participant_joined', identity]], 'the retried delivery is in participant_events');
    const p = await s.redis('HGET', `cx:presence:{${room}}`, identity);
    assert.ok(p && JSON.parse(p), `presence of ${identity} in Redis: ${p}`);
    // the same delivery once more: acknowledged, not stored twice
    const again = await call('POST', '/livekit/webhook', { body, headers: { 'Content-Type': 'application/webhook+json', Authorization: auth } });
    assert.equal(again.status, 200, again.text);
    assert.equal((await rows(id)).length, 1);
  }
  assertAllRunning(killed);
});
