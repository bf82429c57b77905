// The web app in a real browser (Debian chromium, headless, driven by
// playwright-core) against the real local stack (harness/stack.mjs): a host
// signs up, creates a room, joins it (no LiveKit runs here: the page must
// say so and keep the rest working), reloads and stays signed in; a guest
// in a second browser context opens the room link, gives a name and joins;
// the host sees the guest among the participants (from the signed
// participant_joined webhook LiveKit would send); the host ends the room.
// A screenshot of every step goes to tests/browser/out/journey/ (or
// $CX_BROWSER_OUT). Steps whose backend routes this tree lacks (meeting
// codes, accounts, sessions) must show a clear message, never a blank page.
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
  const hc = await browser.newContext({ baseURL: s.url, locale: 'en-US', viewport: { width: 1280, height: 800 } });
  const gc = await browser.newContext({ baseURL: s.url, locale: 'en-US', viewport: { width: 1280, height: 800 } });
  host = await hc.newPage();
  guest = await gc.newPage();
  watch(host, 'host');
  watch(guest, 'guest');
  host.setDefaultTimeout(STEP_MS);
  guest.setDefaultTimeout(STEP_MS);
});

after(async () => {
  await browser?.close();
  await s?.stop();
});

describe('web app journey', () => {
  const email = `host-${Date.now()}@example.test`;
  let roomId, roomUrl;

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
    await host.getByLabel('Password').fill('correct horse battery');
    await host.getByRole('button', { name: 'Sign up' }).click();
    await host.waitForURL('**/app/rooms');
    await host.getByText('You have no rooms yet').waitFor();
    await host.getByTestId('who').filter({ hasText: 'Hana Host' }).waitFor();
    await snap(host, 'rooms-empty');
  });

  it('the host creates a room and joins it; no media server: said plainly, the rest works', async () => {
    await host.getByTestId('room-name').fill('Weekly sync');
    await host.getByRole('button', { name: 'Create' }).click();
    await host.waitForURL(/\/app\/rooms\/[0-9a-f-]{36}$/);
    roomId = host.url().split('/').pop();
    roomUrl = `${s.url}/app/rooms/${roomId}`;
    await host.getByRole('heading', { name: 'Weekly sync' }).waitFor();
    await snap(host, 'room-prejoin');
    await host.getByTestId('join').click();
    await host.getByTestId('room').waitFor();
    assert.equal(await host.getByTestId('room-link').textContent(), roomUrl);
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

  it('a guest opens the room link in another browser, gives a name and joins', async () => {
    await guest.goto(roomUrl);
    await guest.getByTestId('guest-name').waitFor();
    await snap(guest, 'guest-name');
    await guest.getByTestId('guest-name').fill('Gina Guest');
    await guest.getByTestId('join').click();
    await guest.getByTestId('room').waitFor();
    await guest.locator('[data-testid="media-state"][data-state="unreachable"]').waitFor({ timeout: 30000 });
    const self = guest.getByTestId('participants').locator('li').first();
    const identity = await self.getAttribute('data-identity');
    assert.match(identity, /^guest-[0-9a-f]{32}$/);
    await snap(guest, 'guest-in-room-media-unreachable');
    // LiveKit would tell Calixio the guest connected: the same signed webhook
    const t = Math.floor(Date.now() / 1000);
    const body = lk.eventBody({ event: 'participant_joined', room: `cx-${roomId}`, identity, sid: 'PA_gina', name: 'Gina Guest', joinedAt: t, createdAt: t });
    const r = await s.http('POST', '/livekit/webhook', { body, headers: { Authorization: lk.signGo(body), 'Content-Type': 'application/webhook+json' } });
    assert.equal(r.status, 200);
    await host.getByTestId('participants').locator(`li[data-identity="${identity}"]`).getByText('Gina Guest').waitFor();
    await snap(host, 'host-sees-guest');
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

  it('screens whose routes this server lacks say so in words; Russian works', async () => {
    for (const [path, name] of [['/app/history', 'history'], ['/app/sessions', 'sessions'], ['/app/settings', 'settings'], ['/j/abc-defg-hij', 'meeting-code']]) {
      await host.goto(path);
      // history has its route now (issue 18): its table or "no calls yet"
      await host.locator(path === '/app/history' ? 'main table, main .empty' : 'main .note').first().waitFor();
      const text = await host.locator('main').textContent();
      assert.ok(text.trim().length > (path === '/app/history' ? 10 : 20), `${path} is not blank`);
      await snap(host, `screen-${name}`);
    }
    await host.goto('/app/rooms');
    await host.getByRole('combobox', { name: 'Language' }).selectOption('ru');
    await host.getByRole('heading', { name: 'Мои комнаты' }).waitFor();
    await snap(host, 'rooms-russian');
  });

  it('page weight: HTML/CSS/JS per screen (without livekit-client) stays small', async () => {
    const login = await s.http('POST', '/auth/login', { json: { email, password: 'correct horse battery' } });
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
      ['meeting code', '/j/abc-defg-hij', null, (p) => p.locator('main .note').waitFor()],
      ['history', '/app/history', true, (p) => p.locator('main .note, main table, main .empty').first().waitFor()],
      ['settings', '/app/settings', true, (p) => p.locator('main .note, main form').first().waitFor()],
      ['sessions', '/app/sessions', true, (p) => p.locator('main .note, main ul.sessions').first().waitFor()],
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
