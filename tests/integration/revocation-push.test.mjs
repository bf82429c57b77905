// revocation-push.test.mjs: the pushed deny-list (issue 14). Every copy
// trusts the revocations pushed on <prefix>.events.auth.revoked and asks
// Redis only to fill itself: at start (cold start from the index
// cx:revoked:index) and after a gap (NATS reconnect). A revoked token must
// be refused within the push time, after a restart, and after a gap.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, buildDir, sleep } from '../harness/stack.mjs';

const NO_ROOMS = existsSync(join(buildDir, 'cx-rooms')) ? false : `cx-rooms is not built in ${buildDir}`;
let seq = 0;
const bearer = (t) => ({ Authorization: `Bearer ${t}` });
const sidOf = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url')).sid;

async function session(s) {
  const email = `rp${Date.now().toString(36)}${(seq++).toString(36)}@example.com`;
  const r = await s.natsRequest('auth.register', { name: 'Rev Push', email, password: 'correct horse' });
  assert.equal(r.status, 200, r.text);
  const l = await s.natsRequest('auth.login', { email, password: 'correct horse' });
  assert.equal(l.status, 200, l.text);
  return l.json;
}

// rooms.list with the token until it is answered with a status in want (or
// the time is up); returns the last answer.
async function until(s, token, want, ms) {
  let r;
  for (const t0 = Date.now(); Date.now() - t0 < ms;) {
    try {
      r = await s.natsRequest('rooms.list', {}, bearer(token), 1000);
      if (want.includes(r.status)) return r;
    } catch {
      r = { status: 0, text: 'no answer' }; // NATS away, rooms not back yet
    }
    await sleep(50);
  }
  return r;
}

describe('pushed deny-list', { skip: NO_ROOMS }, () => {
  let s;
  before(async () => {
    s = await startStack({ daemons: ['auth', 'rooms'] });
  });
  after(async () => {
    if (s) await s.stop();
  });

  test('a logout is refused at another service within the push time, and the pushed entry is trusted without Redis', async () => {
    const l = await session(s);
    assert.equal((await s.natsRequest('rooms.list', {}, bearer(l.access_token))).status, 200);
    assert.equal((await s.natsRequest('auth.logout', { refresh_token: l.refresh_token })).status, 200);
    const r = await until(s, l.access_token, [401], 1000);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'token_revoked');
    // Redis losing the entry does not un-revoke it: the push is the truth here
    const sid = sidOf(l.access_token);
    await s.redis('DEL', `cx:revoked:sid:${sid}`);
    await s.redis('ZREM', 'cx:revoked:index', sid);
    await sleep(1100); // past the old per-request cache
    const again = await s.natsRequest('rooms.list', {}, bearer(l.access_token));
    assert.equal(again.status, 401, again.text);
    assert.equal(again.json.code, 'token_revoked');
  });

  test('logout writes the index the copies load from', async () => {
    const l = await session(s);
    assert.equal((await s.natsRequest('auth.logout', { refresh_token: l.refresh_token })).status, 200);
    const score = Number(await s.redis('ZSCORE', 'cx:revoked:index', sidOf(l.access_token)));
    assert.ok(score > Date.now() / 1000, `index entry ${score} lives on`);
  });

  test('after a restart (cold start from Redis) the revoked token is refused', async () => {
    const l = await session(s);
    assert.equal((await s.natsRequest('auth.logout', { refresh_token: l.refresh_token })).status, 200);
    assert.equal(await s.killDaemon('rooms', s.daemons.rooms.length - 1), 0);
    s.startDaemon('rooms');
    await s.waitReady('rooms');
    const r = await s.natsRequest('rooms.list', {}, bearer(l.access_token));
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'token_revoked');
    // and a live session still works
    const ok = await session(s);
    assert.equal((await s.natsRequest('rooms.list', {}, bearer(ok.access_token))).status, 200);
  });

  test('a revocation whose push was missed is refused after the NATS reconnect (gap filled from Redis)', async () => {
    const l = await session(s);
    assert.equal((await s.natsRequest('rooms.list', {}, bearer(l.access_token))).status, 200);
    // revoked in the store of record while no event reaches rooms: as if
    // the push had been lost
    const sid = sidOf(l.access_token);
    await s.redis('SET', `cx:revoked:sid:${sid}`, '1', 'EX', '600');
    await s.redis('ZADD', 'cx:revoked:index', String(Math.floor(Date.now() / 1000) + 600), sid);
    await s.storeCtl('restart', 'nats');
    // well inside the 30 s periodic resync: the reconnect itself reloads
    const r = await until(s, l.access_token, [401], 8000);
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'token_revoked');
    // rooms is back; auth reconnects on its own schedule (a register sent
    // before it has resubscribed finds no responders)
    await s.waitReady('auth');
    const ok = await session(s);
    assert.equal((await until(s, ok.access_token, [200], 8000)).status, 200);
  });
});
