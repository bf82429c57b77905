// scale.test.mjs: copies of a service share the load and survive losing one
// (issue 7). Three copies of media and two of rooms behind one gateway:
//   1. a few thousand requests through the gateway (guest joins -> media,
//      GET /rooms/{id} -> rooms); each copy's own $SRV.STATS.<name>.<id>
//      shows it served some;
//   2. SIGKILL one media copy mid-load: the joins in flight to it at that
//      instant get no reply; the gateway sends them once more after
//      GATEWAY_RETRY_AFTER (issue 19 item 18), another copy answers, and not
//      one request fails (before the repeat: 0-5 of 2000 failed with 504);
//   3. SIGTERM another media copy mid-load: it drains, exits 0, and not one
//      request fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Svcm } from '@nats-io/services';
import { startStack } from '../harness/stack.mjs';

const CONC = 16; // requests in flight at any time
const REQUEST_TIMEOUT_MS = 3000; // gateway -> NATS; a request lost with a killed copy fails after this
const RETRY_AFTER_MS = 1000; // ... unless it is repeated (joins, GETs) after this

let s;
let token;
let roomId;

// Runs `total` operations with at most `conc` in flight. hooks.at = {n: fn}
// runs fn once n operations have completed (used to kill a copy mid-load).
async function load(total, conc, op, hooks = {}) {
  let next = 0;
  let done = 0;
  const results = [];
  const fired = new Set();
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t0 = performance.now();
      let status;
      try {
        status = (await op(i)).status;
      } catch (e) {
        status = `error: ${e.message}`;
      }
      results.push({ i, t0, t1: performance.now(), status });
      done++;
      for (const [n, fn] of Object.entries(hooks)) {
        if (done >= Number(n) && !fired.has(n)) {
          fired.add(n);
          fn();
        }
      }
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  return results;
}

// Half guest joins (media), half room reads (rooms).
function mixed(i) {
  if (i % 2 === 0) return s.http('POST', `/rooms/${roomId}/join`, { json: { user_name: `Guest ${i}` } });
  return s.http('GET', `/rooms/${roomId}`, { headers: { Authorization: `Bearer ${token}` } });
}
const joinOnly = () => s.http('POST', `/rooms/${roomId}/join`, { json: { user_name: 'Load' } });

function histogram(results) {
  const h = {};
  for (const r of results) h[r.status] = (h[r.status] ?? 0) + 1;
  return h;
}

// The service-protocol id of copy idx, from its start-up log line.
function instanceId(name, idx) {
  const m = s.logs(name, idx).match(new RegExp(`calixio-${name} \\S+ up: id ([A-Za-z0-9_-]+)`));
  assert.ok(m, `no "up: id" line in the log of ${name}#${idx}`);
  return m[1];
}

// num_requests of every endpoint of one instance, via $SRV.STATS.calixio-<name>.<id>
async function instanceStats(name, id) {
  const nc = await s.nats();
  const client = new Svcm(nc).client({ strategy: 'stall', maxWait: 2000, stall: 200 });
  const replies = [];
  for await (const r of await client.stats(`calixio-${name}`, id)) replies.push(r);
  assert.equal(replies.length, 1, `$SRV.STATS.calixio-${name}.${id}: exactly that instance answers`);
  assert.equal(replies[0].id, id);
  return Object.fromEntries(replies[0].endpoints.map((e) => [e.name, e]));
}

before(async () => {
  s = await startStack({
    daemons: ['auth', 'rooms', 'media', 'webhook', 'gateway'],
    copies: { media: 3, rooms: 2 },
    env: { GATEWAY_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`, GATEWAY_RETRY_AFTER: `${RETRY_AFTER_MS}ms` },
  });
  const email = `scale-${randomUUID()}@example.com`;
  let r = await s.http('POST', '/auth/register', { json: { name: 'Scale Test', email, password: 'correct horse battery' } });
  assert.equal(r.status, 201, r.text);
  r = await s.http('POST', '/auth/login', { json: { email, password: 'correct horse battery' } });
  assert.equal(r.status, 200, r.text);
  token = r.json.access_token;
  r = await s.http('POST', '/rooms', { json: { name: 'Scale room' }, headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 201, r.text);
  roomId = r.json.id;
});

after(async () => {
  await s?.stop();
});

test('every copy of media (3) and rooms (2) serves part of the load', { timeout: 120000 }, async () => {
  assert.equal(await s.pingCount('media', 500), 3, 'three media copies answer $SRV.PING');
  assert.equal(await s.pingCount('rooms', 500), 2, 'two rooms copies answer $SRV.PING');
  const N = 3000;
  const t0 = performance.now();
  const res = await load(N, CONC, mixed);
  const secs = (performance.now() - t0) / 1000;
  const h = histogram(res);
  console.log(`${N} requests (${CONC} in flight) in ${secs.toFixed(1)} s: ${JSON.stringify(h)}`);
  assert.deepEqual(h, { 200: N }, 'every request succeeds');
  for (const [name, n, ep] of [['media', 3, 'join'], ['rooms', 2, 'get']]) {
    const counts = [];
    for (let i = 0; i < n; i++) {
      const st = await instanceStats(name, instanceId(name, i));
      counts.push(st[ep].num_requests);
    }
    console.log(`${name}.${ep} per copy ($SRV.STATS.calixio-${name}.<id>): ${counts.join(', ')} (sum ${counts.reduce((a, b) => a + b, 0)})`);
    for (let i = 0; i < n; i++) assert.ok(counts[i] > 0, `${name}#${i} served no ${ep}`);
    assert.equal(counts.reduce((a, b) => a + b, 0), N / 2, `the ${name} copies together served every ${ep}`);
  }
});

test('SIGKILL of a media copy mid-load: the joins lost with it are repeated, none fails', { timeout: 120000 }, async () => {
  const victim = 0;
  const N = 2000;
  let killedAt = null;
  let killed;
  const res = await load(N, CONC, joinOnly, {
    400: () => {
      killedAt = performance.now();
      killed = s.killDaemon('media', victim, 'SIGKILL');
    },
  });
  assert.equal(await killed, 'SIGKILL');
  const failed = res.filter((r) => r.status !== 200);
  const h = histogram(res);
  // requests sent after the dead copy's subscriptions are gone must all succeed;
  // NATS drops them as soon as the TCP connection closes, so 1 s is generous
  const late = res.filter((r) => r.t0 > killedAt + 1000);
  const lateFailed = late.filter((r) => r.status !== 200);
  const inFlightAtKill = res.filter((r) => r.t0 <= killedAt && r.t1 >= killedAt).length;
  const repeated = res.filter((r) => r.status === 200 && r.t1 - r.t0 >= RETRY_AFTER_MS);
  console.log(`SIGKILL media#${victim} after 400 of ${N} joins: ${failed.length} failed ${JSON.stringify(h)}; ` +
    `${inFlightAtKill} requests were in flight at that instant; ${late.length} sent >1 s later, ${lateFailed.length} of them failed; ` +
    `${repeated.length} answered after the ${RETRY_AFTER_MS} ms repeat (${repeated.map((r) => (r.t1 - r.t0).toFixed(0)).join(', ')} ms)`);
  if (failed.length) {
    const f = failed.map((r) => `${r.status} sent ${(r.t0 - killedAt).toFixed(0)} ms after the kill`);
    console.log(`failures: ${f.slice(0, 10).join('; ')}${f.length > 10 ? ' ...' : ''}`);
  }
  assert.equal(failed.length, 0, 'a join lost with the killed copy is repeated to a live one, not answered 504');
  for (const r of repeated) assert.ok(r.t1 - r.t0 < REQUEST_TIMEOUT_MS, 'a repeated join is answered before the timeout');
  assert.ok(late.length > 100, `enough load after the kill (${late.length})`);
  assert.equal(lateFailed.length, 0);
  assert.equal(await s.pingCount('media', 500), 2, 'two media copies are left');
});

test('SIGTERM of a media copy mid-load: it drains, exits 0, nothing fails', { timeout: 120000 }, async () => {
  const victim = 1;
  const survivor = 2;
  const before = (await instanceStats('media', instanceId('media', survivor))).join.num_requests;
  const N = 2000;
  let termAt = null;
  let exited;
  const res = await load(N, CONC, joinOnly, {
    400: () => {
      termAt = performance.now();
      exited = s.killDaemon('media', victim, 'SIGTERM');
    },
  });
  const code = await exited;
  const h = histogram(res);
  const after = res.filter((r) => r.t0 > termAt).length;
  console.log(`SIGTERM media#${victim} after 400 of ${N} joins: ${JSON.stringify(h)}; exit ${code}; ${after} requests sent after the signal`);
  assert.equal(code, 0, `the drained copy exits 0:\n${s.logs('media', victim).split('\n').slice(-60).join('\n')}`);
  assert.match(s.logs('media', victim), /draining/);
  assert.deepEqual(h, { 200: N }, 'no request fails while a copy drains');
  assert.ok(after > 100, 'load continued after the signal');
  const gained = (await instanceStats('media', instanceId('media', survivor))).join.num_requests - before;
  console.log(`media#${survivor} (the last copy) served ${gained} of these ${N} joins`);
  assert.ok(gained >= N - 400 - 2 * CONC, `the survivor took over (${gained})`);
  assert.equal(await s.pingCount('media', 500), 1);
});
