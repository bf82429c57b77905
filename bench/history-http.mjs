// bench/history-http.mjs: first-page latency of the three history routes of
// issue 18 through the gateway, on a real stack (tests/harness/stack.mjs:
// nats-server, Postgres, Redis and the five daemons from $CX_BUILD_DIR).
//
//   cd tests && CX_BUILD_DIR=../build-release node ../bench/history-http.mjs
//
// The data is bench/history-data.sql (the generator bench/history.sh uses)
// for a registered user and two rooms that user created through the API:
// 10,000 visits of the user (GET /users/me/calls), 100,000 visits of one
// room (GET /rooms/{id}/history) and 1,000,000 audit entries of the other
// (GET /rooms/{id}/audit). Each request is the route's first page (no
// query string) with the user's access token, over one keep-alive
// connection, one at a time. The routes run in interleaved rounds so they
// share the box's background load; GET /rooms/{id} (gateway -> rooms -> one
// Postgres row, no history) runs in the same rounds as a reference for what
// the stack and the box's load cost by themselves. Prints a table (p50/p99 ms, the CPU
// each daemon spent per request) and one line per figure:
//   LIMIT name=history_<route>_p99_ms value=<ms> target=20
//
// Env: HIST_SCALE (1 = the sizes), HIST_HTTP_N (requests per route,
// default 2000), HIST_HTTP_ROUNDS (default 4). A benchmark, not a test: it
// exits non-zero only when something cannot run (or a page is wrong).
import http from 'node:http';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { startStack, sleep } from '../tests/harness/stack.mjs';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.HIST_SCALE ?? 1);
const perRoute = Number(process.env.HIST_HTTP_N ?? 2000);
const rounds = Number(process.env.HIST_HTTP_ROUNDS ?? 4);
const WARMUP = 50;
const TARGET_MS = 20;
const TICK_S = 0.01; // /proc/<pid>/stat clock ticks (USER_HZ = 100 on Linux)

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// One GET; resolves {status, body}.
function get(url, token) {
  return new Promise((res, rej) => {
    const r = http.get(url, { agent, headers: { Authorization: `Bearer ${token}` } }, (m) => {
      const chunks = [];
      m.on('data', (c) => chunks.push(c));
      m.on('end', () => res({ status: m.statusCode, body: Buffer.concat(chunks).toString() }));
      m.on('error', rej);
    });
    r.on('error', rej);
  });
}

// utime + stime of a process, in seconds.
function cpuS(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * TICK_S;
}

// utime + stime of every child of the postmaster (the backends), in seconds.
function pgCpuS(postmaster) {
  let t = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === postmaster) t += (Number(rest[11]) + Number(rest[12])) * TICK_S;
    } catch {
      /* gone */
    }
  }
  return t;
}

const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function main() {
  const s = await startStack({ env: { LOG_LEVEL: 'warn', ACCESS_TOKEN_TTL: '1h' } });
  try {
    const email = `bench-${randomUUID()}@example.com`;
    const password = 'correct horse battery';
    const reg = await s.natsRequest('auth.register', { name: 'Bench User', email, password });
    if (reg.status !== 200) throw new Error(`register: ${reg.text}`);
    const login = await s.natsRequest('auth.login', { email, password });
    if (login.status !== 200) throw new Error(`login: ${login.text}`);
    const { user_id: userId, access_token: token } = login.json;
    const room = async (name) => {
      const r = await s.http('POST', '/rooms', { json: { name }, headers: { Authorization: `Bearer ${token}` } });
      if (r.status !== 201) throw new Error(`create room: ${r.text}`);
      return r.json.id;
    };
    const roomId = await room('Big room');
    const auditRoom = await room('Audited room');
    // the rooms events reach the history first (owner and name of the room)
    for (let i = 0; i < 100; i++) {
      const rows = await s.psql(`SELECT count(*) FROM history_rooms WHERE room_id IN ('${roomId}', '${auditRoom}')`);
      if (rows[0][0] === '2') break;
      await sleep(50);
    }
    const n = { user: Math.floor(10000 * scale), room: Math.floor(100000 * scale), audit: Math.floor(1000000 * scale) };
    process.stderr.write(`generating: ${n.user} visits of the user, ${n.room} visits of the room, ${n.audit} audit entries\n`);
    const vars = { user_id: userId, room_id: roomId, audit_room: auditRoom, n_user: n.user, n_room: n.room, n_audit: n.audit };
    await execFileP(
      'psql',
      [s.storeEnv.DATABASE_URL, '-X', '-q', ...Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]), '-f', join(here, 'history-data.sql')],
      { maxBuffer: 1 << 20 },
    );

    const routes = [
      { name: 'user_calls', route: 'GET /users/me/calls', path: '/users/me/calls', key: 'calls', rows: Math.min(20, n.user), data: `${n.user} visits` },
      { name: 'room_history', route: 'GET /rooms/{id}/history', path: `/rooms/${roomId}/history`, key: 'visits', rows: Math.min(100, n.room), data: `${n.room} visits` },
      { name: 'room_audit', route: 'GET /rooms/{id}/audit', path: `/rooms/${auditRoom}/audit`, key: 'entries', rows: Math.min(50, n.audit), data: `${n.audit} entries` },
      // reference, no history: gateway -> rooms -> one Postgres row, the same stack and rounds
      { name: 'ref_room_get', route: 'GET /rooms/{id} (reference)', path: `/rooms/${roomId}`, key: null, rows: 1, data: 'one room row', ref: true },
    ];
    const once = async (r) => {
      const t0 = process.hrtime.bigint();
      const a = await get(s.url + r.path, token);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (a.status !== 200) throw new Error(`${r.route}: ${a.status} ${a.body}`);
      return { ms, a };
    };
    for (const r of routes) {
      // the page is the one asked for: full, with a next cursor
      const { a } = await once(r);
      const j = JSON.parse(a.body);
      if (r.key && (j[r.key]?.length !== r.rows || !j.next_cursor)) throw new Error(`${r.route}: ${j[r.key]?.length} rows, expected ${r.rows} and a cursor`);
      for (let i = 0; i < WARMUP; i++) await once(r);
      r.lat = [];
      r.cpu = {};
    }
    const pids = Object.fromEntries(['gateway', 'webhook', 'rooms', 'auth'].map((d) => [d, s.daemon(d).proc.pid]));
    const postmaster = Number(readFileSync(join(s.dir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const cpuOf = (d) => (d === 'postgres' ? pgCpuS(postmaster) : cpuS(pids[d]));
    const who = [...Object.keys(pids), 'postgres'];
    // what the processes spend doing nothing, for reading the per-request CPU
    const i0 = Object.fromEntries(who.map((d) => [d, cpuOf(d)]));
    const t0 = Date.now();
    await sleep(3000);
    const idleS = (Date.now() - t0) / 1000;
    const idle = who.map((d) => `${d} ${(((cpuOf(d) - i0[d]) * 1000) / idleS).toFixed(0)}`).join(', ');
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const per = Math.ceil(perRoute / rounds);
    for (let k = 0; k < rounds; k++) {
      for (const r of routes) {
        const c0 = Object.fromEntries(who.map((d) => [d, cpuOf(d)]));
        for (let i = 0; i < per; i++) r.lat.push((await once(r)).ms);
        for (const d of who) r.cpu[d] = (r.cpu[d] ?? 0) + cpuOf(d) - c0[d];
      }
    }
    const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

    console.log(`\nThrough the gateway (${process.env.CX_BUILD_DIR ?? 'build'}), one keep-alive connection, one request at a time, ${rounds} interleaved rounds; load average ${load} before, ${loadAfter} after.\n`);
    console.log('| route (first page, HTTP) | data | rows | requests | p50 ms | p99 ms | CPU µs/request gateway / webhook / rooms / auth / postgres |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of routes) {
      r.lat.sort((x, y) => x - y);
      r.p50 = quantile(r.lat, 0.5);
      r.p99 = quantile(r.lat, 0.99);
      const us = who.map((d) => Math.round((r.cpu[d] * 1e6) / r.lat.length)).join(' / ');
      console.log(`| ${r.route} | ${r.data} | ${r.rows} | ${r.lat.length} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${us} |`);
    }
    console.log(`\nIdle CPU (ms per second, ${idleS.toFixed(1)} s with no request): ${idle}. CPU is /proc utime+stime at 10 ms resolution.\n`);
    for (const r of routes.filter((x) => !x.ref)) console.log(`LIMIT name=history_${r.name}_p99_ms value=${r.p99.toFixed(2)} target=${TARGET_MS} op=lt unit=ms -- ${r.route} first page through the gateway, ${r.data} (p99)`);
  } finally {
    agent.destroy();
    await s.stop();
  }
}

main().catch((e) => {
  console.error(`history-http: ${e.stack ?? e}`);
  process.exit(1);
});
