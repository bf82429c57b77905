// account.test.mjs: the "Account" part of API-ROOMS.md (issue 18) through
// the gateway: /users/me, settings, video profiles, password change,
// sessions, account deletion and its NATS event. Every rule and error is
// asserted over HTTP; what deletion erases is checked in Postgres directly;
// a revoked device is refused by auth, rooms and media.
//   CX_BUILD_DIR=$PWD/build-asan node --test --test-concurrency=1 tests/integration/account.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { startStack, sleep } from '../harness/stack.mjs';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const DEFAULTS = {
  microphone_on_join: true, camera_on_join: true, video_quality: 'auto', theme: 'system',
  language: 'en', camera_device_id: '', microphone_device_id: '', speaker_device_id: '',
};

let s;
let seq = 0;
const newEmail = (tag = 'acct') => `${tag}${Date.now().toString(36)}${(seq++).toString(36)}@example.com`;
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

// HTTP with a bearer token; json undefined sends no body.
function api(method, path, token, json, headers = {}) {
  return s.http(method, path, { json, headers: { ...(token ? bearer(token) : {}), ...headers } });
}

const cookieToken = (r) => {
  const sc = r.headers.getSetCookie?.() ?? [r.headers.get('set-cookie')];
  const c = sc.find((x) => x && x.startsWith('refresh_token='));
  return c ? /^refresh_token=([^;]*)/.exec(c)[1] : null;
};

async function login(email, password, ua = 'test-agent') {
  const r = await s.http('POST', '/auth/login', { json: { email, password }, headers: { 'User-Agent': ua } });
  assert.equal(r.status, 200, r.text);
  const sid = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url')).sid;
  return { token: r.json.access_token, refresh: cookieToken(r), sid };
}

// A new account with one logged-in session.
async function newUser({ name = 'Alice Account', password = 'correct horse', ua } = {}) {
  const email = newEmail();
  const r = await s.http('POST', '/auth/register', { json: { name, email, password } });
  assert.equal(r.status, 201, r.text);
  const l = await login(email, password, ua);
  return { id: r.json.user_id, name, email, password, ...l };
}

function expectValidation(r, reason, fields) {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.error, 'validation_failed', r.text);
  assert.equal(r.json.reason, reason, r.text);
  if (fields) assert.deepEqual(r.json.fields, fields);
}

function expectError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.error, code, r.text);
}

const count = async (sql) => Number((await s.psql(sql))[0][0]);

// Every service refuses token with 401 token_revoked: auth (/auth/me and
// /users/me), rooms (GET /rooms) and media (join of an existing room).
async function expectRevokedEverywhere(token, roomId) {
  for (const [m, p] of [['GET', '/auth/me'], ['GET', '/users/me'], ['GET', '/rooms'], ['POST', `/rooms/${roomId}/join`]]) {
    const r = await api(m, p, token, m === 'POST' ? {} : undefined);
    expectError(r, 401, 'token_revoked');
  }
}

async function expectWorksEverywhere(token, roomId) {
  assert.equal((await api('GET', '/auth/me', token)).status, 200);
  assert.equal((await api('GET', '/users/me', token)).status, 200);
  assert.equal((await api('GET', '/rooms', token)).status, 200);
  const j = await api('POST', `/rooms/${roomId}/join`, token, {});
  assert.equal(j.status, 200, j.text);
}

let host; // owns the room every revocation test joins
let roomId;

before(async () => {
  s = await startStack({ daemons: ['auth', 'rooms', 'media', 'gateway'] });
  host = await newUser({ name: 'Room Host' });
  const r = await api('POST', '/rooms', host.token, { name: 'Account tests' });
  assert.equal(r.status, 201, r.text);
  roomId = r.json.id;
});

after(async () => {
  if (s) await s.stop();
});

// ---------------------------------------------------------------- profile
describe('GET / PATCH /users/me', () => {
  test('GET answers {id, name, email, avatar_url, created_at}; GET /auth/me keeps its four keys', async () => {
    const u = await newUser({ name: 'Pat Profile' });
    const r = await api('GET', '/users/me', u.token);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json), ['id', 'name', 'email', 'avatar_url', 'created_at']);
    assert.equal(r.json.id, u.id);
    assert.equal(r.json.name, 'Pat Profile');
    assert.equal(r.json.email, u.email);
    assert.equal(r.json.avatar_url, '');
    assert.match(r.json.created_at, RFC3339_RE);
    const me = await api('GET', '/auth/me', u.token);
    assert.deepEqual(Object.keys(me.json), ['id', 'name', 'email', 'created_at']);
    assert.equal((await api('GET', '/api/v1/users/me', u.token)).status, 200);
    expectError(await api('GET', '/users/me'), 401, 'missing_auth');
    expectError(await api('GET', '/users/me', 'garbage'), 401, 'invalid_token');
  });

  test('PATCH changes only the fields given; "" removes the avatar; the new name is everywhere', async () => {
    const u = await newUser({ name: 'Old Name' });
    const url = 'https://cdn.example.com/a/b.png?x=1';
    let r = await api('PATCH', '/users/me', u.token, { avatar_url: url });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Old Name');
    assert.equal(r.json.avatar_url, url);
    r = await api('PATCH', '/users/me', u.token, { name: 'Néw Name 😀' });
    assert.equal(r.json.name, 'Néw Name 😀');
    assert.equal(r.json.avatar_url, url);
    assert.equal((await api('GET', '/auth/me', u.token)).json.name, 'Néw Name 😀');
    assert.deepEqual(await s.psql(`SELECT name, avatar_url FROM users WHERE id = '${u.id}'`), [['Néw Name 😀', url]]);
    r = await api('PATCH', '/users/me', u.token, {});
    assert.equal(r.status, 200);
    assert.equal(r.json.avatar_url, url);
    r = await api('PATCH', '/users/me', u.token, { avatar_url: '' });
    assert.equal(r.json.avatar_url, '');
    // a refresh token minted now carries the new name
    const f = await s.http('POST', '/auth/refresh', { json: { refresh_token: u.refresh } });
    assert.equal(f.status, 200, f.text);
    assert.equal(JSON.parse(Buffer.from(f.json.access_token.split('.')[1], 'base64url')).username, 'Néw Name 😀');
  });

  test('PATCH rules: name as at registration, avatar_url https and at most 512 bytes', async () => {
    const u = await newUser();
    const at512 = 'https://e.io/' + 'a'.repeat(512 - 13);
    assert.equal(at512.length, 512);
    assert.equal((await api('PATCH', '/users/me', u.token, { avatar_url: at512 })).status, 200);
    assert.equal((await api('PATCH', '/users/me', u.token, { name: 'n'.repeat(64) })).status, 200);
    expectValidation(await api('PATCH', '/users/me', u.token, { name: '' }), 'name_required', { name: 'required' });
    expectValidation(await api('PATCH', '/users/me', u.token, { name: ' \t' }), 'name_required');
    expectValidation(await api('PATCH', '/users/me', u.token, { name: 'n'.repeat(65) }), 'name_max');
    expectValidation(await api('PATCH', '/users/me', u.token, { avatar_url: at512 + 'a' }), 'avatar_url_max');
    for (const bad of ['http://e.io/a.png', 'javascript:alert(1)', 'https://', 'https:///x', 'ftp://e.io/x',
      'https://user@evil.io/x', 'https://e.io/a b', '//e.io/x', 'e.io/x.png']) {
      expectValidation(await api('PATCH', '/users/me', u.token, { avatar_url: bad }), 'avatar_url_https', { avatar_url: 'https' });
    }
    const both = await api('PATCH', '/users/me', u.token, { name: '', avatar_url: 'http://x.io' });
    expectValidation(both, 'name_required', { name: 'required', avatar_url: 'https' });
    expectError(await api('PATCH', '/users/me', u.token, { email: 'x@example.com' }), 400, 'invalid_json');
    expectError(await api('PATCH', '/users/me', u.token, { name: 5 }), 400, 'invalid_json');
    // nothing of the refused patches was stored
    assert.deepEqual(await s.psql(`SELECT name, avatar_url FROM users WHERE id = '${u.id}'`), [['n'.repeat(64), at512]]);
    expectError(await api('PATCH', '/users/me', null, { name: 'x' }), 401, 'missing_auth');
  });
});

// ---------------------------------------------------------------- settings
describe('/users/me/settings', () => {
  test('defaults until changed, equal to the table defaults; PATCH and PUT are partial', async () => {
    const u = await newUser();
    let r = await api('GET', '/users/me/settings', u.token);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, DEFAULTS);
    assert.equal(await count(`SELECT count(*) FROM user_settings WHERE user_id = '${u.id}'`), 0);
    r = await api('PATCH', '/users/me/settings', u.token, { theme: 'dark' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { ...DEFAULTS, theme: 'dark' });
    // the row created by the patch holds the column defaults: both agree
    const [[mic, cam, q, lang]] = await s.psql(`SELECT microphone_on_join, camera_on_join, video_quality, language FROM user_settings WHERE user_id = '${u.id}'`);
    assert.deepEqual([mic, cam, q, lang], ['t', 't', 'auto', 'en']);
    r = await api('PUT', '/users/me/settings', u.token, { microphone_on_join: false, video_quality: '720p', camera_device_id: 'cam-1' });
    assert.equal(r.status, 200, r.text);
    const want = { ...DEFAULTS, theme: 'dark', microphone_on_join: false, video_quality: '720p', camera_device_id: 'cam-1' };
    assert.deepEqual(r.json, want);
    r = await api('PATCH', '/users/me/settings', u.token, { camera_on_join: false, language: 'ru', speaker_device_id: 'x'.repeat(256), microphone_device_id: 'm' });
    Object.assign(want, { camera_on_join: false, language: 'ru', speaker_device_id: 'x'.repeat(256), microphone_device_id: 'm' });
    assert.deepEqual(r.json, want);
    r = await api('PUT', '/users/me/settings', u.token, {});
    assert.deepEqual(r.json, want);
    r = await api('PATCH', '/users/me/settings', u.token, { camera_device_id: '' });
    want.camera_device_id = '';
    assert.deepEqual(r.json, want);
    assert.deepEqual((await api('GET', '/users/me/settings', u.token)).json, want);
    // another account is untouched
    assert.deepEqual((await api('GET', '/users/me/settings', host.token)).json, DEFAULTS);
  });

  test('settings rules: enumerations, device ids at most 256 bytes, unknown keys, types', async () => {
    const u = await newUser();
    for (const [k, v] of [['video_quality', '4k'], ['video_quality', 'AUTO'], ['theme', 'blue'], ['language', 'de'], ['language', '']]) {
      for (const m of ['PATCH', 'PUT']) {
        expectValidation(await api(m, '/users/me/settings', u.token, { [k]: v }), `${k}_oneof`, { [k]: 'oneof' });
      }
    }
    for (const k of ['camera_device_id', 'microphone_device_id', 'speaker_device_id']) {
      expectValidation(await api('PATCH', '/users/me/settings', u.token, { [k]: 'd'.repeat(257) }), `${k}_max`);
    }
    const all = await api('PATCH', '/users/me/settings', u.token, { theme: 'x', language: 'y', video_quality: 'z', camera_device_id: 'c'.repeat(300) });
    expectValidation(all, 'video_quality_oneof', { video_quality: 'oneof', theme: 'oneof', language: 'oneof', camera_device_id: 'max' });
    expectError(await api('PATCH', '/users/me/settings', u.token, { volume: 3 }), 400, 'invalid_json');
    expectError(await api('PATCH', '/users/me/settings', u.token, { camera_on_join: 'yes' }), 400, 'invalid_json');
    expectError(await api('PUT', '/users/me/settings', u.token, { theme: 1 }), 400, 'invalid_json');
    // a refused patch stores nothing, not even its valid fields
    expectValidation(await api('PATCH', '/users/me/settings', u.token, { theme: 'dark', language: 'xx' }), 'language_oneof');
    assert.deepEqual((await api('GET', '/users/me/settings', u.token)).json, DEFAULTS);
    expectError(await api('PUT', '/users/me/settings', null, {}), 401, 'missing_auth');
    expectError(await api('POST', '/users/me/settings', u.token, {}), 405, 'method_not_allowed');
  });
});

// ---------------------------------------------------------------- video profiles
describe('/users/me/video-profiles', () => {
  const blur = { name: 'Office', background: 'blur', noise_suppression: 'high' };

  test('create, list (oldest first), patch partially, delete; shapes', async () => {
    const u = await newUser();
    assert.deepEqual((await api('GET', '/users/me/video-profiles', u.token)).json, []);
    const a = await api('POST', '/users/me/video-profiles', u.token, blur);
    assert.equal(a.status, 201, a.text);
    assert.match(a.json.id, UUID_RE);
    assert.deepEqual(Object.keys(a.json), ['id', 'name', 'background', 'noise_suppression', 'is_default', 'created_at', 'updated_at']);
    assert.equal(a.json.is_default, false);
    assert.match(a.json.created_at, RFC3339_RE);
    const img = { name: 'Beach', background: 'image', background_image_url: 'https://img.example.com/beach.jpg', noise_suppression: 'off', is_default: true };
    const b = await api('POST', '/users/me/video-profiles', u.token, img);
    assert.equal(b.status, 201, b.text);
    assert.equal(b.json.background_image_url, img.background_image_url);
    assert.equal(b.json.is_default, true);
    let list = (await api('GET', '/users/me/video-profiles', u.token)).json;
    assert.deepEqual(list.map((p) => p.id), [a.json.id, b.json.id]);
    let p = await api('PATCH', `/users/me/video-profiles/${a.json.id}`, u.token, { noise_suppression: 'low' });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual({ ...p.json, updated_at: 0 }, { ...a.json, noise_suppression: 'low', updated_at: 0 });
    p = await api('PATCH', `/users/me/video-profiles/${a.json.id}`, u.token, { name: 'Office 2', background: 'none' });
    assert.equal(p.json.name, 'Office 2');
    assert.equal(p.json.background, 'none');
    assert.equal(p.json.noise_suppression, 'low');
    p = await api('PATCH', `/users/me/video-profiles/${a.json.id}`, u.token, {});
    assert.equal(p.status, 200);
    // switching b to blur keeps its URL valid to switch back without one
    p = await api('PATCH', `/users/me/video-profiles/${b.json.id}`, u.token, { background: 'blur' });
    assert.equal(p.status, 200, p.text);
    p = await api('PATCH', `/users/me/video-profiles/${b.json.id}`, u.token, { background: 'image' });
    assert.equal(p.status, 200, p.text);
    assert.equal(p.json.background_image_url, img.background_image_url);
    const d = await api('DELETE', `/users/me/video-profiles/${a.json.id}`, u.token);
    assert.equal(d.status, 204);
    assert.equal(d.text, '');
    expectError(await api('DELETE', `/users/me/video-profiles/${a.json.id}`, u.token), 404, 'profile_not_found');
    expectError(await api('PATCH', `/users/me/video-profiles/${a.json.id}`, u.token, { name: 'x' }), 404, 'profile_not_found');
    list = (await api('GET', '/users/me/video-profiles', u.token)).json;
    assert.deepEqual(list.map((x) => x.id), [b.json.id]);
  });

  test('at most one default: setting one clears the others (create and patch), unsetting leaves none', async () => {
    const u = await newUser();
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await api('POST', '/users/me/video-profiles', u.token, { ...blur, name: `P${i}`, is_default: true });
      assert.equal(r.status, 201, r.text);
      ids.push(r.json.id);
    }
    const defaults = async () => (await api('GET', '/users/me/video-profiles', u.token)).json.filter((p) => p.is_default).map((p) => p.id);
    assert.deepEqual(await defaults(), [ids[2]]);
    const p = await api('PATCH', `/users/me/video-profiles/${ids[0]}`, u.token, { is_default: true });
    assert.equal(p.json.is_default, true);
    assert.deepEqual(await defaults(), [ids[0]]);
    await api('PATCH', `/users/me/video-profiles/${ids[0]}`, u.token, { is_default: false });
    assert.deepEqual(await defaults(), []);
    // concurrent "make me default" requests still leave exactly one
    const rs = await Promise.all(ids.map((id) => api('PATCH', `/users/me/video-profiles/${id}`, u.token, { is_default: true })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.equal(await count(`SELECT count(*) FROM video_profiles WHERE user_id = '${u.id}' AND is_default`), 1);
  });

  test('rules: required fields, enumerations, name 1..40, image needs an https URL', async () => {
    const u = await newUser();
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, {}), 'name_required',
      { name: 'required', background: 'required', noise_suppression: 'required' });
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, name: 'n'.repeat(41) }), 'name_max');
    assert.equal((await api('POST', '/users/me/video-profiles', u.token, { ...blur, name: 'é'.repeat(40) })).status, 201);
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, name: '  ' }), 'name_required');
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, background: 'green' }), 'background_oneof');
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, noise_suppression: 'max' }), 'noise_suppression_oneof');
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, background: 'image' }), 'background_image_url_required');
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, background: 'image', background_image_url: '' }), 'background_image_url_required');
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, background: 'image', background_image_url: 'http://x.io/a.png' }), 'background_image_url_https');
    expectValidation(await api('POST', '/users/me/video-profiles', u.token, { ...blur, background_image_url: 'https://x.io/' + 'a'.repeat(600) }), 'background_image_url_max');
    expectError(await api('POST', '/users/me/video-profiles', u.token, { ...blur, id: randomUUID() }), 400, 'invalid_json');
    expectError(await api('POST', '/users/me/video-profiles', u.token, { ...blur, is_default: 'yes' }), 400, 'invalid_json');
    const [one] = (await api('GET', '/users/me/video-profiles', u.token)).json;
    const path = `/users/me/video-profiles/${one.id}`;
    expectValidation(await api('PATCH', path, u.token, { background: 'image' }), 'background_image_url_required');
    expectValidation(await api('PATCH', path, u.token, { name: '' }), 'name_required');
    expectValidation(await api('PATCH', path, u.token, { noise_suppression: 'loud' }), 'noise_suppression_oneof');
    expectError(await api('PATCH', path, u.token, { profile_id: one.id }), 400, 'invalid_json');
    assert.equal((await api('PATCH', path, u.token, { background: 'image', background_image_url: 'https://x.io/b.png' })).status, 200);
    expectValidation(await api('PATCH', path, u.token, { background_image_url: '' }), 'background_image_url_required');
    expectError(await api('PATCH', '/users/me/video-profiles/not-a-uuid', u.token, {}), 404, 'profile_not_found');
    expectError(await api('DELETE', '/users/me/video-profiles/not-a-uuid', u.token), 404, 'profile_not_found');
    expectError(await api('DELETE', `/users/me/video-profiles/${randomUUID()}`, u.token), 404, 'profile_not_found');
    expectError(await api('GET', '/users/me/video-profiles', null), 401, 'missing_auth');
  });

  test('another account\'s profile is 404 and stays as it was', async () => {
    const u = await newUser();
    const v = await newUser();
    const a = await api('POST', '/users/me/video-profiles', u.token, blur);
    expectError(await api('PATCH', `/users/me/video-profiles/${a.json.id}`, v.token, { name: 'Mine now' }), 404, 'profile_not_found');
    expectError(await api('DELETE', `/users/me/video-profiles/${a.json.id}`, v.token), 404, 'profile_not_found');
    assert.deepEqual((await api('GET', '/users/me/video-profiles', v.token)).json, []);
    assert.equal((await api('GET', '/users/me/video-profiles', u.token)).json[0].name, 'Office');
  });

  test('at most 20 per account: the 21st is 409 profile_limit_reached, also when racing', async () => {
    const u = await newUser();
    const rs = await Promise.all(Array.from({ length: 24 }, (_, i) => api('POST', '/users/me/video-profiles', u.token, { ...blur, name: `P${i}` })));
    assert.equal(rs.filter((r) => r.status === 201).length, 20);
    for (const r of rs.filter((x) => x.status !== 201)) expectError(r, 409, 'profile_limit_reached');
    assert.equal(await count(`SELECT count(*) FROM video_profiles WHERE user_id = '${u.id}'`), 20);
    expectError(await api('POST', '/users/me/video-profiles', u.token, blur), 409, 'profile_limit_reached');
    const list = (await api('GET', '/users/me/video-profiles', u.token)).json;
    assert.equal(list.length, 20);
    assert.equal((await api('DELETE', `/users/me/video-profiles/${list[0].id}`, u.token)).status, 204);
    assert.equal((await api('POST', '/users/me/video-profiles', u.token, blur)).status, 201);
    // another account has its own 20
    assert.equal((await api('POST', '/users/me/video-profiles', host.token, blur)).status, 201);
  });
});

// ---------------------------------------------------------------- sessions
describe('/auth/sessions', () => {
  test('lists the live sessions with the current one marked; refresh updates last_used_at', async () => {
    const u = await newUser({ ua: 'Laptop/1.0' });
    const phone = await login(u.email, u.password, 'Phone/2.0');
    const old = await login(u.email, u.password, 'Old/0.1');
    // a logged-out session is not live
    assert.equal((await s.http('POST', '/auth/logout', { json: { refresh_token: old.refresh } })).status, 204);
    let r = await api('GET', '/auth/sessions', u.token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.length, 2);
    const byId = Object.fromEntries(r.json.map((x) => [x.id, x]));
    assert.deepEqual(Object.keys(byId[u.sid]), ['id', 'created_at', 'last_used_at', 'client_ip', 'user_agent', 'current']);
    assert.equal(byId[u.sid].current, true);
    assert.equal(byId[u.sid].user_agent, 'Laptop/1.0');
    assert.equal(byId[u.sid].client_ip, '127.0.0.1');
    assert.equal(byId[phone.sid].current, false);
    assert.equal(byId[phone.sid].user_agent, 'Phone/2.0');
    assert.match(byId[phone.sid].created_at, RFC3339_RE);
    assert.equal(byId[phone.sid].last_used_at, byId[phone.sid].created_at);
    // seen from the phone, the phone is current
    const fromPhone = (await api('GET', '/auth/sessions', phone.token)).json;
    assert.deepEqual(fromPhone.filter((x) => x.current).map((x) => x.id), [phone.sid]);
    await sleep(1100);
    const f = await s.http('POST', '/auth/refresh', { json: { refresh_token: phone.refresh } });
    assert.equal(f.status, 200, f.text);
    r = await api('GET', '/auth/sessions', u.token);
    const p2 = r.json.find((x) => x.id === phone.sid);
    assert.ok(p2.last_used_at > p2.created_at, JSON.stringify(p2));
    assert.equal(r.json[0].id, phone.sid, 'most recently used first');
    // the access token of the refresh is the same session: current there
    assert.equal((await api('GET', '/auth/sessions', f.json.access_token)).json.find((x) => x.current).id, phone.sid);
    // another account sees only its own
    const other = (await api('GET', '/auth/sessions', host.token)).json;
    assert.ok(other.every((x) => x.id !== u.sid && x.id !== phone.sid));
    expectError(await api('GET', '/auth/sessions', null), 401, 'missing_auth');
  });

  test('DELETE one session: its tokens are refused by auth, rooms and media at once; the others live', async () => {
    const u = await newUser({ ua: 'Laptop' });
    const phone = await login(u.email, u.password, 'Phone');
    await expectWorksEverywhere(phone.token, roomId); // caches "not revoked" everywhere
    const d = await api('DELETE', `/auth/sessions/${phone.sid}`, u.token);
    assert.equal(d.status, 204, d.text);
    assert.equal(d.text, '');
    await expectRevokedEverywhere(phone.token, roomId);
    expectError(await s.http('POST', '/auth/refresh', { json: { refresh_token: phone.refresh } }), 401, 'invalid_refresh');
    await expectWorksEverywhere(u.token, roomId);
    assert.deepEqual((await api('GET', '/auth/sessions', u.token)).json.map((x) => x.id), [u.sid]);
    const [[reason]] = await s.psql(`SELECT revoke_reason FROM sessions WHERE id = '${phone.sid}'`);
    assert.equal(reason, 'revoked');
    // twice, unknown, malformed: 404 session_not_found
    expectError(await api('DELETE', `/auth/sessions/${phone.sid}`, u.token), 404, 'session_not_found');
    expectError(await api('DELETE', `/auth/sessions/${randomUUID()}`, u.token), 404, 'session_not_found');
    expectError(await api('DELETE', '/auth/sessions/nope', u.token), 404, 'session_not_found');
    // revoking the current session works like a logout
    assert.equal((await api('DELETE', `/auth/sessions/${u.sid}`, u.token)).status, 204);
    expectError(await api('GET', '/auth/me', u.token), 401, 'token_revoked');
  });

  test('another account\'s session is 404 session_not_found and keeps working', async () => {
    const u = await newUser();
    const v = await newUser();
    expectError(await api('DELETE', `/auth/sessions/${v.sid}`, u.token), 404, 'session_not_found');
    await expectWorksEverywhere(v.token, roomId);
    assert.equal((await s.psql(`SELECT revoked_at IS NULL FROM sessions WHERE id = '${v.sid}'`))[0][0], 't');
  });
});

// ---------------------------------------------------------------- password
describe('POST /auth/password', () => {
  test('changes the password and revokes every other session at once, everywhere; this one lives', async () => {
    const u = await newUser({ ua: 'Laptop' });
    const phone = await login(u.email, u.password, 'Phone');
    const tablet = await login(u.email, u.password, 'Tablet');
    await expectWorksEverywhere(phone.token, roomId);
    await expectWorksEverywhere(tablet.token, roomId);
    const r = await api('POST', '/auth/password', u.token, { current_password: u.password, new_password: 'new secret 123' });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    await expectRevokedEverywhere(phone.token, roomId);
    await expectRevokedEverywhere(tablet.token, roomId);
    for (const d of [phone, tablet]) {
      expectError(await s.http('POST', '/auth/refresh', { json: { refresh_token: d.refresh } }), 401, 'invalid_refresh');
    }
    await expectWorksEverywhere(u.token, roomId);
    assert.equal((await s.http('POST', '/auth/refresh', { json: { refresh_token: u.refresh } })).status, 200);
    assert.deepEqual((await api('GET', '/auth/sessions', u.token)).json.map((x) => x.id), [u.sid]);
    assert.equal(await count(`SELECT count(*) FROM sessions WHERE user_id = '${u.id}' AND revoke_reason = 'password_change'`), 2);
    expectError(await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } }), 401, 'invalid_credentials');
    assert.equal((await s.http('POST', '/auth/login', { json: { email: u.email, password: 'new secret 123' } })).status, 200);
    const [[hash]] = await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`);
    assert.match(hash, /^\$argon2id\$/);
  });

  test('input rules; a wrong current password is 401 invalid_credentials and changes nothing', async () => {
    const u = await newUser();
    const phone = await login(u.email, u.password, 'Phone');
    expectValidation(await api('POST', '/auth/password', u.token, {}), 'current_password_required',
      { current_password: 'required', new_password: 'required' });
    expectValidation(await api('POST', '/auth/password', u.token, { current_password: u.password, new_password: 'short' }), 'new_password_min');
    expectValidation(await api('POST', '/auth/password', u.token, { current_password: u.password, new_password: 'x'.repeat(1025) }), 'new_password_max');
    expectError(await api('POST', '/auth/password', u.token, { current_password: u.password, new_password: 'long enough', extra: 1 }), 400, 'invalid_json');
    expectError(await api('POST', '/auth/password', null, { current_password: u.password, new_password: 'long enough' }), 401, 'missing_auth');
    const wrong = await api('POST', '/auth/password', u.token, { current_password: 'not my password', new_password: 'long enough' });
    expectError(wrong, 401, 'invalid_credentials');
    await expectWorksEverywhere(phone.token, roomId);
    assert.equal((await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } })).status, 200);
  });

  test('wrong current passwords count in the login throttle (shared with login failures)', async () => {
    const u = await newUser();
    for (let i = 0; i < 3; i++) {
      expectError(await s.http('POST', '/auth/login', { json: { email: u.email, password: 'wrong one' } }), 401, 'invalid_credentials');
    }
    for (let i = 0; i < 2; i++) {
      expectError(await api('POST', '/auth/password', u.token, { current_password: 'wrong one', new_password: 'long enough' }), 401, 'invalid_credentials');
    }
    // five failures (LOGIN_MAX_FAILURES_PER_EMAIL): login and password change are both 429 now
    const l = await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } });
    expectError(l, 429, 'too_many_attempts');
    assert.ok(Number(l.headers.get('retry-after')) > 0);
    const p = await api('POST', '/auth/password', u.token, { current_password: u.password, new_password: 'long enough' });
    expectError(p, 429, 'too_many_attempts');
    assert.ok(Number(p.headers.get('retry-after')) > 0);
    // nothing changed: the old password is still the one
    const [[hash]] = await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`);
    await s.redis('DEL', ...(await s.redis('KEYS', 'cx:auth:fail:email:*')).split('\n').filter(Boolean));
    assert.equal((await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } })).status, 200);
    assert.deepEqual(await s.psql(`SELECT password_hash FROM users WHERE id = '${u.id}'`), [[hash]]);
  });
});

// ---------------------------------------------------------------- deletion
// Decodes an AccountDeleted (fields 1 user_id, 2 deleted_at: strings).
function decodeAccountDeleted(buf) {
  const out = {};
  let i = 0;
  while (i < buf.length) {
    const key = buf[i++];
    let n = 0, shift = 0, b;
    do {
      b = buf[i++];
      n |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    const v = Buffer.from(buf.subarray(i, i + n)).toString();
    i += n;
    if (key === 0x0a) out.user_id = v;
    else if (key === 0x12) out.deleted_at = v;
  }
  return out;
}

// Collects the account-deleted events of the stack's prefix.
async function collectDeleted() {
  const nc = await s.nats();
  const sub = nc.subscribe(`${s.prefix}.events.user.*.deleted`);
  const got = [];
  (async () => {
    for await (const m of sub) got.push({ subject: m.subject, ...decodeAccountDeleted(m.data) });
  })();
  await nc.flush();
  return { got, stop: () => sub.unsubscribe() };
}

async function waitFor(fn, ms = 8000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await fn()) return true;
    await sleep(50);
  }
  return false;
}

describe('DELETE /users/me', () => {
  test('needs the password: missing is 400, wrong is 401 invalid_credentials (counted), nothing erased', async () => {
    const u = await newUser();
    expectValidation(await api('DELETE', '/users/me', u.token), 'password_required', { password: 'required' });
    expectValidation(await api('DELETE', '/users/me', u.token, {}), 'password_required');
    expectError(await api('DELETE', '/users/me', u.token, { password: u.password, force: true }), 400, 'invalid_json');
    expectError(await api('DELETE', '/users/me', null, { password: u.password }), 401, 'missing_auth');
    expectError(await api('DELETE', '/users/me', u.token, { password: 'wrong password' }), 401, 'invalid_credentials');
    const key = `cx:auth:fail:email:${createHash('sha256').update(u.email).digest('hex')}`;
    assert.equal(await s.redis('GET', key), '1', 'the failure was counted');
    assert.equal(await count(`SELECT count(*) FROM users WHERE id = '${u.id}'`), 1);
    await expectWorksEverywhere(u.token, roomId);
  });

  test('erases the account: sessions revoked everywhere, rows gone, event published, the email free again', async () => {
    const ev = await collectDeleted();
    const u = await newUser({ name: 'Doomed Dora', ua: 'Laptop' });
    const phone = await login(u.email, u.password, 'Phone');
    await expectWorksEverywhere(phone.token, roomId);
    assert.equal((await api('PATCH', '/users/me', u.token, { avatar_url: 'https://cdn.example.com/dora.png' })).status, 200);
    assert.equal((await api('PATCH', '/users/me/settings', u.token, { theme: 'dark' })).status, 200);
    assert.equal((await api('POST', '/users/me/video-profiles', u.token, { name: 'P', background: 'blur', noise_suppression: 'low', is_default: true })).status, 201);
    const room = await api('POST', '/rooms', u.token, { name: 'Dora room' });
    assert.equal(room.status, 201);
    const sids = (await s.psql(`SELECT id FROM sessions WHERE user_id = '${u.id}'`)).map((r) => r[0]);
    assert.equal(sids.length, 2);

    const d = await api('DELETE', '/users/me', u.token, { password: u.password });
    assert.equal(d.status, 204, d.text);
    assert.equal(d.text, '');

    // every session refused at once, in every service; refresh dead too
    await expectRevokedEverywhere(u.token, roomId);
    await expectRevokedEverywhere(phone.token, roomId);
    for (const t of [u.refresh, phone.refresh]) {
      expectError(await s.http('POST', '/auth/refresh', { json: { refresh_token: t } }), 401, 'invalid_refresh');
    }
    expectError(await s.http('POST', '/auth/login', { json: { email: u.email, password: u.password } }), 401, 'invalid_credentials');

    // personal data erased, queried in Postgres directly
    assert.equal(await count(`SELECT count(*) FROM users WHERE id = '${u.id}' OR email = '${u.email}'`), 0);
    assert.equal(await count(`SELECT count(*) FROM users WHERE name = 'Doomed Dora' OR avatar_url LIKE '%dora.png'`), 0);
    assert.equal(await count(`SELECT count(*) FROM sessions WHERE user_id = '${u.id}'`), 0);
    assert.equal(await count(`SELECT count(*) FROM refresh_tokens WHERE session_id IN ('${sids.join("','")}')`), 0);
    assert.equal(await count(`SELECT count(*) FROM user_settings WHERE user_id = '${u.id}'`), 0);
    assert.equal(await count(`SELECT count(*) FROM video_profiles WHERE user_id = '${u.id}'`), 0);
    // no table of auth's keeps the email, the name or the password hash
    const dump = (await s.psql(`SELECT string_agg(t::text, ' ') FROM (SELECT * FROM users) t`))[0]?.[0] ?? '';
    assert.ok(!dump.includes(u.email) && !dump.includes('Doomed Dora'));
    // only the id stays, in the event outbox, marked published
    const [[pub]] = await s.psql(`SELECT published_at IS NOT NULL FROM account_deletions WHERE user_id = '${u.id}'`);
    assert.equal(pub, 't');

    // the event: <prefix>.events.user.<id>.deleted, AccountDeleted{user_id, deleted_at}
    assert.ok(await waitFor(() => ev.got.some((e) => e.user_id === u.id)), 'no account-deleted event');
    const e = ev.got.find((x) => x.user_id === u.id);
    assert.equal(e.subject, `${s.prefix}.events.user.${u.id}.deleted`);
    assert.match(e.deleted_at, RFC3339_RE);
    ev.stop();

    // the email may register again: a new account with a new id
    const again = await s.http('POST', '/auth/register', { json: { name: 'Dora Again', email: u.email, password: 'another pass' } });
    assert.equal(again.status, 201, again.text);
    assert.notEqual(again.json.user_id, u.id);
    const l = await login(u.email, 'another pass');
    const me = await api('GET', '/users/me', l.token);
    assert.equal(me.json.name, 'Dora Again');
    assert.equal(me.json.avatar_url, '');
    assert.deepEqual((await api('GET', '/users/me/settings', l.token)).json, DEFAULTS);
    assert.deepEqual((await api('GET', '/users/me/video-profiles', l.token)).json, []);
    // the deleted account's token does not reach the new one
    expectError(await api('GET', '/users/me', u.token), 401, 'token_revoked');
  });

  test('an event whose publish was not confirmed is published again from the outbox', async () => {
    const ev = await collectDeleted();
    const id = randomUUID();
    await s.psql(`INSERT INTO account_deletions (user_id, deleted_at) VALUES ('${id}', now() - interval '1 minute')`);
    assert.ok(await waitFor(() => ev.got.some((e) => e.user_id === id), 12000), 'not republished');
    assert.ok(await waitFor(async () => (await s.psql(`SELECT published_at IS NOT NULL FROM account_deletions WHERE user_id = '${id}'`))[0][0] === 't'));
    ev.stop();
  });
});

// ---------------------------------------------------------------- over NATS
describe('account endpoints over NATS', () => {
  test('need a token; malformed ids are not-found without SQL errors', async () => {
    const r = await s.natsRequest('auth.profile_get', {});
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'missing_auth');
    const u = await newUser();
    const h = { Authorization: `Bearer ${u.token}` };
    const p = await s.natsRequest('auth.video_profile_update', { profile_id: "x' OR 1=1 --" }, h);
    assert.equal(p.status, 404);
    assert.equal(p.json.code, 'profile_not_found');
    const q = await s.natsRequest('auth.session_revoke', { session_id: 'nope' }, h);
    assert.equal(q.status, 404);
    assert.equal(q.json.code, 'session_not_found');
  });
});
