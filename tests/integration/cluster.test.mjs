// cluster.test.mjs: Calixio over a three-node NATS cluster (issue 7).
//
// Three nats-server processes on loopback form a cluster (--cluster,
// --routes); Postgres and Redis come from stores.sh. Every daemon gets
// NATS_URL listing all three nodes (comma-separated), so each connects to one
// of them (nats.c picks at random) and the daemons end up spread over the
// cluster; each node's monitoring endpoint (/connz) tells who is where, by
// connection name (calixio-<svc>).
//
// Under a steady load through the gateway we SIGKILL the node the gateway is
// connected to, then the node media is connected to, and show that the
// daemons reconnect to a surviving node and requests succeed again. Printed
// for each kill: how long until the daemon shows up on another node, how
// many requests failed, and when the last failing request was sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { startStack, freePort, sleep } from '../harness/stack.mjs';

const DAEMONS = ['auth', 'rooms', 'media', 'webhook', 'gateway'];
const CONC = 8;
const REQUEST_TIMEOUT_MS = 3000; // gateway -> NATS

let s;
let dir;
const nodes = []; // {name, port, cport, mport, proc, exited}
let token;
let roomId;

function startNode(i, all) {
  const n = all[i];
  const routes = all.filter((_, j) => j !== i).map((o) => `nats://127.0.0.1:${o.cport}`).join(',');
  const args = ['-a', '127.0.0.1', '-p', String(n.port), '-m', String(n.mport), '-n', n.name,
    '--cluster_name', 'calixio-test', '--cluster', `nats://127.0.0.1:${n.cport}`, '--routes', routes,
    '-l', join(dir, `${n.name}.log`)];
  n.proc = spawn('nats-server', args, { stdio: 'ignore' });
  n.exited = new Promise((res) => n.proc.on('exit', (code, sig) => res(code ?? sig)));
}

async function monitor(n, path) {
  const r = await fetch(`http://127.0.0.1:${n.mport}${path}`);
  return r.json();
}

// name of the node each calixio-* connection is on: {"calixio-media": "n2", ...}
async function placement() {
  const where = {};
  for (const n of nodes) {
    if (n.dead) continue;
    const cz = await monitor(n, '/connz?limit=1024');
    for (const c of cz.connections ?? []) if (c.name?.startsWith('calixio-')) (where[c.name] ??= []).push(n.name);
  }
  return where;
}

async function waitCluster(timeoutMs = 10000) {
  const t0 = Date.now();
  for (;;) {
    try {
      const rs = await Promise.all(nodes.map((n) => monitor(n, '/routez')));
      if (rs.every((r) => r.num_routes >= nodes.length - 1)) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() - t0 > timeoutMs) throw new Error('the NATS cluster did not form');
    await sleep(50);
  }
}

// A steady load (guest joins -> media, room reads -> rooms) until stop().
function steadyLoad() {
  const results = [];
  let running = true;
  let i = 0;
  const one = async () => {
    const k = i++;
    const t0 = performance.now();
    let status;
    try {
      const r = k % 2 === 0
        ? await s.http('POST', `/rooms/${roomId}/join`, { json: { user_name: 'Cluster' } })
        : await s.http('GET', `/rooms/${roomId}`, { headers: { Authorization: `Bearer ${token}` } });
      status = r.status;
    } catch (e) {
      status = `error: ${e.message}`;
    }
    results.push({ t0, t1: performance.now(), status });
  };
  const workers = Array.from({ length: CONC }, async () => {
    while (running) await one();
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(workers);
      return results;
    },
  };
}

// Kills the node `victim` is connected to while the load runs; returns figures.
async function killNodeOf(victim) {
  const where = await placement();
  const nodeName = where[victim]?.[0];
  assert.ok(nodeName, `${victim} is on no node: ${JSON.stringify(where)}`);
  const node = nodes.find((n) => n.name === nodeName);
  const load = steadyLoad();
  await sleep(500);
  const k = performance.now();
  node.proc.kill('SIGKILL');
  node.dead = true;
  await node.exited;
  // poll the surviving nodes until the daemon is connected to one of them
  let reconnectMs = null;
  while (performance.now() - k < 15000) {
    const w = await placement();
    if (w[victim]?.length) {
      reconnectMs = performance.now() - k;
      break;
    }
    await sleep(5);
  }
  // keep the load running well past the failover: requests lost with the dead
  // node end only at the gateway's timeout, and their workers send again after
  await sleep(REQUEST_TIMEOUT_MS + 1500);
  const res = await load.stop();
  const after = await placement();
  const failed = res.filter((r) => r.status !== 200);
  const hist = {};
  for (const r of res) hist[r.status] = (hist[r.status] ?? 0) + 1;
  const lastFailSentMs = failed.length ? Math.max(...failed.map((r) => r.t0 - k)) : null;
  const okAfter = res.filter((r) => r.t0 > k && r.status === 200);
  const firstOkMs = okAfter.length ? Math.min(...okAfter.map((r) => r.t1 - k)) : null;
  return { nodeName, where, after, reconnectMs, res, failed, hist, lastFailSentMs, firstOkMs, k };
}

function report(label, f) {
  console.log(`${label}: killed ${f.nodeName}; placement before ${JSON.stringify(f.where)}, after ${JSON.stringify(f.after)}`);
  console.log(`${label}: reconnected after ${f.reconnectMs?.toFixed(0)} ms; ${f.res.length} requests, ${f.failed.length} failed ` +
    `${JSON.stringify(f.hist)}; last failing request sent ${f.lastFailSentMs === null ? '-' : f.lastFailSentMs.toFixed(0) + ' ms'} ` +
    `after the kill; first success after the kill at ${f.firstOkMs?.toFixed(0)} ms`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cx-cluster-'));
  for (let i = 1; i <= 3; i++) {
    nodes.push({ name: `n${i}`, port: await freePort(), cport: await freePort(), mport: await freePort() });
  }
  for (let i = 0; i < 3; i++) startNode(i, nodes);
  await waitCluster();
  const NATS_URL = nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  s = await startStack({ daemons: DAEMONS, stores: ['pg', 'redis'], env: { NATS_URL, GATEWAY_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms` } });
  const email = `cluster-${randomUUID()}@example.com`;
  let r = await s.http('POST', '/auth/register', { json: { name: 'Cluster Test', email, password: 'correct horse battery' } });
  assert.equal(r.status, 201, r.text);
  r = await s.http('POST', '/auth/login', { json: { email, password: 'correct horse battery' } });
  assert.equal(r.status, 200, r.text);
  token = r.json.access_token;
  r = await s.http('POST', '/rooms', { json: { name: 'Cluster room' }, headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 201, r.text);
  roomId = r.json.id;
});

after(async () => {
  try {
    await s?.stop();
  } finally {
    for (const n of nodes) {
      if (n.proc && !n.dead) {
        n.proc.kill('SIGTERM');
        await n.exited;
      }
    }
    if (dir && !process.env.CX_KEEP_STACK) rmSync(dir, { recursive: true, force: true });
  }
});

test('the daemons run spread over a three-node NATS cluster', { timeout: 30000 }, async () => {
  const where = await placement();
  console.log(`placement: ${JSON.stringify(where)}`);
  for (const d of DAEMONS) assert.equal(where[`calixio-${d}`]?.length, 1, `calixio-${d} has one connection: ${JSON.stringify(where)}`);
  // requests cross the cluster: the gateway and a service on different nodes still talk
  for (let i = 0; i < 50; i++) {
    const r = await s.http('POST', `/rooms/${roomId}/join`, { json: { user_name: 'Spread' } });
    assert.equal(r.status, 200, r.text);
  }
  const used = new Set(Object.values(where).flat());
  console.log(`nodes in use: ${[...used].join(', ')}`);
  const r = await s.http('GET', '/readyz');
  assert.equal(r.status, 200, r.text);
});

test('killing the node the gateway is on: it reconnects to another node and requests succeed again', { timeout: 90000 }, async () => {
  const f = await killNodeOf('calixio-gateway');
  report('gateway node', f);
  assert.ok(f.reconnectMs !== null, 'the gateway reconnected to a surviving node');
  assert.notEqual(f.after['calixio-gateway'][0], f.nodeName);
  for (const d of DAEMONS) assert.equal(f.after[`calixio-${d}`]?.length, 1, `calixio-${d} is connected after the kill`);
  // every request sent once the gateway is back on a node succeeds
  const late = f.res.filter((r) => r.t0 - f.k > f.reconnectMs + 500);
  assert.ok(late.length > 20, `load after the reconnect (${late.length})`);
  assert.deepEqual(late.filter((r) => r.status !== 200), []);
  // failures only as long as a daemon had no node
  for (const r of f.failed) assert.ok(r.t0 - f.k < f.reconnectMs + 500, `request sent ${(r.t0 - f.k).toFixed(0)} ms after the kill failed (${r.status})`);
});

test('killing the node media is on: media reconnects and joins succeed again', { timeout: 90000 }, async () => {
  const f = await killNodeOf('calixio-media');
  report('media node', f);
  assert.ok(f.reconnectMs !== null, 'media reconnected to a surviving node');
  assert.notEqual(f.after['calixio-media'][0], f.nodeName);
  for (const d of DAEMONS) assert.equal(f.after[`calixio-${d}`]?.length, 1, `calixio-${d} is connected on the last node`);
  const late = f.res.filter((r) => r.t0 - f.k > f.reconnectMs + 500);
  assert.ok(late.length > 20, `load after the reconnect (${late.length})`);
  assert.deepEqual(late.filter((r) => r.status !== 200), []);
  // one node left: everything still works, discovery included
  for (const d of ['auth', 'rooms', 'media', 'webhook']) assert.equal(await s.pingCount(d, 300), 1, `calixio-${d} answers $SRV.PING`);
  const r = await s.http('GET', '/readyz');
  assert.equal(r.status, 200, r.text);
});
