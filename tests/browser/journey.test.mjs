// The web app in a real browser (Debian chromium, headless, driven by
// playwright-core) against the real local stack (harness/stack.mjs): a host
// signs up; creates a scheduled invite-only room, changes it (PATCH), a
// guest with its code link is told it has not started, the host deletes it; creates a room and joins it (no LiveKit runs here: the page
// must say so and keep the rest working); its link is the meeting code;
// reloads and stays signed in; a guest in a second browser context opens
// the meeting-code link, gives a name and joins; the host sees the guest
// among the participants (from the signed participant_joined webhook
// LiveKit would send), the guest leaves and drops off the host's list; the
// host ends the room; changes the profile name;
// turns the microphone off on join and sees the toggle follow; signs out
// another device from the sessions list; changes the password (every other
// session is revoked, this one stays across a reload). A screenshot of every
// step goes to tests/browser/out/journey/ (or $CX_BROWSER_OUT). History
// (/users/me/calls) shows its table or says there are no calls, never a
// blank page.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStack } from '../harness/stack.mjs';
import * as lk from '../harness/livekit-webhook.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const OUT = process.env.CX_BROWSER_OUT || join(here, 'out', 'journey');
const CHROMIUM = process.env.CX_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 20000;

let s, browser, host, guest, shot = 0;
const problems = [];

async function snap(page, name) {
  shot += 1;
  await page.screenshot({ path: join(OUT, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

function watch(page, who) {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`${who}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${who}: uncaught ${e.message}`));
  page.on('dialog', (d) => d.accept());
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  s = await startStack();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
  // UTC in the page too, so the datetime-local values below are UTC
  const hc = await browser.newContext({ baseURL: s.url, locale: 'en-US', timezoneId: 'UTC', viewport: { width: 1280, height: 800 } });
  const gc = await browser.newContext({ baseURL: s.url, locale: 'en-US', viewport: { width: 1280, height: 800 } });
  host = await hc.newPage();
  guest = await gc.newPage();
  watch(host, 'host');
  watch(guest, 'guest');
  host.setDefaultTimeout(STEP_MS);
  guest.setDefaultTimeout(STEP_MS);
});

// abcdefghij -> abc-defg-hij, as the app shows meeting codes
const showCode = (c) => `${c.slice(0, 3)}-${c.slice(3, 7)}-${c.slice(7)}`;
// a datetime-local value (UTC) `days` ahead, whole minutes, and its epoch
function ahead(days) {
  const ms = Math.floor((Date.now() + days * 86400e3) / 60000) * 60000;
  return { input: new Date(ms).toISOString().slice(0, 16), epoch: String(ms / 1000) };
}

after(async () => {
  await browser?.close();
  await s?.stop();
});

describe('web app journey', () => {
  const email = `host-${Date.now()}@example.test`;
  let password = 'correct horse battery';
  let roomId, code;

  async function newSession(ua) {
    const r = await s.http('POST', '/auth/login', { json: { email, password }, headers: { 'User-Agent': ua } });
    assert.equal(r.status, 200, r.text);
    return r.json.access_token;
  }
  const me = (token) => s.http('GET', '/auth/me', { headers: { Authorization: `Bearer ${token}` } });

  it('a visitor lands on sign-in; the host signs up and sees an empty room list', async () => {
    await host.goto('/');
    await host.waitForURL('**/app/signin');
    await host.getByRole('heading', { name: 'Sign in' }).waitFor();
    await snap(host, 'signin');
    await host.getByRole('link', { name: 'Sign up' }).first().click();
    await host.waitForURL('**/app/signup');
    await host.getByLabel('Name').fill('Hana Host');
    await host.getByLabel('Email').fill(email);
    await host.getByLabel('Password').fill('short');
    await host.getByRole('button', { name: 'Sign up' }).click();
    await host.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
    await snap(host, 'signup-error-in-words');
    await host.getByLabel('Password').fill(password);
    await host.getByRole('button', { name: 'Sign up' }).click();
    await host.waitForURL('**/app/rooms');
    await host.getByText('You have no rooms yet').waitFor();
    await host.getByTestId('who').filter({ hasText: 'Hana Host' }).waitFor();
    await snap(host, 'rooms-empty');
  });

  it('the host creates a scheduled invite-only room, changes it (PATCH) and deletes it', async () => {
    const first = ahead(2), later = ahead(3);
    await host.getByTestId('room-name').fill('Planning');
    await host.getByTestId('room-access').selectOption('invite');
    await host.getByTestId('room-schedule').fill(first.input);
    await snap(host, 'create-scheduled-room');
    await host.getByRole('button', { name: 'Create' }).click();
    await host.waitForURL(/\/app\/rooms\/[0-9a-f-]{36}$/);
    const id = host.url().split('/').pop();
    await host.getByRole('heading', { name: 'Planning' }).waitFor();
    await host.getByText(/^Scheduled for /).waitFor();
    assert.deepEqual(await s.psql(`SELECT name, status, access, locked, extract(epoch FROM scheduled_at)::bigint FROM rooms WHERE id = '${id}'`),
      [['Planning', 'pending', 'invite', 'f', first.epoch]]);
    await snap(host, 'scheduled-room-prejoin');
    const edit = host.getByTestId('room-edit');
    await edit.getByTestId('edit-name').fill('Quarterly planning');
    await edit.getByTestId('edit-description').fill('Numbers first');
    await edit.getByTestId('edit-access').selectOption('knock');
    await edit.getByTestId('edit-locked').check();
    await edit.getByTestId('edit-schedule').fill(later.input);
    await edit.getByRole('button', { name: 'Save' }).click();
    await host.getByTestId('room-edit').getByText('Saved').waitFor();
    await host.getByRole('heading', { name: 'Quarterly planning' }).waitFor();
    assert.deepEqual(await s.psql(`SELECT name, description, status, access, locked, extract(epoch FROM scheduled_at)::bigint FROM rooms WHERE id = '${id}'`),
      [['Quarterly planning', 'Numbers first', 'pending', 'knock', 't', later.epoch]]);
    await snap(host, 'room-patched');
    // a guest with its meeting-code link is told it has not started yet
    const [[pcode]] = await s.psql(`SELECT code FROM rooms WHERE id = '${id}'`);
    await guest.goto(`/j/${showCode(pcode)}`);
    await guest.getByRole('heading', { name: 'Quarterly planning' }).waitFor();
    await guest.getByText(/^Scheduled for /).waitFor();
    await guest.getByTestId('guest-name').fill('Early Bird');
    await guest.getByTestId('join').click();
    await guest.getByRole('alert').getByText('The meeting has not started yet.').waitFor();
    await snap(guest, 'guest-too-early');
    await host.getByRole('link', { name: 'My rooms' }).click();
    const row = host.locator(`li[data-room="${id}"]`);
    await row.getByText('Quarterly planning').waitFor();
    await row.getByText('Guests ask to join (waiting room)').waitFor();
    await row.getByText('scheduled', { exact: true }).waitFor();
    await snap(host, 'rooms-list-scheduled');
    await row.getByRole('button', { name: 'Delete' }).click(); // the confirm is accepted
    await host.getByText('You have no rooms yet').waitFor();
    assert.deepEqual(await s.psql(`SELECT status, deleted_at IS NOT NULL FROM rooms WHERE id = '${id}'`), [['ended', 't']]);
    await host.reload();
    await host.getByText('You have no rooms yet').waitFor();
    await snap(host, 'room-deleted');
  });

  it('the host creates a room and joins it; the link is its meeting code; no media server: said plainly, the rest works', async () => {
    await host.getByTestId('room-name').fill('Weekly sync');
    await host.getByRole('button', { name: 'Create' }).click();
    await host.waitForURL(/\/app\/rooms\/[0-9a-f-]{36}$/);
    roomId = host.url().split('/').pop();
    [[code]] = await s.psql(`SELECT code FROM rooms WHERE id = '${roomId}'`);
    assert.match(code, /^[a-z]{10}$/);
    await host.getByRole('heading', { name: 'Weekly sync' }).waitFor();
    assert.equal(await host.getByTestId('code-link').textContent(), showCode(code));
    await snap(host, 'room-prejoin');
    await host.getByTestId('join').click();
    await host.getByTestId('room').waitFor();
    assert.equal(await host.getByTestId('room-link').textContent(), `${s.url}/j/${showCode(code)}`);
    // the account's settings (defaults: both on) show on the toggles
    await host.locator('[data-testid="mic"][aria-pressed="true"]').waitFor();
    await host.locator('[data-testid="cam"][aria-pressed="true"]').waitFor();
    await host.locator('[data-testid="media-state"][data-state="unreachable"]').waitFor({ timeout: 30000 });
    const said = await host.getByTestId('media-state').textContent();
    assert.match(said, /media server cannot be reached \(ws:\/\/127\.0\.0\.1:7880\)/);
    assert.match(said, /Chat, participants, the waiting room and moderation keep working/);
    // the participants panel works without media: the host is listed
    await host.getByTestId('participants').getByText('Hana Host').waitFor();
    assert.equal(await host.getByTestId('mic').isDisabled(), true, 'no media: toggles off');
    await snap(host, 'room-host-media-unreachable');
    const rooms = await s.psql(`SELECT name, status FROM rooms WHERE id = '${roomId}'`);
    assert.deepEqual(rooms, [['Weekly sync', 'active']]);
  });

  it('reload keeps the host signed in (refresh cookie)', async () => {
    await host.reload();
    await host.getByTestId('who').filter({ hasText: 'Hana Host' }).waitFor();
    await host.getByRole('heading', { name: 'Weekly sync' }).waitFor();
    await snap(host, 'reload-still-signed-in');
    await host.getByTestId('join').click();
    await host.getByTestId('room').waitFor();
  });

  it('a guest opens the meeting-code link in another browser, gives a name and joins', async () => {
    await guest.goto(`/j/${showCode(code)}`);
    await guest.getByRole('heading', { name: 'Weekly sync' }).waitFor();
    await guest.getByTestId('guest-name').waitFor();
    await snap(guest, 'guest-name');
    await guest.getByTestId('guest-name').fill('Gina Guest');
    await guest.getByTestId('join').click();
    await guest.getByTestId('room').waitFor();
    assert.equal(await guest.getByTestId('room-link').textContent(), `${s.url}/j/${showCode(code)}`);
    await guest.locator('[data-testid="media-state"][data-state="unreachable"]').waitFor({ timeout: 30000 });
    const self = guest.getByTestId('participants').locator('li').first();
    const identity = await self.getAttribute('data-identity');
    assert.match(identity, /^guest-[0-9a-f]{32}$/);
    await self.getByText('guest', { exact: true }).waitFor(); // the role from the join answer
    await snap(guest, 'guest-in-room-media-unreachable');
    // LiveKit would tell Calixio the guest connected: the same signed webhook
    const t = Math.floor(Date.now() / 1000);
    const body = lk.eventBody({ event: 'participant_joined', room: `cx-${roomId}`, identity, sid: 'PA_gina', name: 'Gina Guest', joinedAt: t, createdAt: t });
    const r = await s.http('POST', '/livekit/webhook', { body, headers: { Authorization: lk.signGo(body), 'Content-Type': 'application/webhook+json' } });
    assert.equal(r.status, 200);
    await host.getByTestId('participants').locator(`li[data-identity="${identity}"]`).getByText('Gina Guest').waitFor();
    await snap(host, 'host-sees-guest');
    // the guest leaves (room token): the visit is closed, the host's list drops it
    await guest.getByRole('button', { name: 'Leave' }).click();
    await guest.waitForURL('**/app/signin');
    await host.getByTestId('participants').locator(`li[data-identity="${identity}"]`).waitFor({ state: 'detached' });
    assert.deepEqual(await s.psql(`SELECT event FROM participant_events WHERE room_id = '${roomId}' AND identity = '${identity}' ORDER BY occurred_at, received_at`),
      [['participant_joined'], ['participant_left']]);
    await snap(host, 'host-sees-guest-left');
  });

  it('the host ends the room and sees it end', async () => {
    await host.getByTestId('end').click();
    await host.getByTestId('ended').getByText('This room has ended.').waitFor();
    await snap(host, 'host-room-ended');
    const rows = await s.psql(`SELECT status FROM rooms WHERE id = '${roomId}'`);
    assert.deepEqual(rows, [['ended']]);
    await host.goto('/app/rooms');
    await host.locator(`li[data-room="${roomId}"]`).getByText('ended').waitFor();
    await snap(host, 'rooms-list-ended');
  });

  it('the host changes the profile name; the header and a reload show it', async () => {
    await host.getByRole('link', { name: 'Settings' }).click();
    await host.waitForURL('**/app/settings');
    const name = host.getByLabel('Name', { exact: true });
    assert.equal(await name.inputValue(), 'Hana Host');
    await name.fill('Hana Hostova');
    await host.locator('main form').first().getByRole('button', { name: 'Save' }).click();
    await host.locator('main form').first().getByText('Saved').waitFor();
    await host.getByTestId('who').filter({ hasText: 'Hana Hostova' }).waitFor();
    assert.deepEqual(await s.psql(`SELECT name FROM users WHERE email = '${email}'`), [['Hana Hostova']]);
    await snap(host, 'profile-renamed');
    await host.reload();
    await host.getByTestId('who').filter({ hasText: 'Hana Hostova' }).waitFor();
  });

  it('settings: microphone off on join reaches the mic toggle of the next room', async () => {
    await host.getByLabel('Microphone on when joining').uncheck();
    await host.getByLabel('Camera on when joining').check();
    await host.getByTestId('password-form').waitFor();
    const saved = host.waitForResponse((r) => r.url().endsWith('/users/me/settings') && r.request().method() === 'PATCH');
    await host.locator('main section').nth(1).getByRole('button', { name: 'Save' }).click();
    assert.equal((await saved).status(), 200);
    await host.reload();
    await host.getByTestId('password-form').waitFor();
    assert.equal(await host.getByLabel('Microphone on when joining').isChecked(), false, 'the saved setting is shown');
    assert.equal(await host.getByLabel('Camera on when joining').isChecked(), true);
    assert.deepEqual(await s.psql(`SELECT s.microphone_on_join, s.camera_on_join FROM user_settings s JOIN users u ON u.id = s.user_id WHERE u.email = '${email}'`), [['f', 't']]);
    await snap(host, 'settings-mic-off');
    await host.getByRole('link', { name: 'My rooms' }).click();
    await host.getByTestId('room-name').fill('Standup');
    await host.getByRole('button', { name: 'Create' }).click();
    await host.getByRole('heading', { name: 'Standup' }).waitFor();
    await host.getByTestId('join').click();
    await host.locator('[data-testid="mic"][aria-pressed="false"]').waitFor();
    await host.locator('[data-testid="cam"][aria-pressed="true"]').waitFor();
    assert.equal(await host.getByTestId('mic').textContent(), 'Microphone: off');
    assert.equal(await host.getByTestId('cam').textContent(), 'Camera: on');
    await snap(host, 'room-mic-off-from-settings');
    await host.getByTestId('end').click();
    await host.getByTestId('ended').waitFor();
  });

  it('sessions: the list shows this device and another; signing the other out revokes it', async () => {
    const other = await newSession('Other device/1.0');
    const list = await s.http('GET', '/auth/sessions', { headers: { Authorization: `Bearer ${other}` } });
    assert.equal(list.status, 200);
    const otherId = list.json.find((x) => x.current).id;
    await host.getByRole('link', { name: 'Sessions' }).click();
    await host.waitForURL('**/app/sessions');
    const row = host.locator(`li[data-session="${otherId}"]`);
    await row.getByText('Other device/1.0').waitFor();
    const mine = host.locator('li[data-current="true"]');
    assert.equal(await mine.count(), 1);
    assert.match(await mine.textContent(), /HeadlessChrome|Chrome/);
    await mine.getByText('this device').waitFor();
    await snap(host, 'sessions-two-devices');
    await row.getByRole('button', { name: 'Sign out there' }).click();
    await host.getByText('That device was signed out.').waitFor();
    assert.equal(await host.locator(`li[data-session="${otherId}"]`).count(), 0);
    assert.equal((await me(other)).status, 401, 'the other device is signed out');
    assert.equal(await host.locator('li[data-current="true"]').count(), 1);
    await snap(host, 'sessions-other-revoked');
  });

  it('password change: a wrong current password is said in words; the right one signs out every other device; reload keeps this one', async () => {
    const other = await newSession('Second laptop');
    await host.getByRole('link', { name: 'Settings' }).click();
    const f = host.getByTestId('password-form');
    await f.getByLabel('Current password').fill('not my password');
    await f.getByLabel('New password').fill('a brand new horse');
    await f.getByRole('button', { name: 'Change password' }).click();
    await f.getByRole('alert').filter({ hasText: 'The current password is not right.' }).waitFor();
    await snap(host, 'password-wrong-current');
    await f.getByLabel('Current password').fill(password);
    await f.getByLabel('New password').fill('a brand new horse');
    await f.getByRole('button', { name: 'Change password' }).click();
    await f.getByText('Password changed. Every other device was signed out.').waitFor();
    await snap(host, 'password-changed');
    assert.equal((await me(other)).status, 401, 'the other session is revoked');
    assert.equal((await s.http('POST', '/auth/login', { json: { email, password } })).status, 401, 'the old password no longer works');
    password = 'a brand new horse';
    await host.reload();
    await host.getByTestId('who').filter({ hasText: 'Hana Hostova' }).waitFor();
    await host.getByRole('heading', { name: 'Profile' }).waitFor();
    await snap(host, 'reload-after-password-change');
  });

  it('history (/users/me/calls) shows the calls or says there are none; a wrong meeting code says so in words; Russian works and stays the account\'s language', async () => {
    await host.goto('/app/history');
    // history has its route now (issue 18): its table or "No calls yet."
    await host.locator('main table, main .empty').first().waitFor();
    assert.equal(await host.getByText('This part of Calixio is not available on this server yet.').count(), 0);
    await snap(host, 'screen-history');
    await host.goto('/j/abc-defg-hij');
    await host.getByRole('alert').getByText('This room does not exist (or was deleted).').waitFor();
    await snap(host, 'screen-meeting-code-unknown');
    await host.goto('/app/rooms');
    await host.getByRole('combobox', { name: 'Language' }).selectOption('ru');
    await host.getByRole('heading', { name: 'Мои комнаты' }).waitFor();
    await snap(host, 'rooms-russian');
    // the pick is the account's language now: a reload keeps it
    await host.reload();
    await host.getByRole('heading', { name: 'Мои комнаты' }).waitFor();
    assert.deepEqual(await s.psql(`SELECT s.language FROM user_settings s JOIN users u ON u.id = s.user_id WHERE u.email = '${email}'`), [['ru']]);
    await host.getByRole('combobox', { name: 'Язык' }).selectOption('en');
    await host.getByRole('heading', { name: 'My rooms' }).waitFor();
  });

  it('page weight: HTML/CSS/JS per screen (without livekit-client) stays small', async () => {
    const login = await s.http('POST', '/auth/login', { json: { email, password } });
    const fresh = await s.http('POST', '/rooms', { json: { name: 'Weight check' }, headers: { Authorization: `Bearer ${login.json.access_token}` } });
    assert.equal(fresh.status, 201);
    // the refresh cookie rotates on every page load (a rotated one used again
    // revokes the session), so each context hands its cookie to the next
    let signedIn = await host.context().storageState();
    const screens = [
      ['sign-in', '/app/signin', null, (p) => p.getByRole('heading', { name: 'Sign in' }).waitFor()],
      ['my rooms', '/app/rooms', true, (p) => p.locator('li[data-room]').first().waitFor()],
      ['room (joined)', `/app/rooms/${fresh.json.id}`, true, async (p) => {
        await p.getByTestId('join').click();
        await p.locator('[data-testid="media-state"][data-state="unreachable"]').waitFor({ timeout: 30000 });
      }],
      ['guest entry', `/app/rooms/${fresh.json.id}`, null, (p) => p.getByTestId('guest-name').waitFor()],
      ['meeting code', `/j/${showCode(fresh.json.code)}`, null, (p) => p.getByTestId('guest-name').waitFor()],
      ['history', '/app/history', true, (p) => p.locator('main table, main .empty').first().waitFor()],
      ['settings', '/app/settings', true, (p) => p.getByTestId('password-form').waitFor()],
      ['sessions', '/app/sessions', true, (p) => p.locator('main ul.sessions li[data-current]').waitFor()],
    ];
    for (const [name, path, state, ready] of screens) {
      const ctx = await browser.newContext({ baseURL: s.url, storageState: state ? signedIn : undefined });
      const page = await ctx.newPage();
      const seen = [];
      page.on('response', (r) => seen.push(r));
      await page.goto(path);
      await ready(page);
      const bytes = { html: 0, css: 0, js: 0, lib: 0, wire: 0, libWire: 0 };
      for (const r of seen) {
        const type = r.headers()['content-type'] ?? '';
        const kind = /text\/html/.test(type) ? 'html' : /text\/css/.test(type) ? 'css' : /javascript/.test(type) ? 'js' : null;
        if (!kind || r.status() !== 200) continue;
        const n = (await r.body()).length;
        const wire = (await r.request().sizes()).responseBodySize; // as sent (gzip)
        if (new URL(r.url()).pathname.startsWith('/vendor/')) { bytes.lib += n; bytes.libWire += wire; }
        else { bytes[kind] += n; bytes.wire += wire; }
      }
      const total = bytes.html + bytes.css + bytes.js;
      console.log(`WEIGHT ${name}: ${total} B (html ${bytes.html}, css ${bytes.css}, js ${bytes.js}), ${bytes.wire} B gzipped on the wire; livekit-client ${bytes.lib} B (${bytes.libWire} B on the wire)`);
      assert.ok(total < 120 * 1024, `${name}: ${total} bytes`);
      assert.equal(bytes.lib > 0, name === 'room (joined)', `${name}: livekit-client only where media is used`);
      if (state) signedIn = await ctx.storageState();
      await ctx.close();
    }
  });

  it('the CSP blocked nothing and no page threw', () => {
    assert.deepEqual(problems, []);
  });
});
