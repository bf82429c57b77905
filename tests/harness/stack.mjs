// stack.mjs: a real Calixio stack on loopback for one integration test file.
//
// startStack() starts throw-away nats-server, PostgreSQL and Redis on free
// ports (tests/harness/stores.sh), applies the migrations, starts the chosen
// daemons from $CX_BUILD_DIR, waits until each answers (its $SRV.PING, or
// /healthz for the gateway) and returns helpers to talk to them. stop() ends
// everything and fails when a daemon did not exit 0 on SIGTERM (a crash, an
// ASan/LSan report or a hung drain all show up there).
//
// The stores run secured by default (issue 12, opts.secure = false turns it
// off): every daemon gets its own NATS user, Postgres role and Redis ACL user
// from deploy/permissions/calixio.tsv (stores.sh DIR/env.<daemon>), and the
// test's own clients use the operator users. stop() also fails when a daemon
// logged a NATS permission violation, so a subscription or publish missing
// from the permission table fails every test file that exercises it.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, chmodSync, readdirSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const buildDir = process.env.CX_BUILD_DIR || join(repoRoot, 'build');
const storesSh = join(here, 'stores.sh');

export const DEFAULT_ENV = {
  JWT_SECRET: 'test-jwt-secret-0123456789',
  LIVEKIT_API_KEY: 'devkey',
  LIVEKIT_API_SECRET: 'secret',
  LIVEKIT_PUBLIC_URL: 'ws://127.0.0.1:7880',
  LOG_LEVEL: 'debug',
  // login throttling and rate limits are tested on purpose, not by accident
  RATE_LIMIT_RPS: '0',
  PASSWORD_OPSLIMIT: '2',
  PASSWORD_MEMLIMIT: '8388608',
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:exitcode=66',
  LSAN_OPTIONS: `suppressions=${join(dirname(fileURLToPath(import.meta.url)), '..', 'lsan.supp')}:print_suppressions=0`,
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1:exitcode=67',
};

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseEnv(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

async function migrate(env, stackDir) {
  const bin = join(buildDir, 'cx-migrate');
  const menv = { ...process.env, DATABASE_URL: env.DATABASE_URL, MIGRATIONS_DIR: join(repoRoot, 'migrations') };
  if (existsSync(bin)) {
    // the grants of the permission table, applied by cx-migrate after the migrations
    const { stdout: grants } = await execFileP(join(repoRoot, 'tools', 'cx-perms'), ['pg']);
    writeFileSync(join(stackDir, 'grants.sql'), grants);
    await execFileP(bin, ['up'], { env: { ...menv, MIGRATIONS_GRANTS: join(stackDir, 'grants.sql') } });
    await execFileP(storesSh, ['roles', stackDir]);
    return;
  }
  // Fallback while cx-migrate is not built: apply the up parts with psql.
  const dir = join(repoRoot, 'migrations');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.sql')).sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    const up = text.split('-- +down')[0].replace('-- +up', '');
    await execFileP('psql', [env.DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', up]);
  }
}

class Daemon {
  constructor(name, idx, env, dir) {
    this.name = name;
    this.idx = idx;
    this.env = env;
    this.stderr = '';
    this.exit = null;
    const bin = join(buildDir, `cx-${name}`);
    if (!existsSync(bin)) throw new Error(`${bin} is not built`);
    this.logFile = createWriteStream(join(dir, `${name}.${idx}.log`));
    this.proc = spawn(bin, [], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => {
      this.stderr += d.toString();
      this.logFile.write(d);
    });
    this.exited = new Promise((res) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        this.logFile.end();
        res(this.exit);
      });
    });
  }

  async kill(signal = 'SIGTERM', timeoutMs = 15000) {
    this.killed = true;
    if (this.exit) return this.exit;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }
}

export async function startStack(opts = {}) {
  const daemons = opts.daemons ?? ['auth', 'rooms', 'media', 'webhook', 'gateway'];
  const copies = opts.copies ?? {};
  const dir = mkdtempSync(join(tmpdir(), 'cx-stack-'));
  chmodSync(dir, 0o755);
  const secure = opts.secure ?? true;
  const { stdout } = await execFileP(storesSh, ['start', dir, ...(opts.stores ?? ['nats', 'pg', 'redis'])], {
    env: { ...process.env, CX_STORES_SECURE: secure ? '1' : '0' },
  });
  const storeEnv = parseEnv(stdout);
  if (storeEnv.PG_PORT) await migrate(storeEnv, dir);
  const httpPort = await freePort();
  const env = {
    PATH: process.env.PATH,
    ...DEFAULT_ENV,
    // the operator's credentials stay with the test
    ...Object.fromEntries(Object.entries(storeEnv).filter(([k]) => !/^(NATS|REDIS)_ADMIN_|^CX_SECRETS_DIR$/.test(k))),
    HTTP_ADDR: `127.0.0.1:${httpPort}`,
    MIGRATIONS_DIR: join(repoRoot, 'migrations'),
    ...(opts.env ?? {}),
  };
  const stack = new Stack(dir, env, storeEnv, httpPort);
  try {
    // services first, the gateway last, so /readyz is green when we return
    const order = [...daemons].sort((a, b) => (a === 'gateway') - (b === 'gateway'));
    for (const name of order) {
      for (let i = 0; i < (copies[name] ?? 1); i++) stack.startDaemon(name);
    }
    for (const name of order) await stack.waitReady(name, copies[name] ?? 1);
  } catch (e) {
    await stack.stop({ check: false });
    throw e;
  }
  return stack;
}

class Stack {
  constructor(dir, env, storeEnv, httpPort) {
    this.dir = dir;
    this.env = env;
    this.storeEnv = storeEnv;
    this.url = `http://127.0.0.1:${httpPort}`;
    // opts.env.NATS_URL (e.g. a comma-separated cluster list) wins over the stores' server
    this.natsUrl = env.NATS_URL ?? storeEnv.NATS_URL;
    this.prefix = env.CALIXIO_SUBJECT_PREFIX || 'calixio';
    this.daemons = {};
    this._nc = null;
    // the operator's NATS user (every subject), for the test's own clients
    this.natsAuth = storeEnv.NATS_ADMIN_USER ? { user: storeEnv.NATS_ADMIN_USER, pass: storeEnv.NATS_ADMIN_PASSWORD } : {};
    this.natsAdminEnv = storeEnv.NATS_ADMIN_USER ? { NATS_USER: storeEnv.NATS_ADMIN_USER, NATS_PASSWORD: storeEnv.NATS_ADMIN_PASSWORD } : {};
  }

  // The daemon's own credentials (DIR/env.<name>, written by stores.sh).
  daemonEnv(name) {
    const f = join(this.dir, `env.${name}`);
    if (!existsSync(f)) return {};
    const own = parseEnv(readFileSync(f, 'utf8'));
    // least privilege: the owner's DATABASE_URL is not handed to daemons
    if (this.env.DATABASE_URL === this.storeEnv.DATABASE_URL) own.DATABASE_URL = '';
    return own;
  }

  // {user, pass} of a principal's NATS user ('auth', ..., 'admin'); null when not secured.
  natsCreds(name) {
    const f = join(this.dir, 'secrets', `nats-${name}.pw`);
    return existsSync(f) ? { user: name, pass: readFileSync(f, 'utf8').trim() } : null;
  }

  secret(store, name) {
    const f = join(this.dir, 'secrets', `${store}-${name}.pw`);
    return existsSync(f) ? readFileSync(f, 'utf8').trim() : null;
  }

  startDaemon(name, extraEnv = {}) {
    const list = (this.daemons[name] ??= []);
    const d = new Daemon(name, list.length, { ...this.env, ...this.daemonEnv(name), ...extraEnv }, this.dir);
    list.push(d);
    return d;
  }

  daemon(name, idx = 0) {
    return this.daemons[name]?.[idx];
  }

  logs(name, idx = 0) {
    return this.daemons[name]?.[idx]?.stderr ?? '';
  }

  async nats() {
    if (!this._nc || this._nc.isClosed()) {
      this._nc = await connect({ servers: this.natsUrl.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 200, ...this.natsAuth });
    }
    return this._nc;
  }

  subject(s) {
    return s.startsWith('$') || s.startsWith(this.prefix + '.') ? s : `${this.prefix}.${s}`;
  }

  // Counts the instances of calixio-<name> answering $SRV.PING within the window.
  async pingCount(name, windowMs = 300) {
    const nc = await this.nats();
    const inbox = `_INBOX.ping.${Math.random().toString(36).slice(2)}`;
    const sub = nc.subscribe(inbox);
    let n = 0;
    const done = (async () => {
      for await (const _ of sub) n++;
    })();
    nc.publish(`$SRV.PING.calixio-${name}`, new Uint8Array(0), { reply: inbox });
    await sleep(windowMs);
    sub.unsubscribe();
    await done;
    return n;
  }

  async waitReady(name, count = 1, timeoutMs = 15000) {
    const t0 = Date.now();
    const alive = () => {
      for (const d of this.daemons[name] ?? []) {
        if (d.exit && !d.killed) throw new Error(`cx-${name} exited ${JSON.stringify(d.exit)} while starting:\n${d.stderr}`);
      }
    };
    while (Date.now() - t0 < timeoutMs) {
      alive();
      if (name === 'gateway') {
        try {
          const r = await fetch(this.url + '/healthz');
          if (r.status === 200) return;
        } catch {
          /* not listening yet */
        }
        await sleep(50);
      } else if ((await this.pingCount(name, 150)) >= count) {
        return;
      }
    }
    alive();
    throw new Error(`cx-${name} not ready after ${timeoutMs} ms:\n${this.logs(name)}`);
  }

  async killDaemon(name, idx = 0, signal = 'SIGTERM') {
    const d = this.daemon(name, idx);
    const e = await d.kill(signal);
    return e.code ?? e.signal;
  }

  // NATS request with a JSON body; returns {status, headers, json, text}.
  async natsRequest(subject, obj = {}, hdrs = {}, timeout = 5000) {
    const nc = await this.nats();
    const h = natsHeaders();
    h.set('Content-Type', 'application/json');
    for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
    const m = await nc.request(this.subject(subject), JSON.stringify(obj), { timeout, headers: h });
    const code = m.headers?.get('Nats-Service-Error-Code');
    const text = new TextDecoder().decode(m.data);
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: code ? Number(code) : 200, headers: m.headers, json, text };
  }

  // HTTP through the gateway; opts: {json, body, headers}.
  async http(method, path, opts = {}) {
    const headers = { ...(opts.headers ?? {}) };
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['Content-Type'] ??= 'application/json';
    }
    const r = await fetch(this.url + path, { method, headers, body, redirect: 'manual' });
    const text = await r.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: r.status, headers: r.headers, json, text };
  }

  async psql(sql) {
    const { stdout } = await execFileP('psql', [this.storeEnv.DATABASE_URL, '-X', '-q', '-tA', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
    return stdout.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
  }

  async redis(...args) {
    // on a Redis Cluster (stores: [..., 'redis-cluster']) follow redirections
    const c = this.storeEnv.REDIS_CLUSTER ? ['-c'] : [];
    const auth = this.storeEnv.REDIS_ADMIN_USER ? ['--user', this.storeEnv.REDIS_ADMIN_USER, '--pass', this.storeEnv.REDIS_ADMIN_PASSWORD, '--no-auth-warning'] : [];
    const { stdout } = await execFileP('redis-cli', [...c, '-h', '127.0.0.1', '-p', this.storeEnv.REDIS_PORT, ...auth, ...args]);
    return stdout.trim();
  }

  async storeCtl(cmd, what) {
    await execFileP(storesSh, [cmd, this.dir, what]);
  }

  async stop({ check = true } = {}) {
    const bad = [];
    const all = Object.values(this.daemons).flat();
    // gateway first, so nothing new reaches the services while they drain
    all.sort((a, b) => (b.name === 'gateway') - (a.name === 'gateway'));
    for (const d of all) {
      const already = d.exit;
      const e = await d.kill('SIGTERM');
      if (!already && e.code !== 0) bad.push(`cx-${d.name}#${d.idx} exit ${JSON.stringify(e)}:\n${d.stderr.split('\n').slice(-40).join('\n')}`);
      // a subject the daemon's NATS user may not use: a row missing from the permission table
      // (a reply to a request received before a NATS restart or reconnect is refused by the
      // server, which forgot the grant with the old connection: a lost reply, not a missing row)
      const denied = d.stderr.split('\n').filter((l) => /Permissions Violation|not permitted/i.test(l) && !/Publish to \\?"_INBOX\./.test(l));
      if (denied.length) bad.push(`cx-${d.name}#${d.idx} hit NATS permissions (deploy/permissions/calixio.tsv):\n${denied.slice(0, 5).join('\n')}`);
    }
    if (this._nc) await this._nc.close().catch(() => {});
    await execFileP(storesSh, ['stop', this.dir]).catch(() => {});
    if (!process.env.CX_KEEP_STACK) rmSync(this.dir, { recursive: true, force: true });
    if (check && bad.length) throw new Error(`daemons did not exit cleanly:\n${bad.join('\n')}`);
  }
}

// Mints a Calixio access token in JS (for tests that need one without auth).
export function mintAccessToken({ secret = DEFAULT_ENV.JWT_SECRET, sub, username = 'Test User', sid = 'test-session', ttl = 600, now = Math.floor(Date.now() / 1000), extra = {}, header = { alg: 'HS256', typ: 'JWT' } }) {
  return signJwt(header, { iss: 'calixio', aud: 'calixio', sub, username, sid, jti: `jti-${Math.random().toString(36).slice(2)}`, iat: now, nbf: now, exp: now + ttl, ...extra }, secret);
}

import { createHmac } from 'node:crypto';
export function signJwt(header, payload, secret, alg = 'sha256') {
  const b64u = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  const input = `${b64u(header)}.${b64u(payload)}`;
  const sig = alg ? createHmac(alg, secret).update(input).digest('base64url') : '';
  return `${input}.${sig}`;
}
