// driver.mjs: the measuring half of bench/run.sh (which starts the stack and
// passes it here through the environment: BENCH_URL, BENCH_PIDS, BENCH_WORK,
// BENCH_BUILD, BENCH_ROOT, NATS_URL, DATABASE_URL, REDIS_PORT).
//
// For every scenario: one warm-up run, then BENCH_REPEATS runs of
// BENCH_DURATION with wrk (BENCH_CONNECTIONS connections, BENCH_THREADS
// threads); the medians go in the table. Around every run it samples the CPU
// time of each daemon, of the stores, of wrk and of the whole box (/proc), and
// the RSS of each daemon before and after each scenario. Progress goes to
// stderr; the table goes to stdout and to bench/last-run.md.
//
// Exit status: 1 when a scenario could not run, 0 otherwise; a figure never
// fails the run.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cpus, totalmem, loadavg } from 'node:os';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const E = process.env;
const ROOT = E.BENCH_ROOT;
const BUILD = E.BENCH_BUILD;
const WORK = E.BENCH_WORK;
const URL = E.BENCH_URL;
const LUA = join(ROOT, 'bench', 'lua');
const T0 = Number(E.BENCH_T0 || Math.floor(Date.now() / 1000));

function seconds(v, dflt) {
  if (v === undefined || v === '') return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`bad duration "${v}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}
const intEnv = (k, d) => (E[k] ? Number.parseInt(E[k], 10) : d);

const DUR = seconds(E.BENCH_DURATION, 10);
const WARM = seconds(E.BENCH_WARMUP, 2);
const REPEATS = intEnv('BENCH_REPEATS', 3);
const CONNS = intEnv('BENCH_CONNECTIONS', 64);
const THREADS = intEnv('BENCH_THREADS', 2);
const LOGIN_CONNS = intEnv('BENCH_LOGIN_CONNECTIONS', 8);
const ONLY = E.BENCH_ONLY ? new Set(E.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const NCPU = cpus().length;

const log = (...a) => console.error('[bench]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

// ---- /proc ------------------------------------------------------------------
function procStat(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status) || [0, 0])[1]);
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile'), threads: kb('Threads') };
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = procStat(d);
    if (s && s.ppid === Number(pid)) out.push(Number(d));
  }
  return out;
}

function sysTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const daemonPids = Object.fromEntries((E.BENCH_PIDS || '').split(',').filter(Boolean).map((x) => x.split(':')).map(([n, p]) => [n, Number(p)]));
const DAEMONS = Object.keys(daemonPids);
const pidFile = (f) => {
  try {
    return Number(readFileSync(join(WORK, f), 'utf8').split('\n')[0].trim());
  } catch {
    return 0;
  }
};
const natsPid = pidFile('nats.pid');
const redisPid = pidFile('redis.pid');
const pgPid = pidFile('pgdata/postmaster.pid');

// CPU groups: name -> () => [pids]
function cpuGroups(extra) {
  const g = {};
  for (const d of DAEMONS) g[d] = () => [daemonPids[d]];
  g.nats = () => [natsPid];
  g.pg = () => [pgPid, ...childrenOf(pgPid)];
  g.redis = () => [redisPid];
  if (extra) g[extra.name] = () => [extra.pid, ...childrenOf(extra.pid)];
  return g;
}

function snapshot(groups) {
  const s = { t: process.hrtime.bigint(), sys: sysTicks(), g: {} };
  for (const [k, f] of Object.entries(groups)) s.g[k] = f().reduce((a, p) => a + (procStat(p)?.ticks ?? 0), 0);
  return s;
}

// CPU between two snapshots in % of one core; `busy` is the whole box
// (100 % per core), `other` what no tracked process explains.
function cpuDelta(a, b, extraTicks = {}) {
  const dt = Number(b.t - a.t) / 1e9;
  const out = {};
  let sum = 0;
  for (const k of Object.keys(a.g)) {
    out[k] = ((b.g[k] - a.g[k]) / HZ / dt) * 100;
    sum += out[k];
  }
  for (const [k, ticks] of Object.entries(extraTicks)) {
    out[k] = (ticks / HZ / dt) * 100;
    sum += out[k];
  }
  const db = b.sys.busy - a.sys.busy;
  const dtot = b.sys.total - a.sys.total;
  out.busy = dtot > 0 ? (db / dtot) * NCPU * 100 : 0;
  out.other = Math.max(0, out.busy - sum);
  return out;
}

function rssAll() {
  const r = {};
  for (const d of DAEMONS) {
    const s = procStat(daemonPids[d]);
    r[d] = s ? { rss: s.rss / 1024, hwm: s.hwm / 1024, anon: s.anon / 1024, file: s.file / 1024, threads: s.threads } : null;
  }
  return r;
}

// ---- processes ------------------------------------------------------------------
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

// Runs a command through bash so that its CPU time (cutime+cstime of the
// wrapping shell) can be read after it exits. Resolves {code, stdout, stderr, cpuTicks}.
function runMeasured(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const script = '"$@"; rc=$?; read -r -a f < /proc/$$/stat; echo "CHILDCPU ${f[15]} ${f[16]}"; exit $rc';
    const p = spawn('bash', ['-c', script, 'measured', cmd, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => {
      const m = /CHILDCPU (\d+) (\d+)/.exec(stdout);
      resolve({ code, stdout, stderr, cpuTicks: m ? Number(m[1]) + Number(m[2]) : 0 });
    });
  });
}

function parseKv(line) {
  const o = {};
  for (const m of line.matchAll(/(\w+)=([^\s]+)/g)) o[m[1]] = Number.isNaN(Number(m[2])) ? m[2] : Number(m[2]);
  return o;
}

async function wrk({ url, path, method = 'GET', body, token, ct, lua = 'plain.lua', conns = CONNS, duration = DUR, timeout = 5, env = {} }) {
  const args = ['-t', String(Math.min(THREADS, conns)), '-c', String(conns), '-d', `${duration}s`, '--timeout', `${timeout}s`, '-s', join(LUA, lua), url];
  const wenv = { BENCH_LUA_DIR: LUA, BENCH_THREADS: String(Math.min(THREADS, conns)), BENCH_METHOD: method, BENCH_PATH: path ?? '/', BENCH_BODY: body ?? '', BENCH_TOKEN: token ?? '', BENCH_CT: ct ?? '', ...env };
  const r = await runMeasured('wrk', args, wenv);
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH '));
  if (r.code !== 0 || !line) throw new Error(`wrk failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  const o = parseKv(line);
  o.errors = o.status_err + o.sock_err;
  o.wrkTicks = r.cpuTicks;
  return o;
}

class Server {
  constructor(name, cmd, args, env = {}) {
    this.name = name;
    this.out = '';
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.proc.pid;
    this.proc.stdout.on('data', (d) => (this.out += d));
    this.proc.stderr.on('data', (d) => (this.out += d));
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
  }
  async ready(pattern, ms = 15000) {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      if (pattern.test(this.out)) return;
      if (this.proc.exitCode !== null) break;
      await sleep(20);
    }
    throw new Error(`${this.name} did not start: ${this.out.trim()}`);
  }
  async stop() {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

// ---- HTTP helpers ------------------------------------------------------------------
async function http(method, path, { json, token, base = URL } = {}) {
  const headers = {};
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await r.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body, text };
}

async function psql(sql) {
  const { stdout } = await execFileP('psql', [E.DATABASE_URL, '-X', '-q', '-tA', '-c', sql]);
  return stdout.trim();
}

async function redisCount(pattern) {
  const { stdout } = await execFileP('redis-cli', ['-h', '127.0.0.1', '-p', E.REDIS_PORT, '--scan', '--pattern', pattern], { maxBuffer: 1 << 28 });
  return stdout.split('\n').filter((l) => l.length).length;
}

async function redisCmd(...args) {
  const { stdout } = await execFileP('redis-cli', ['-h', '127.0.0.1', '-p', E.REDIS_PORT, ...args]);
  return stdout.trim();
}

// ---- scenarios -------------------------------------------------------------------------
const results = {}; // name -> summary
const failures = [];
const rss = { idle: null, prepared: null, per: {} };

const want = (name) => !ONLY || ONLY.has(name);

// A scenario: {name, label, one(i, seconds) -> wrk-like result (i = 0 is the
// warm-up), extra: {name, pid} of a reference server whose CPU is tracked,
// trackRss}. group() runs the warm-up of every member, then REPEATS rounds in
// which each member runs once (interleaved, so that a Calixio figure and its
// reference see the same background load on a shared box), and records the
// medians.
async function group(members) {
  members = members.filter((m) => want(m.name));
  const st = new Map();
  for (const m of members) {
    st.set(m, { runs: [], groups: cpuGroups(m.extra), before: m.trackRss === false ? null : rssAll(), after: null, failed: null });
    log(`${m.label}: warm-up ${WARM}s`);
    try {
      if (WARM > 0) await m.one(0, WARM);
    } catch (e) {
      st.get(m).failed = e.message;
    }
    st.get(m).after = m.trackRss === false ? null : rssAll();
  }
  for (let i = 1; i <= REPEATS; i++) {
    for (const m of members) {
      const x = st.get(m);
      if (x.failed) continue;
      try {
        const a = snapshot(x.groups);
        const r = await m.one(i, DUR);
        const b = snapshot(x.groups);
        r.cpu = cpuDelta(a, b, { wrk: r.wrkTicks ?? 0 });
        x.runs.push(r);
        x.after = m.trackRss === false ? null : rssAll();
        log(`  ${m.label} run ${i}: ${r.rps.toFixed(0)} req/s  p50 ${(r.p50_us / 1000).toFixed(2)} ms  p99 ${(r.p99_us / 1000).toFixed(2)} ms  errors ${r.errors}  (box busy ${r.cpu.busy.toFixed(0)} %, other ${r.cpu.other.toFixed(0)} %)`);
      } catch (e) {
        x.failed = e.message;
      }
    }
  }
  for (const m of members) {
    const x = st.get(m);
    if (x.failed) {
      log(`${m.label}: could not run: ${x.failed}`);
      failures.push(`${m.label}: ${x.failed}`);
      results[m.name] = { label: m.label, failed: x.failed };
      continue;
    }
    const runs = x.runs;
    const rpsMed = median(runs.map((r) => r.rps));
    const medRun = runs.reduce((best, r) => (Math.abs(r.rps - rpsMed) < Math.abs(best.rps - rpsMed) ? r : best), runs[0]);
    results[m.name] = {
      label: m.label,
      runs,
      rps: rpsMed,
      p50: median(runs.map((r) => r.p50_us)) / 1000,
      p99: median(runs.map((r) => r.p99_us)) / 1000,
      errors: runs.reduce((a, r) => a + (r.errors ?? 0), 0),
      cpu: medRun.cpu,
    };
    if (x.before) rss.per[m.name] = { label: m.label, before: x.before, after: x.after };
  }
}

async function startServer(name, cmd, args, env) {
  const srv = new Server(name, cmd, args, env);
  await srv.ready(/listening/);
  return srv;
}

// ---- main ------------------------------------------------------------------------------
async function main() {
  const startedAt = new Date();
  const load0 = loadavg();
  await sleep(1000); // cx-auth test-hashes once at start (64 MiB for a moment)
  rss.idle = rssAll();
  log(`stack at ${URL}; ${NCPU} cores; duration ${DUR}s x ${REPEATS}, ${CONNS} connections, ${THREADS} wrk threads, warm-up ${WARM}s`);

  // -- data
  const email = 'bench@calixio.local';
  const password = 'bench-password-0123';
  let r = await http('POST', '/auth/register', { json: { name: 'Bench User', email, password } });
  if (r.status !== 201) throw new Error(`register: HTTP ${r.status} ${r.text}`);
  r = await http('POST', '/auth/login', { json: { email, password } });
  if (r.status !== 200 || !r.body?.access_token) throw new Error(`login: HTTP ${r.status} ${r.text}`);
  const token = r.body.access_token;
  r = await http('POST', '/rooms', { json: { name: 'bench room' }, token });
  if (r.status !== 201 || !r.body?.id) throw new Error(`create room: HTTP ${r.status} ${r.text}`);
  const room = r.body;
  const joinPath = `/rooms/${room.id}/join`;
  const joinBody = JSON.stringify({ user_name: 'Bench Guest' });
  const cj = await http('POST', joinPath, { json: { user_name: 'Bench Guest' } });
  if (cj.status !== 200 || !cj.body?.token) throw new Error(`join: HTTP ${cj.status} ${cj.text}`);
  const uj = await http('POST', joinPath, { json: {}, token });
  if (uj.status !== 200 || uj.body?.identity !== room.owner_user_id) throw new Error(`user join: HTTP ${uj.status} ${uj.text}`);
  log(`room ${room.id} (${room.livekit_room}); guest join answers ${Object.keys(cj.body).join(',')}`);
  rss.prepared = rssAll();

  // -- reference servers, up for the whole run (idle when not loaded)
  const servers = [];
  const ref = {};
  const tryStart = async (name, label, cmd, args, env) => {
    if (!want(name)) return;
    try {
      ref[name] = await startServer(name, cmd, args, env);
      servers.push(ref[name]);
    } catch (e) {
      failures.push(`${label}: ${e.message}`);
      results[name] = { label, failed: e.message };
    }
  };
  const L = {
    healthz: 'GET /healthz (gateway alone)',
    ceiling: 'ceiling: bare libmicrohttpd',
    join_guest: 'POST /rooms/{id}/join (guest)',
    join_user: 'POST /rooms/{id}/join (logged-in)',
    peer1: 'peer: Node + livekit-server-sdk, 1 process',
    peer2: 'peer: Node + livekit-server-sdk, 2 processes',
  };
  const ports = { ceiling: await freePort(), peer1: await freePort(), peer2: await freePort() };
  await tryStart('ceiling', L.ceiling, join(BUILD, 'mhd_ceiling'), [String(ports.ceiling), String(NCPU)]);
  for (const w of [1, 2]) {
    await tryStart(`peer${w}`, L[`peer${w}`], process.execPath, [join(ROOT, 'bench', 'node-peer', 'server.mjs')], {
      PORT: String(ports[`peer${w}`]), WORKERS: String(w), ROOM_ID: room.id, ROOM_NAME: room.name, LIVEKIT_ROOM: room.livekit_room,
    });
    const srv = ref[`peer${w}`];
    if (!srv) continue;
    const pj = await http('POST', joinPath, { json: { user_name: 'Bench Guest' }, base: `http://127.0.0.1:${ports[`peer${w}`]}` });
    const same = JSON.stringify(Object.keys(pj.body ?? {}).sort()) === JSON.stringify(Object.keys(cj.body).sort());
    if (pj.status !== 200 || !same) {
      failures.push(`${L[`peer${w}`]}: its join answer differs from Calixio's: ${pj.status} ${pj.text}`);
      results[`peer${w}`] = { label: L[`peer${w}`], failed: 'answer differs' };
      delete ref[`peer${w}`];
    }
  }
  const refUrl = (n) => `http://127.0.0.1:${ports[n]}`;
  const refMember = (name, path, method, body) =>
    ref[name] ? [{ name, label: L[name], trackRss: false, extra: { name: 'ref', pid: ref[name].pid }, one: (i, d) => wrk({ url: refUrl(name), path, method, body, duration: d }) }] : [];

  try {
    // -- the gateway alone against the ceiling
    await group([
      { name: 'healthz', label: L.healthz, one: (i, d) => wrk({ url: URL, path: '/healthz', duration: d }) },
      ...refMember('ceiling', '/healthz', 'GET'),
    ]);
    // -- join against the peer
    await group([
      { name: 'join_guest', label: L.join_guest, one: (i, d) => wrk({ url: URL, path: joinPath, method: 'POST', body: joinBody, duration: d }) },
      { name: 'join_user', label: L.join_user, one: (i, d) => wrk({ url: URL, path: joinPath, method: 'POST', body: '{}', token, duration: d }) },
      ...refMember('peer1', joinPath, 'POST', joinBody),
      ...refMember('peer2', joinPath, 'POST', joinBody),
    ]);
  } finally {
    for (const srv of servers) await srv.stop();
  }

  // -- the routes added since the first version, next to join (no fixed target)
  await newRoutes(room, token, joinPath);

  // -- join under light load: a quarter of the guest join's peak, paced
  await lightLoad(joinPath, joinBody);

  // -- create
  await group([{ name: 'create', label: 'POST /rooms (create, authenticated)', one: (i, d) => wrk({ url: URL, path: '/rooms', method: 'POST', body: '{"name":"bench load room"}', token, duration: d }) }]);

  // -- webhook
  if (want('webhook')) await webhookScenario(room);

  // -- login
  await group([{ name: 'login', label: `POST /auth/login (${LOGIN_CONNS} connections)`, one: (i, d) => wrk({ url: URL, path: '/auth/login', method: 'POST', body: JSON.stringify({ email, password }), conns: LOGIN_CONNS, timeout: 30, duration: d }) }]);

  // -- the NATS floor
  await group([{ name: 'floor', label: 'NATS floor: nats.c pair, 64 in flight, 200 B', trackRss: false, one: async (i, d) => {
    const r = await runMeasured(join(BUILD, 'nats_floor'), ['-s', E.NATS_URL, '-window', '64', '-size', '200', '-d', String(i === 0 ? Math.min(d, 1) : d), '-warmup', '1']);
    const line = r.stdout.split('\n').find((l) => l.startsWith('nats_floor '));
    if (r.code !== 0 || !line) throw new Error(`nats_floor failed: ${r.stderr.trim()}`);
    const o = parseKv(line);
    return { rps: o.rps, p50_us: o.p50_us, p99_us: o.p99_us, errors: o.errors, wrkTicks: r.cpuTicks };
  } }]);

  // -- Argon2id
  let pw = null;
  if (want('login') || want('pwhash')) {
    log('Argon2id: timing crypto_pwhash_str (interactive limits)');
    const one = await runMeasured(join(BUILD, 'pwhash_time'), ['6', '1']);
    const all = await runMeasured(join(BUILD, 'pwhash_time'), ['4', String(NCPU)]);
    const l1 = one.stdout.split('\n').find((l) => l.startsWith('pwhash '));
    const l2 = all.stdout.split('\n').find((l) => l.startsWith('pwhash '));
    if (l1 && l2) pw = { one: parseKv(l1), all: parseKv(l2) };
    else failures.push(`pwhash_time: ${one.stderr} ${all.stderr}`);
  }

  // -- what a token costs (cx-media mints one per join; every bearer is verified)
  let tok = null;
  if (want('join_guest') || want('join_user') || want('tokens')) {
    const t = await runMeasured(join(BUILD, 'token_cost'), ['20000']);
    const get = (k) => Number((new RegExp(`token_cost ${k} us=([\\d.]+)`).exec(t.stdout) || [])[1]);
    if (t.code === 0) tok = { lk: get('cx_lk_token'), verify: get('cx_jwt_verify'), direct: get('direct_hs256') };
  }

  const hwm = rssAll();

  // -- the limits measured on their own stacks (live events, chat, history)
  for (const x of EXTERNAL) if (want(x.name)) await external(x);

  const prev = readPrevious();
  const report = render({ startedAt, load0, room, pw, hwm, tok, prev });
  writePrevious(startedAt);
  process.stdout.write(report);
  writeFileSync(join(ROOT, 'bench', 'last-run.md'), report);
  if (failures.length) {
    log(`could not run: \n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

// Webhook ingest: pre-signed, distinct events; afterwards every accepted event
// must be in Postgres (participant_events) and in Redis (dedup key).
const webhook = { checks: [] };
async function webhookScenario(room) {
  const gen = async (file, n, tag) => {
    const { stdout } = await execFileP(process.execPath, [join(ROOT, 'bench', 'gen-webhooks.mjs'), file, String(n), room.livekit_room, tag, String(THREADS), '1800'], { maxBuffer: 1 << 20 });
    return stdout.trim();
  };
  const warmN = Math.max(2000, Math.ceil(8000 * WARM));
  let est = 0;
  const files = {};
  const label = 'POST /livekit/webhook (signed, distinct)';
  try {
    log(`webhook: generating ${warmN} warm-up events`);
    files[0] = join(WORK, 'wh-0.txt');
    await gen(files[0], warmN, 'w0');
  } catch (e) {
    failures.push(`webhook generation: ${e.message}`);
    results.webhook = { label, failed: e.message };
    return;
  }
  await group([{ name: 'webhook', label, one: async (i, d) => {
    if (i === 1 && !files[1]) {
      const per = Math.min(intEnv('BENCH_WH_MAX', 400000), Math.max(5000, Math.ceil(Math.max(est, 1000) * d * 2.5)));
      log(`webhook: generating ${REPEATS} x ${per} events (warm-up rate ${est.toFixed(0)}/s)`);
      for (let k = 1; k <= REPEATS; k++) {
        files[k] = join(WORK, `wh-${k}.txt`);
        await gen(files[k], per, `r${k}`);
      }
    }
    const r = await wrk({ url: URL, lua: 'webhook.lua', duration: d, env: { BENCH_WH_FILE: files[i] } });
    if (i === 0) {
      est = r.accepted / d;
      if (r.exhausted) est *= 2;
      return r;
    }
    await sleep(1000); // let the in-flight requests land
    const tag = `r${i}`;
    const pg = Number(await psql(`SELECT count(*) FROM participant_events WHERE event_id LIKE 'EV_bench_${tag}_%'`));
    const rd = await redisCount(`cx:webhook:event:{*}:EV_bench_${tag}_*`);
    const ok = r.accepted <= pg && pg <= r.sent && r.accepted <= rd && rd <= r.sent;
    webhook.checks.push({ run: i, sent: r.sent, accepted: r.accepted, rejected: r.rejected, pg, redis: rd, exhausted: r.exhausted, ok });
    // rejected webhooks are errors too (wrk's status_err already counts them)
    return r;
  } }]);
  webhook.presence = Number(await redisCmd('HLEN', `cx:presence:{${room.livekit_room}}`).catch(() => NaN));
}

// Runs fn over items with at most `width` in flight; resolves the results in order.
async function pool(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

// The routes of API-ROOMS.md that sit next to join on a participant's path:
// the meeting-code lookup and join, PATCH by the host, and chat (post with
// room tokens of many guests, since one sender may send 10 per 10 s; read
// the latest page as the host). Every acknowledged post must be stored.
const chatCheck = [];
async function newRoutes(room, token, joinPath) {
  const names = ['by_code', 'join_code', 'patch', 'msg_post', 'msg_get'];
  if (!names.some(want)) return;
  const code = room.code;
  const chatPath = `${joinPath.slice(0, -'/join'.length)}/messages`;
  const nTok = intEnv('BENCH_CHAT_SENDERS', 12000);
  log(`chat: ${nTok} guest joins for room tokens (one sender may post 10 per 10 s)`);
  const joins = await pool(Array.from({ length: nTok }), 32, () => http('POST', joinPath, { json: { user_name: 'Bench Sender' } }));
  const toks = joins.filter((j) => j.status === 200 && j.body?.room_token).map((j) => j.body.room_token);
  if (toks.length < nTok) {
    const bad = joins.find((j) => j.status !== 200);
    failures.push(`chat senders: ${toks.length}/${nTok} joins gave a room token (${bad?.status} ${bad?.text})`);
  }
  const tokFile = join(WORK, 'chat-tokens.txt');
  writeFileSync(tokFile, toks.join('\n') + '\n');
  await pool(toks.slice(0, 60), 8, (t, i) => http('POST', chatPath, { json: { text: `bench history ${i}` }, token: t }));
  const L = {
    by_code: 'GET /rooms/by-code/{code} (no auth)',
    join_code: 'POST /rooms/by-code/{code}/join (guest)',
    patch: 'PATCH /rooms/{id} (host, description)',
    msg_post: `POST /rooms/{id}/messages (${toks.length} guest senders)`,
    msg_get: 'GET /rooms/{id}/messages (host, latest 50)',
  };
  const guest = JSON.stringify({ user_name: 'Bench Guest' });
  await group([
    { name: 'by_code', label: L.by_code, one: (i, d) => wrk({ url: URL, path: `/rooms/by-code/${code}`, duration: d }) },
    { name: 'join_code', label: L.join_code, one: (i, d) => wrk({ url: URL, path: `/rooms/by-code/${code}/join`, method: 'POST', body: guest, duration: d }) },
    { name: 'patch', label: L.patch, one: (i, d) => wrk({ url: URL, path: joinPath.slice(0, -'/join'.length), method: 'PATCH', body: `{"description":"bench ${i}"}`, token, duration: d }) },
    { name: 'msg_post', label: L.msg_post, one: async (i, d) => {
      const text = `bench run ${i} ${Date.now()}`;
      const r = await wrk({ url: URL, lua: 'tokens.lua', method: 'POST', path: chatPath, body: JSON.stringify({ text }), duration: d, env: { BENCH_TOKEN_FILE: tokFile } });
      await sleep(500);
      const stored = Number(await psql(`SELECT count(*) FROM chat_messages WHERE room_id = '${room.id}' AND text = '${text}'`));
      // a post in flight when wrk stops (at most one per connection) may be stored unanswered
      if (i > 0) chatCheck.push({ run: i, accepted: r.accepted, limited: r.limited, rejected: r.rejected, stored, ok: stored >= r.accepted && stored <= r.accepted + CONNS });
      return r;
    } },
    { name: 'msg_get', label: L.msg_get, one: (i, d) => wrk({ url: URL, path: `${chatPath}?limit=50`, token, duration: d }) },
  ]);
}

// Join at a quarter of the guest join's peak rate: BENCH_LIGHT_CONNECTIONS
// (16) connections, each pausing between answer and next request (wrk's
// delay()), so the box is far from saturated; the p99 is what one join costs.
async function lightLoad(joinPath, joinBody) {
  if (!want('join_light')) return;
  const peak = results.join_guest?.rps;
  const rate = Number.isFinite(peak) && peak > 0 ? peak / 4 : intEnv('BENCH_LIGHT_RATE', 2500);
  const conns = intEnv('BENCH_LIGHT_CONNECTIONS', 16);
  const pause = Math.max(1, Math.round((conns * 1000) / rate - 0.5));
  const label = `POST /rooms/{id}/join (guest) paced: ~${f0(rate)} req/s offered (${conns} connections, ${pause} ms apart)`;
  await group([{ name: 'join_light', label, one: (i, d) => wrk({ url: URL, path: joinPath, method: 'POST', body: joinBody, lua: 'paced.lua', conns, duration: d, env: { BENCH_DELAY_MS: String(pause) } }) }]);
  if (results.join_light && !results.join_light.failed) results.join_light.offered = rate;
}

// Limits measured by scripts that start their own stack from the same build
// (a chat fan-out with 1,000 listeners or 10,000 streams is not a wrk run).
// Each prints lines "LIMIT name=<id> value=<n> target=<n> op=<lt|ge> unit=<u> -- <what>".
const EXTERNAL = [
  { name: 'events', label: 'live events (bench/events.mjs)', cmd: process.execPath, args: ['bench/events.mjs'], nofile: true },
  { name: 'chat', label: 'chat (bench/chat.mjs)', cmd: process.execPath, args: ['bench/chat.mjs'], nofile: true },
  { name: 'history', label: 'history queries in Postgres (bench/history.sh)', cmd: 'bash', args: ['bench/history.sh'] },
  { name: 'history_http', label: 'history first pages through the gateway (bench/history-http.mjs)', cmd: process.execPath, args: ['bench/history-http.mjs'] },
];
const limits = [];
async function external(x) {
  if (!existsSync(join(ROOT, x.args[0]))) {
    failures.push(`${x.label}: ${x.args[0]} is missing`);
    return;
  }
  log(`${x.label}: running on its own stack`);
  const argv = [x.cmd, ...x.args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const script = `${x.nofile ? 'ulimit -n "$(ulimit -Hn)"; ' : ''}cd '${ROOT}' && exec ${argv}`;
  // their own stores: not the bench stack's (history.sh would load into a given DATABASE_URL)
  const r = await runMeasured('bash', ['-c', script], { CX_BUILD_DIR: BUILD, TMPDIR: WORK, DATABASE_URL: '', NATS_URL: '', REDIS_ADDR: '', BENCH_URL: '' });
  const found = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('LIMIT ')) {
      if (line.trim()) log(`  ${line}`);
      continue;
    }
    const [kv, what] = line.split(' -- ');
    const o = parseKv(kv);
    // errors=N / stored_missing=N on the line: the limit is missed whatever the value
    const spoiled = (Number(o.errors) || 0) > 0 || (Number(o.stored_missing) || 0) > 0;
    found.push({ script: x.name, name: o.name, value: o.value, target: o.target, op: o.op ?? 'lt', unit: o.unit ?? '', what: (what ?? o.name).trim(), spoiled });
  }
  limits.push(...found);
  if (r.code !== 0 || !found.length) failures.push(`${x.label}: exit ${r.code}, ${found.length} limits: ${r.stderr.trim().split('\n').slice(-5).join(' / ')}`);
}

// The previous run's medians (bench/last-run.json, committed with the
// figures of record), so that a regression is called out.
const LAST = () => join(ROOT, 'bench', 'last-run.json');
function readPrevious() {
  try {
    return JSON.parse(readFileSync(LAST(), 'utf8'));
  } catch {
    return null;
  }
}
function writePrevious(startedAt) {
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }
  const scen = {};
  for (const [k, a] of Object.entries(results)) if (!a.failed) scen[k] = { label: a.label, rps: a.rps, p50: a.p50, p99: a.p99, errors: a.errors, cpu_us: cpuPerReq(a) };
  if (ONLY) return; // a partial run is not a run of record
  writeFileSync(LAST(), JSON.stringify({ date: startedAt.toISOString(), commit, scenarios: scen, limits }, null, 1) + '\n');
}

// ---- report ------------------------------------------------------------------------------
const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');

function machine() {
  const cpu = cpus()[0]?.model ?? '?';
  let lscpu = '';
  try {
    lscpu = execFileSync('lscpu', { encoding: 'utf8' }).split('\n').filter((l) => /^(Model name|Hypervisor vendor|CPU\(s\)):/.test(l)).map((l) => l.replace(/\s+/g, ' ')).join('; ');
  } catch {
    /* no lscpu */
  }
  return `${NCPU} vCPU (${cpu}); ${lscpu}; ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`;
}

// CPU time of the serving side per request in µs (wrk and "other" excluded;
// for the NATS floor the nats_floor process is the serving side too).
function cpuPerReq(a) {
  if (!a.cpu || !(a.rps > 0)) return NaN;
  const skip = new Set(['busy', 'other', 'wrk']);
  let pct = 0;
  for (const [k, v] of Object.entries(a.cpu)) if (!skip.has(k)) pct += v;
  if (a.label.startsWith('NATS floor')) pct += a.cpu.wrk;
  return (pct / 100 / a.rps) * 1e6;
}

function render({ startedAt, load0, room, pw, hwm, tok, prev }) {
  const R = results;
  const L = [];
  const row = (name, ref, refLabel) => {
    const a = R[name];
    if (!a) return;
    if (a.failed) {
      L.push(`| ${a.label} | could not run | | | | | | |`);
      return;
    }
    let refRps = NaN;
    let refText = '';
    if (typeof ref === 'number') {
      refRps = ref;
      refText = refLabel;
    } else if (ref && R[ref] && !R[ref].failed) {
      refRps = R[ref].rps;
      refText = R[ref].label.split(':')[0] + (refLabel ? ` ${refLabel}` : '');
    }
    const ratio = Number.isFinite(refRps) && refRps > 0 ? `${(a.rps / refRps).toFixed(2)}×` : '–';
    const lower = name === 'webhook' && webhook.checks.some((c) => c.exhausted) ? '≥' : '';
    L.push(`| ${a.label} | ${lower}${f0(a.rps)} | ${f2(a.p50)} | ${f2(a.p99)} | ${a.errors} | ${f0(cpuPerReq(a))} | ${refText} | ${ratio} |`);
  };
  const dur = Math.round(Date.now() / 1000 - T0);
  L.push(`# Calixio benchmark`);
  L.push('');
  L.push(`${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}; ${machine()}; load average before the run ${load0.map((x) => x.toFixed(2)).join(' ')}.`);
  L.push(`wrk ${CONNS} connections, ${THREADS} threads, ${DUR} s per run after a ${WARM} s warm-up, ${REPEATS} runs per configuration, medians (errors: sum over the runs).`);
  L.push('');
  L.push('| scenario | req/s | p50 ms | p99 ms | errors | CPU µs/req | reference | ratio |');
  L.push('|---|---:|---:|---:|---:|---:|---|---:|');
  row('join_guest', 'peer2', '(2 processes)');
  row('join_user', 'peer2', '(2 processes)');
  row('join_light');
  row('join_code', 'join_guest');
  row('by_code', 'join_guest');
  row('patch', 'join_guest');
  row('msg_post', 'join_guest');
  row('msg_get', 'join_guest');
  row('create', 'floor');
  row('webhook', 5000, 'target 5,000/s');
  const pwRate = pw ? pw.all.rate_per_s : NaN;
  row('login', pwRate, `Argon2id: ${NCPU} threads hashing`);
  row('healthz', 'ceiling');
  row('ceiling');
  row('floor');
  row('peer1');
  row('peer2');
  if (pw) L.push(`| Argon2id crypto_pwhash_str (interactive: 2 passes, 64 MiB) | ${f1(pw.all.rate_per_s)} (${NCPU} threads) | ${f1(pw.one.ms_per_hash)} per hash, 1 thread | | | | | |`);
  L.push('');
  L.push('CPU µs/req: CPU time of the serving side (daemons, nats-server, Postgres, Redis, or the reference server; not wrk) per answered request, from the median run. It depends much less on background load than req/s does.');
  L.push('');

  // extra ratios
  const extra = [];
  const ratio = (a, b) => (R[a] && R[b] && !R[a].failed && !R[b].failed ? (R[a].rps / R[b].rps).toFixed(2) + '×' : '–');
  extra.push(`join (guest) / peer 1 process: ${ratio('join_guest', 'peer1')}; join (guest) / NATS floor: ${ratio('join_guest', 'floor')}; join (logged-in) / join (guest): ${ratio('join_user', 'join_guest')}`);
  if (R.login && !R.login.failed && R.login.cpu) extra.push(`login: cx-auth used ${f0(R.login.cpu.auth)} % of one core (the box: ${f0(R.login.cpu.busy)} % of ${NCPU * 100} %); ${pw ? `one hash ${f1(pw.one.ms_per_hash)} ms alone, ${NCPU} threads together ${f1(pw.all.rate_per_s)} hashes/s` : ''}`);
  if (tok) extra.push(`tokens (token_cost, one core): cx_lk_token ${f2(tok.lk)} µs per LiveKit join token, cx_jwt_verify (strict HS256, libsodium) ${f2(tok.verify)} µs per bearer check; the same HS256 token built directly (snprintf + libsodium HMAC) ${f2(tok.direct)} µs`);
  L.push(...extra.map((x) => `- ${x}`));
  L.push('');

  // targets
  L.push('## Targets');
  L.push('');
  const tgt = (ok, text) => L.push(`- ${ok === null ? 'n/a' : ok ? 'MET' : 'MISSED'}: ${text}`);
  const jg = R.join_guest && !R.join_guest.failed ? R.join_guest : null;
  const ju = R.join_user && !R.join_user.failed ? R.join_user : null;
  const p2 = R.peer2 && !R.peer2.failed ? R.peer2 : null;
  if (jg) {
    tgt(p2 ? jg.rps >= 1.5 * p2.rps : null, `join (guest) >= 1.5x the 2-process Node peer: ${f0(jg.rps)} vs ${p2 ? f0(1.5 * p2.rps) : '–'} req/s (${p2 ? (jg.rps / p2.rps).toFixed(2) : '–'}x)`);
    tgt(jg.p99 < 10, `join (guest) p99 < 10 ms at ${CONNS} connections: ${f2(jg.p99)} ms`);
    tgt(jg.errors === 0, `join (guest) 0 errors: ${jg.errors}`);
    const c = cpuPerReq(jg);
    tgt(Number.isFinite(c) ? c <= 100 : null, `CPU per guest join (every serving process) <= 100 µs: ${f0(c)} µs`);
  }
  if (ju && jg) tgt(ju.rps >= 0.9 * jg.rps, `join (logged-in) >= 0.9x join (guest): ${f0(ju.rps)} vs ${f0(0.9 * jg.rps)} req/s (${(ju.rps / jg.rps).toFixed(2)}x); p99 ${f2(ju.p99)} ms, errors ${ju.errors}`);
  const jl = R.join_light && !R.join_light.failed ? R.join_light : null;
  if (jl) tgt(jl.p99 < 2 && jl.errors === 0, `join (guest) under light load (${f0(jl.rps)} req/s answered, a quarter of the peak offered) p99 < 2 ms: ${f2(jl.p99)} ms, errors ${jl.errors}`);
  if (R.healthz && !R.healthz.failed && R.ceiling && !R.ceiling.failed) tgt(R.healthz.rps >= R.ceiling.rps / 2, `/healthz >= half the ceiling: ${f0(R.healthz.rps)} vs ${f0(R.ceiling.rps / 2)} req/s`);
  if (R.webhook && !R.webhook.failed) {
    const stored = webhook.checks.every((c) => c.ok);
    tgt(R.webhook.rps >= 5000 && stored, `webhook >= 5,000 events/s, all stored: ${f0(R.webhook.rps)}/s, storage check ${stored ? 'ok' : 'FAILED'}`);
  }
  const mp = R.msg_post && !R.msg_post.failed ? R.msg_post : null;
  if (mp && chatCheck.length) {
    const ok = chatCheck.every((c) => c.ok);
    tgt(mp.rps >= 3000 && ok && mp.errors === 0, `POST /rooms/{id}/messages >= 3,000 messages/s through the gateway, every acknowledged message stored: ${f0(mp.rps)}/s, p99 ${f2(mp.p99)} ms, errors ${mp.errors}; stored ${ok ? 'ok' : 'NOT ok'} (${chatCheck.map((c) => `run ${c.run}: ${c.accepted} answered 201, ${c.stored} stored, ${c.limited} answered 429`).join('; ')})`);
  }
  const anonMax = Math.max(...DAEMONS.map((d) => rss.idle[d]?.anon ?? 0));
  tgt(anonMax <= 3, `idle: every daemon <= 3 MiB private memory (RssAnon): largest ${f1(anonMax)} MiB (${DAEMONS.map((d) => `${d} ${f1(rss.idle[d]?.anon)}`).join(', ')})`);
  const notAuth = DAEMONS.filter((d) => d !== 'auth');
  const hwmMax = Math.max(...notAuth.map((d) => hwm[d]?.hwm ?? 0));
  tgt(hwmMax < 64, `under load: every daemon but auth < 64 MiB peak (VmHWM): largest ${f1(hwmMax)} MiB (${notAuth.map((d) => `${d} ${f1(hwm[d]?.hwm)}`).join(', ')})`);
  const authCap = (64 * 2) + 16;
  if (hwm.auth) tgt(hwm.auth.hwm <= authCap, `under load: auth <= PASSWORD_MEMLIMIT x CX_POOL_THREADS + 16 MiB (64 x 2 + 16 = ${authCap} MiB with the defaults): ${f1(hwm.auth.hwm)} MiB`);
  for (const x of limits) {
    const met = x.op === 'ge' ? x.value >= x.target : x.op === 'le' ? x.value <= x.target : x.value < x.target;
    tgt(Number.isFinite(x.value) ? met && !x.spoiled : false, `${x.what}: ${x.value} ${x.unit} (target ${x.op === 'ge' ? '>=' : x.op === 'le' ? '<=' : '<'} ${x.target} ${x.unit}; ${x.script})`);
  }
  L.push('');

  // webhook storage
  if (webhook.checks.length) {
    L.push('## Webhook storage check (every accepted event stored)');
    L.push('');
    L.push('| run | sent | accepted (2xx) | rejected | rows in participant_events | dedup keys in Redis | pool ran out | ok |');
    L.push('|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const c of webhook.checks) L.push(`| ${c.run} | ${c.sent} | ${c.accepted} | ${c.rejected} | ${c.pg} | ${c.redis} | ${c.exhausted ? 'yes' : 'no'} | ${c.ok ? 'yes' : 'NO'} |`);
    L.push('');
    L.push(`"ok" means accepted <= stored <= sent in both stores (a request in flight when wrk stops may be stored without its answer being counted). Presence left in Redis for the room after all runs: ${webhook.presence} participants (each participant's leave follows its join).`);
    L.push('');
  }

  // against the previous run
  if (prev?.scenarios) {
    L.push(`## Against the previous run (${prev.date}, ${prev.commit || 'unknown commit'})`);
    L.push('');
    L.push('| scenario | req/s then → now | p99 ms then → now | CPU µs/req then → now | |');
    L.push('|---|---:|---:|---:|---|');
    const pc = (a, b) => (Number.isFinite(a) && a > 0 && Number.isFinite(b) ? `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(0)} %` : '');
    for (const [k, a] of Object.entries(R)) {
      const p = prev.scenarios[k];
      if (!p || a.failed) continue;
      const worse = a.rps < 0.9 * p.rps || a.p99 > 1.25 * p.p99 + 0.5;
      L.push(`| ${a.label} | ${f0(p.rps)} → ${f0(a.rps)} (${pc(p.rps, a.rps)}) | ${f2(p.p99)} → ${f2(a.p99)} | ${f0(p.cpu_us)} → ${f0(cpuPerReq(a))} | ${worse ? '**REGRESSION** (req/s −10 % or p99 +25 % or worse)' : ''} |`);
    }
    L.push('');
  }

  // RSS
  L.push('## RSS of each daemon (MiB, VmRSS; before → after each scenario)');
  L.push('');
  L.push(`| when | ${DAEMONS.join(' | ')} |`);
  L.push(`|---|${DAEMONS.map(() => '---:').join('|')}|`);
  const cell = (x) => (x ? f1(x.rss) : '–');
  L.push(`| idle, after start | ${DAEMONS.map((d) => cell(rss.idle[d])).join(' | ')} |`);
  L.push(`| idle: of which private (RssAnon) / shared library pages (RssFile); threads | ${DAEMONS.map((d) => (rss.idle[d] ? `${f1(rss.idle[d].anon)} / ${f1(rss.idle[d].file)}; ${rss.idle[d].threads}` : '–')).join(' | ')} |`);
  L.push(`| after data preparation | ${DAEMONS.map((d) => cell(rss.prepared[d])).join(' | ')} |`);
  for (const p of Object.values(rss.per)) L.push(`| ${p.label} | ${DAEMONS.map((d) => `${cell(p.before[d])} → ${cell(p.after[d])}`).join(' | ')} |`);
  L.push(`| peak over the whole run (VmHWM) | ${DAEMONS.map((d) => (hwm[d] ? f1(hwm[d].hwm) : '–')).join(' | ')} |`);
  L.push('');

  // CPU
  L.push('## CPU during the median run (% of one core; the box has ' + NCPU * 100 + ' %)');
  L.push('');
  const cols = [...DAEMONS, 'nats', 'pg', 'redis', 'ref', 'wrk', 'other', 'busy'];
  L.push(`| scenario | ${cols.map((c) => (c === 'ref' ? 'reference server' : c === 'other' ? 'other (not ours)' : c === 'busy' ? 'box busy' : c)).join(' | ')} |`);
  L.push(`|---|${cols.map(() => '---:').join('|')}|`);
  for (const a of Object.values(R)) {
    if (a.failed || !a.cpu) continue;
    L.push(`| ${a.label} | ${cols.map((c) => (a.cpu[c] === undefined ? '' : f0(a.cpu[c]))).join(' | ')} |`);
  }
  L.push('');
  L.push(`For the NATS floor the "wrk" column is the nats_floor process (requester and replier).`);
  L.push('');
  if (failures.length) {
    L.push('## Could not run');
    L.push('');
    for (const f of failures) L.push(`- ${f}`);
    L.push('');
  }
  L.push(`Total time: ${dur} s (room ${room.id}).`);
  L.push('');
  return L.join('\n');
}

main().catch((e) => {
  log(`error: ${e.stack || e.message}`);
  process.exitCode = 1;
});
