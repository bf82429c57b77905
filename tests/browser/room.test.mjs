// The room flow in a real browser (Debian chromium, headless, driven
// by playwright-core) against the real local stack (harness/stack.mjs: the
// stores and every daemon from $CX_BUILD_DIR). Every Calixio route the pages
// call is the real one: nothing here is routed or mocked by playwright.
//
// Only the media server's side is played by the test, as a real SFU would:
// the stack's LIVEKIT_HOST is the harness's fake LiveKit RoomService
// (harness/fake-livekit.mjs, which checks every call as livekit-server does
// and answers ListParticipants from what the test set), and when a browser
// "connects" the test posts the webhooks LiveKit would send
// (participant_joined, track_published, participant_left), signed with the
// official livekit-server-sdk AccessToken the SDK's WebhookReceiver checks
// (harness/livekit-webhook.mjs signSdk). No SFU listens on the public
// LiveKit URL, so both pages must say the media server cannot be reached
// while chat, participants, the waiting room and moderation keep working.
//
// Host and guests are separate browser contexts: the host signs up, creates
// a knock room, copies its link; a guest opens the meeting code and waits
// (progress shown); the host lets the guest in (live event); both see each
// other in the participants list and chat live over the events stream; the
// host mutes the guest (LiveKit MutePublishedTrack, the list says so) and
// removes the guest, who is told; an invite link is created, copied, used by
// a second guest (no waiting) who is promoted, then revoked (a third visitor
// is told in words); a knock is rejected (said in words); the host ends the
// room and both remaining pages see it end; a reload keeps the host signed
// in. A screenshot of every step goes to tests/browser/out/room/ (or
// $CX_BROWSER_OUT/room); room.png there is the README's picture.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStack } from '../harness/stack.mjs';
import { startFakeLiveKit } from '../harness/fake-livekit.mjs';
import * as lkw from '../harness/livekit-webhook.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const OUT = process.env.CX_BROWSER_OUT ? join(process.env.CX_BROWSER_OUT, 'room') : join(here, 'out', 'room');
const CHROMIUM = process.env.CX_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 20000;
const PASSWORD = 'correct horse battery';

let s, lk, browser, shot = 0;
const problems = [];
const pages = [];

async function snap(page, name) {
  shot += 1;
  await page.screenshot({ path: join(OUT, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

// A browser context of its own (its own cookies: another person).
async function person(who, { clipboard = false } = {}) {
  const ctx = await browser.newContext({ baseURL: s.url, locale: 'en-US', viewport: { width: 1280, height: 860 } });
  if (clipboard) await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: s.url });
  // every state the media box went through (a long wait must show progress)
  await ctx.addInitScript(() => {
    window.cxMediaStates = [];
    new MutationObserver(() => {
      const st = document.querySelector('[data-testid="media-state"]')?.dataset.state;
      if (st && window.cxMediaStates.at(-1) !== st) window.cxMediaStates.push(st);
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`${who}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${who}: uncaught ${e.message}`));
  page.on('dialog', (d) => d.accept());
  pages.push(page);
  return page;
}

// --- the media server's side: what LiveKit knows and tells Calixio
const present = []; // ListParticipants of the room
async function hook(o) {
  const body = lkw.eventBody(o);
  const auth = await lkw.signSdk(body);
  assert.equal((await lkw.sdkReceive(body, auth)).event, o.event, 'the SDK WebhookReceiver accepts it');
  const r = await lkw.postWebhook(s, body, { auth });
  assert.equal(r.status, 200, r.text);
}
async function sfuJoined(room, p) {
  const t = Math.floor(Date.now() / 1000);
  present.push({ ...p, joined_at: t });
  lk.setParticipants(room, present);
  await hook({ event: 'participant_joined', room, identity: p.identity, sid: p.sid, name: p.name, joinedAt: t, createdAt: t });
  for (const tr of p.tracks ?? []) await hook({ event: 'track_published', room, identity: p.identity, sid: p.sid, trackSid: tr.sid, trackType: tr.type, createdAt: t });
}
async function sfuLeft(room, p) {
  const i = present.findIndex((x) => x.identity === p.identity);
  if (i >= 0) present.splice(i, 1);
  lk.setParticipants(room, present);
  await hook({ event: 'participant_left', room, identity: p.identity, sid: p.sid, name: p.name });
}

// --- what every joined page must show without a media server
async function mediaUnreachable(page) {
  await page.locator('[data-testid="media-state"][data-state="unreachable"]').waitFor({ timeout: 30000 });
  const said = await page.getByTestId('media-state').textContent();
  assert.match(said, /media server cannot be reached \(ws:\/\/127\.0\.0\.1:7880\)/);
  assert.match(said, /Chat, participants, the waiting room and moderation keep working/);
  assert.deepEqual(await page.evaluate(() => window.cxMediaStates), ['connecting', 'unreachable'], 'progress shown while connecting');
  assert.equal(await page.getByTestId('mic').isDisabled(), true, 'no media: the toggles are off');
}
// live events: the stream is open (the page says nothing about polling)
const live = (page) => page.locator('[data-testid="live-state"][data-state="live"]').waitFor({ state: 'attached' });
const row = (page, identity) => page.getByTestId('participants').locator(`li[data-identity="${identity}"]`);
const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  lk = await startFakeLiveKit({ apiKey: lkw.API_KEY, apiSecret: lkw.API_SECRET });
  s = await startStack({ env: { LIVEKIT_HOST: lk.url, LIVEKIT_TIMEOUT: '2s', LIVEKIT_MAX_ATTEMPTS: '1' } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],
  });
});

after(async () => {
  await browser?.close();
  await s?.stop();
  await lk?.stop();
});

describe('a room on the real stack: knock, approve, chat live, moderate, invite, end', () => {
  const email = `host-${Date.now()}@example.test`;
  let host, gina, olga, roomId, lkRoom, code, hostId, ginaId, olgaId, inviteUrl;

  it('the host signs up, creates a knock room, joins it and copies its link; no media server: said plainly', async () => {
    host = await person('host', { clipboard: true });
    await host.goto('/app/signup');
    await host.getByLabel('Name').fill('Hana Host');
    await host.getByLabel('Email').fill(email);
    await host.getByLabel('Password').fill(PASSWORD);
    await host.getByRole('button', { name: 'Sign up' }).click();
    await host.waitForURL('**/app/rooms');
    await host.getByTestId('room-name').fill('Design review');
    await host.getByTestId('room-access').selectOption('knock');
    await snap(host, 'host-creates-knock-room');
    await host.getByRole('button', { name: 'Create' }).click();
    await host.waitForURL(/\/app\/rooms\/[0-9a-f-]{36}$/);
    roomId = host.url().split('/').pop();
    [[lkRoom, code]] = await s.psql(`SELECT livekit_room, code FROM rooms WHERE id = '${roomId}' AND access = 'knock'`);
    await host.getByTestId('join').click();
    await host.getByTestId('room').waitFor();
    assert.ok(lk.rooms.has(lkRoom), 'Calixio created the LiveKit room');
    await live(host);
    await mediaUnreachable(host);
    hostId = await host.getByTestId('participants').locator('li').first().getAttribute('data-identity');
    await sfuJoined(lkRoom, { identity: hostId, name: 'Hana Host', sid: 'PA_host', tracks: [{ sid: 'TR_host_mic', type: 'AUDIO' }, { sid: 'TR_host_cam', type: 'VIDEO' }] });
    await host.locator('header.room-head').getByRole('button', { name: 'Copy link' }).click();
    await host.getByText('Link copied').waitFor();
    const link = await clipboard(host);
    assert.equal(link, `${s.url}/j/${code.slice(0, 3)}-${code.slice(3, 7)}-${code.slice(7)}`);
    await host.getByTestId('waiting-list').getByText('Nobody is waiting.').waitFor();
    await snap(host, 'host-in-room-link-copied');
  });

  it('a guest opens the meeting code and waits (progress shown); the host sees the knock live and lets the guest in', async () => {
    gina = await person('gina');
    await gina.goto(await clipboard(host));
    await gina.getByRole('heading', { name: 'Design review' }).waitFor();
    await gina.getByTestId('guest-name').fill('Gina Guest');
    await gina.getByTestId('join').click();
    const waiting = gina.getByTestId('waiting');
    await waiting.locator('.progress[role="status"]').getByText('Waiting for the host to let you in').waitFor();
    await snap(gina, 'guest-waiting');
    const entry = host.getByTestId('waiting-list').locator('li[data-waiting]');
    await entry.getByText('Gina Guest').waitFor(); // waiting.requested on the host's stream
    await snap(host, 'host-sees-knock');
    await entry.getByRole('button', { name: 'Let in' }).click();
    await host.getByTestId('waiting-list').getByText('Nobody is waiting.').waitFor();
    await gina.getByTestId('room').waitFor(); // waiting.approved, then the poll's join answer
    await live(gina);
    await mediaUnreachable(gina);
    const self = gina.getByTestId('participants').locator('li').first();
    ginaId = await self.getAttribute('data-identity');
    assert.match(ginaId, /^guest-[0-9a-f]{32}$/);
    assert.deepEqual(await s.psql(`SELECT status FROM room_waiting WHERE room_id = '${roomId}'`), [['approved']]);
  });

  it('both see each other in the participants list and chat live', async () => {
    await sfuJoined(lkRoom, { identity: ginaId, name: 'Gina Guest', sid: 'PA_gina', tracks: [{ sid: 'TR_gina_mic', type: 'AUDIO' }, { sid: 'TR_gina_cam', type: 'VIDEO' }] });
    await row(host, ginaId).getByText('Gina Guest').waitFor();
    await row(gina, hostId).getByText('Hana Host').waitFor(); // a room token reads the list
    await row(gina, hostId).getByText('host', { exact: true }).waitFor();
    assert.equal(await row(host, ginaId).locator('[data-state="mic-off"]').count(), 0, 'her microphone is on');
    await host.getByTestId('chat-input').fill('Welcome, Gina!');
    await host.getByRole('button', { name: 'Send' }).click();
    await gina.getByTestId('chat').getByText('Welcome, Gina!').waitFor(); // chat.message on her stream
    await gina.getByTestId('chat-input').fill('Thanks, glad to be here');
    await gina.getByRole('button', { name: 'Send' }).click();
    await host.getByTestId('chat').getByText('Thanks, glad to be here').waitFor();
    assert.deepEqual(await s.psql(`SELECT sender_name, text FROM chat_messages WHERE room_id = '${roomId}' ORDER BY seq`),
      [['Hana Host', 'Welcome, Gina!'], ['Gina Guest', 'Thanks, glad to be here']]);
    await snap(gina, 'guest-in-room-chat');
    await snap(host, 'host-in-room-chat');
    await host.screenshot({ path: join(OUT, 'room.png') });
  });

  it('the host mutes the guest (LiveKit mutes her tracks, the list says so), then removes her: she is told', async () => {
    const n0 = lk.callsOf('MutePublishedTrack').length;
    await row(host, ginaId).getByRole('button', { name: 'Mute', exact: true }).click();
    await row(host, ginaId).locator('[data-state="mic-off"]').waitFor();
    const mutes = lk.callsOf('MutePublishedTrack').slice(n0);
    assert.deepEqual(mutes.map((c) => [c.body.room, c.body.identity, c.body.track_sid, c.body.muted]).sort(),
      [[lkRoom, ginaId, 'TR_gina_cam', true], [lkRoom, ginaId, 'TR_gina_mic', true]]);
    await snap(host, 'host-muted-guest');
    const r0 = lk.callsOf('RemoveParticipant').length;
    await row(host, ginaId).getByRole('button', { name: 'Remove', exact: true }).click();
    await gina.getByTestId('removed').getByText('You were removed from the room.').waitFor(); // participant.removed
    assert.deepEqual(lk.callsOf('RemoveParticipant').slice(r0).map((c) => c.body.identity), [ginaId]);
    await sfuLeft(lkRoom, { identity: ginaId, name: 'Gina Guest', sid: 'PA_gina' });
    await row(host, ginaId).waitFor({ state: 'detached' });
    await snap(gina, 'guest-removed');
    await snap(host, 'host-removed-guest');
    assert.deepEqual(await s.psql(`SELECT action, target FROM room_audit WHERE room_id = '${roomId}' AND action LIKE 'participant.%' ORDER BY id`),
      [['participant.muted', ginaId], ['participant.removed', ginaId]]);
  });

  it('an invite link: created and copied by the host, a second guest gets in without waiting and is promoted; revoked, it is refused in words', async () => {
    await host.getByRole('button', { name: 'New invite link' }).click();
    const inv = host.locator('ul.invites li[data-invite]');
    await inv.getByTestId('invite-link').waitFor();
    await inv.getByRole('button', { name: 'Copy link' }).click();
    inviteUrl = await clipboard(host);
    assert.equal(inviteUrl, await inv.getByTestId('invite-link').textContent());
    assert.match(inviteUrl, /\/j\/[a-z]{3}-[a-z]{4}-[a-z]{3}\?invite=[A-Za-z0-9_-]{22,}$/);
    await snap(host, 'host-invite-link');
    olga = await person('olga');
    await olga.goto(inviteUrl);
    await olga.getByTestId('guest-name').fill('Olga');
    await olga.getByTestId('join').click();
    await olga.getByTestId('room').waitFor(); // an invite holder does not wait
    await live(olga);
    olgaId = await olga.getByTestId('participants').locator('li').first().getAttribute('data-identity');
    await sfuJoined(lkRoom, { identity: olgaId, name: 'Olga', sid: 'PA_olga', tracks: [{ sid: 'TR_olga_mic', type: 'AUDIO' }] });
    await row(olga, hostId).getByText('Hana Host').waitFor();
    await row(olga, olgaId).getByText('participant', { exact: true }).waitFor(); // an invite holder
    assert.equal(await olga.getByTestId('waiting-room').isVisible(), false, 'a participant does not see the queue');
    assert.equal(await row(olga, hostId).getByRole('button').count(), 0, 'nor moderation buttons');
    await row(host, olgaId).getByText('Olga').waitFor();
    await row(host, olgaId).getByRole('button', { name: 'Make moderator' }).click();
    await row(host, olgaId).getByText('moderator', { exact: true }).waitFor();
    await row(olga, olgaId).getByText('moderator', { exact: true }).waitFor(); // participant.role_changed on her stream
    await olga.getByTestId('waiting-room').getByText('Nobody is waiting.').waitFor(); // the new role acts at once
    assert.equal(await row(olga, hostId).getByRole('button').count(), 0, 'nobody moderates the host');
    await snap(olga, 'invited-guest-promoted');
    await inv.getByRole('button', { name: 'Revoke' }).click();
    await host.getByText('No invite links.').waitFor();
    const late = await person('late');
    await late.goto(inviteUrl);
    await late.getByTestId('guest-name').fill('Latecomer');
    await late.getByTestId('join').click();
    await late.getByRole('alert').getByText('This invite link is not valid.').waitFor();
    await snap(late, 'revoked-invite-in-words');
    await late.context().close();
  });

  it('a knock the host rejects is told so in words', async () => {
    const kim = await person('kim');
    await kim.goto(`/j/${code}`);
    await kim.getByTestId('guest-name').fill('Kim');
    await kim.getByTestId('join').click();
    await kim.getByTestId('waiting').waitFor();
    const entry = host.getByTestId('waiting-list').locator('li[data-waiting]');
    await entry.getByText('Kim').waitFor();
    // the promoted moderator sees the knock too (her token predates the promotion: polled)
    await olga.getByTestId('waiting-list').locator('li[data-waiting]').getByText('Kim').waitFor();
    await entry.getByRole('button', { name: 'Reject' }).click();
    await olga.getByTestId('waiting-list').getByText('Nobody is waiting.').waitFor();
    await kim.getByTestId('waiting').getByRole('alert').getByText('The host did not let you in.').waitFor();
    await snap(kim, 'guest-rejected');
    await kim.context().close();
  });

  it('a guest let in and then banned is told; the ban is stored', async () => {
    const ben = await person('ben');
    await ben.goto(`/j/${code}`);
    await ben.getByTestId('guest-name').fill('Ben');
    await ben.getByTestId('join').click();
    await ben.getByTestId('waiting').waitFor();
    await host.getByTestId('waiting-list').locator('li[data-waiting]').getByRole('button', { name: 'Let in' }).click();
    await ben.getByTestId('room').waitFor();
    await live(ben);
    const benId = await ben.getByTestId('participants').locator('li').first().getAttribute('data-identity');
    await sfuJoined(lkRoom, { identity: benId, name: 'Ben', sid: 'PA_ben' });
    await row(host, benId).getByRole('button', { name: 'Ban', exact: true }).click();
    await ben.getByTestId('removed').getByText('You were removed from the room.').waitFor();
    await sfuLeft(lkRoom, { identity: benId, name: 'Ben', sid: 'PA_ben' });
    await row(host, benId).waitFor({ state: 'detached' });
    assert.deepEqual(await s.psql(`SELECT count(*) FROM room_bans WHERE room_id = '${roomId}' AND identity = '${benId}'`), [['1']]);
    await snap(host, 'host-banned-guest');
    await ben.context().close();
  });

  it('the host ends the room: the host and the guest still in it see it end', async () => {
    await host.getByTestId('end').click(); // the confirm is accepted
    await host.getByTestId('ended').getByText('This room has ended.').waitFor();
    await olga.getByTestId('ended').getByText('This room has ended.').waitFor(); // room.ended on her stream
    assert.deepEqual(await s.psql(`SELECT status FROM rooms WHERE id = '${roomId}'`), [['ended']]);
    assert.ok(lk.callsOf('DeleteRoom').some((c) => c.body.room === lkRoom), 'LiveKit room deleted');
    await snap(host, 'host-room-ended');
    await snap(olga, 'guest-room-ended');
  });

  it('a reload keeps the host signed in', async () => {
    await host.reload();
    await host.getByTestId('who').filter({ hasText: 'Hana Host' }).waitFor();
    await host.getByRole('heading', { name: 'Design review' }).waitFor();
    await host.getByText('This room has ended.').waitFor();
    await snap(host, 'host-reload-signed-in');
  });

  it('no uncaught errors, nothing blocked by the CSP', () => {
    assert.deepEqual(problems, []);
  });
});
