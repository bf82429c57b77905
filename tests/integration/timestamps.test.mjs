// timestamps.test.mjs: one rule for a database timestamp that does not parse
// (issue 19 item 12). Postgres stores 'infinity' in a timestamptz and
// returns it as the text "infinity", which is no RFC 3339 time: every
// service answers such a row with 500 internal and logs an error line
// naming the column (libcommon cx_time_pg_column), instead of rooms showing
// created_at "" and auth answering 500 without saying why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startStack, sleep } from '../harness/stack.mjs';

let s;
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

before(async () => {
  s = await startStack({ daemons: ['auth', 'rooms'] });
});
after(async () => {
  if (s) await s.stop();
});

async function login() {
  const email = `ts-${randomUUID()}@example.com`;
  const reg = await s.natsRequest('auth.register', { name: 'Tess', email, password: 'correct horse battery' });
  assert.equal(reg.status, 200, reg.text);
  const l = await s.natsRequest('auth.login', { email, password: 'correct horse battery' });
  assert.equal(l.status, 200, l.text);
  return { id: l.json.user_id, token: l.json.access_token };
}

async function logged(name, re) {
  for (let i = 0; i < 20 && !re.test(s.logs(name)); i++) await sleep(50);
  assert.match(s.logs(name), re);
}

test('rooms: an unparsable created_at or ended_at is a 500 with a log line naming the column', async () => {
  const u = await login();
  const c = await s.natsRequest('rooms.create', { name: 'ts room' }, bearer(u.token));
  assert.equal(c.status, 200, c.text);
  const id = c.json.id;
  assert.equal((await s.natsRequest('rooms.get', { id }, bearer(u.token))).status, 200);

  await s.psql(`UPDATE rooms SET created_at = 'infinity' WHERE id = '${id}'`);
  const g = await s.natsRequest('rooms.get', { id }, bearer(u.token));
  assert.equal(g.status, 500, g.text);
  assert.equal(g.json.code, 'internal');
  await logged('rooms', /timestamp column rooms\.created_at: unparsable value \\"infinity\\"/);
  const l = await s.natsRequest('rooms.list', {}, bearer(u.token));
  assert.equal(l.status, 500, l.text);

  await s.psql(`UPDATE rooms SET created_at = now(), status = 'ended', ended_at = '-infinity' WHERE id = '${id}'`);
  const e = await s.natsRequest('rooms.get', { id }, bearer(u.token));
  assert.equal(e.status, 500, e.text);
  await logged('rooms', /timestamp column rooms\.ended_at: unparsable value \\"-infinity\\"/);

  await s.psql(`UPDATE rooms SET ended_at = now() WHERE id = '${id}'`);
  const ok = await s.natsRequest('rooms.get', { id }, bearer(u.token));
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.json.ended_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
});

test('auth: an unparsable users.created_at is the same 500 with a log line naming the column', async () => {
  const u = await login();
  assert.equal((await s.natsRequest('auth.me', {}, bearer(u.token))).status, 200);
  await s.psql(`UPDATE users SET created_at = 'infinity' WHERE id = '${u.id}'`);
  const me = await s.natsRequest('auth.me', {}, bearer(u.token));
  assert.equal(me.status, 500, me.text);
  assert.equal(me.json.code, 'internal');
  await logged('auth', /timestamp column users\.created_at: unparsable value \\"infinity\\"/);
});
