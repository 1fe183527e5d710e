#!/usr/bin/env node
// The client's WebRTC mesh (server/web/rtc.js) against itself, in one page:
// two Mesh instances whose `rtc-signal`s are relayed in-page instead of by the
// server. Checks perfect negotiation end to end with Chromium's fake camera
// and microphone, without needing the server's proximity/signaling feature:
//
//   1. both have media, both learn "nearby" at the same moment → connected,
//      each receives audio + video;
//   2. the impolite side (smaller id) starts without media and gets it later
//      → renegotiation, the other side receives its tracks;
//   3. receive-only on both sides still connects;
//   4. leaving the nearby set closes the connection and removes the tiles.
//
//   METAVERSE_URL        a page serving the client (default http://127.0.0.1:3000)
//   METAVERSE_ARTIFACTS  screenshot directory (default ../target/e2e/)

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.METAVERSE_URL || 'http://127.0.0.1:3000';
const ARTIFACTS = path.resolve(process.env.METAVERSE_ARTIFACTS || path.join(here, '..', 'target', 'e2e'));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
  ],
});
const timer = setTimeout(() => {
  console.error('FAIL: timed out after 60 s');
  process.exit(1);
}, 60_000);

let ok = false;
const page = await (await browser.newContext({ viewport: { width: 1000, height: 700 } })).newPage();
page.on('pageerror', (e) => console.log('[pageerror]', e.message));
try {
  await page.goto(new URL('#/', BASE).href.replace(/#.*/, ''), { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => !!window.__metaverse);
  const result = await page.evaluate(async () => {
    const { Mesh } = await import('./rtc.js');
    // Show the tiles (they live in the space view, hidden on this page) for the screenshot.
    const tiles = document.querySelector('#tiles');
    document.querySelector('main').prepend(tiles);
    tiles.hidden = false;
    const wait = async (what, fn, ms = 15000) => {
      const t0 = performance.now();
      while (!fn()) {
        if (performance.now() - t0 > ms) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const make = (id) => {
      const m = new Mesh({
        signal: (to, kind, data) => {
          // Through JSON like the WebSocket, delivered asynchronously.
          const copy = JSON.parse(JSON.stringify({ from: id, kind, data }));
          setTimeout(() => meshes[to]?.onSignal(copy), 5);
          return true;
        },
        who: (uid) => ({ name: `user ${uid}`, avatarUrl: null }),
      });
      m.myId = id;
      return m;
    };
    const meshes = {};
    const log = [];
    const connected = (a, b) =>
      meshes[a].peers.get(b)?.pc.connectionState === 'connected' && meshes[b].peers.get(a)?.pc.connectionState === 'connected';
    const kinds = (a, b) => meshes[a].peers.get(b)?.remote.getTracks().map((t) => t.kind).sort().join('+') || '';

    // 1. both with media, simultaneous nearby.
    meshes.a = make('a');
    meshes.b = make('b');
    await Promise.all([meshes.a.startMedia(), meshes.b.startMedia()]);
    if (meshes.a.media.state !== 'on') throw new Error(`no fake media: ${JSON.stringify(meshes.a.media)}`);
    meshes.a.setNearby(['b']);
    meshes.b.setNearby(['a']);
    await wait('1: connected', () => connected('a', 'b'));
    await wait('1: a receives audio+video', () => kinds('a', 'b') === 'audio+video');
    await wait('1: b receives audio+video', () => kinds('b', 'a') === 'audio+video');
    log.push(`1 ok: a<-b ${kinds('a', 'b')}, b<-a ${kinds('b', 'a')}`);

    // 4. walking apart closes both ends and their tiles.
    meshes.a.setNearby([]);
    meshes.b.onSignal({ from: 'a', kind: 'hangup', data: null });
    await wait('4: closed', () => !meshes.a.peers.size && !meshes.b.peers.size);
    if (document.querySelectorAll('#tiles .tile').length) throw new Error('4: tiles left behind');
    log.push('4 ok: hangup closes both');

    // 2. the starter (smaller id "a") gets media only later.
    meshes.a.destroy();
    meshes.a = make('a');
    meshes.a.setNearby(['b']);
    meshes.b.setNearby(['a']);
    await wait('2: connected receive-only on a', () => connected('a', 'b'));
    await meshes.a.startMedia();
    await wait('2: b receives a\'s tracks after renegotiation', () => kinds('b', 'a') === 'audio+video');
    await wait('2: a receives b', () => kinds('a', 'b') === 'audio+video');
    log.push(`2 ok: late media renegotiated, b<-a ${kinds('b', 'a')}`);
    meshes.a.destroy();
    meshes.b.destroy();

    // 3. nobody has media: still connects (receive-only).
    meshes.a = make('a');
    meshes.b = make('b');
    meshes.b.setNearby(['a']); // the polite side first this time
    meshes.a.setNearby(['b']);
    await wait('3: connected without media', () => connected('a', 'b'));
    log.push('3 ok: receive-only connects');
    // Leave it up for the screenshot with media on one side.
    await meshes.b.startMedia();
    await wait('3: a receives b after b turns media on', () => kinds('a', 'b') === 'audio+video');
    const tileOfB = meshes.a.peers.get('b').tile;
    await wait('3: b\'s tile shows video once frames flow', () => !tileOfB.classList.contains('tile-novideo'));
    await wait('3: b\'s video plays', () => tileOfB.querySelector('video').videoWidth > 0);
    log.push('3 ok: video tile shows the remote camera');
    return log;
  });
  for (const l of result) console.log(l);
  ok = true;
} catch (e) {
  console.error('FAIL:', e.message);
} finally {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `rtc-loopback${ok ? '' : '-failure'}.png`) }).catch(() => {});
  await browser.close();
  clearTimeout(timer);
}
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
