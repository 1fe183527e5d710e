// One entered space: the map (World), the WebSocket (Connection), chat,
// the people lists and the proximity call (Mesh), glued together.

import {
  api,
  ApiError,
  appLink,
  dropSession,
  freshToken,
  refreshSession,
  routeUrl,
  session,
  usableWsUrl,
  wsUrl,
} from './api.js';
import { Chat } from './chat.js';
import { Connection, closeReason } from './net.js';
import { Mesh } from './rtc.js';
import { $, announce, avatarBadge, banner, el, toast } from './ui.js';
import { World, displayName } from './world.js';

export class SpaceSession {
  /**
   * @param {string} spaceId
   * @param {object} o
   * @param {object} o.catalog  {avatarsById: Map}
   * @param {() => string|null} o.myAvatarUrl
   * @param {(message: string|null) => void} o.exit  go back to the lobby, with a message
   */
  constructor(spaceId, { catalog, myAvatarUrl, exit }) {
    this.spaceId = spaceId;
    this.catalog = catalog;
    this.myAvatarUrl = myAvatarUrl;
    this.exitTo = exit;
    this.names = new Map(); // userId -> username
    this.avatars = new Map(); // userId -> imageUrl|null (known)
    this.asked = new Set(); // userIds whose avatar we asked the server for
    this.nearby = [];
    this.group = null;
    this.status = 'idle';
    this.info = null;
    this.ended = false;
    this.counters = { notNearby: 0, rejected: 0 };
    this.cleanups = [];
  }

  // ---------------------------------------------------------------- lifecycle

  async enter() {
    let info;
    try {
      info = await api.space(this.spaceId);
    } catch (e) {
      const gone = e instanceof ApiError && (e.status === 400 || e.status === 404);
      this.exitTo(gone ? 'That space does not exist (it may have been deleted).' : `Could not open the space: ${e.message}`);
      return false;
    }
    if (this.ended) return false;
    this.info = info;
    const [w, h] = String(info.dimensions || '0x0')
      .split(/x/i)
      .map((n) => parseInt(n, 10) || 0);
    $('#space-name').textContent = info.name || 'Space';
    document.title = `${info.name || 'Space'} · Metaverse`;
    rememberRecent(this.spaceId, info.name);

    const canvas = $('#canvas');
    this.world = new World(canvas, {
      onStep: (x, y) => this.conn.send('move', { x, y }),
      onMoved: () => this.renderPosition(),
    });
    this.world.setMap(w, h, info.elements || []);

    this.chat = new Chat({
      spaceId: this.spaceId,
      send: (type, payload) => this.conn.send(type, payload),
      myId: () => this.world.me,
      myName: () => session()?.username || 'me',
      learnName: (id, name) => this.learnName(id, name),
      nearbyCount: () => this.nearby.length,
    });

    this.mesh = new Mesh({
      signal: (to, kind, data) => this.conn.send('rtc-signal', { to, kind, data }),
      who: (id) => this.who(id),
      onChange: () => this.renderMedia(),
    });

    this.conn = new Connection({
      url: wsUrl(),
      spaceId: this.spaceId,
      getToken: () => freshToken(),
      // Cluster mode: dial the node that serves the space (any node would
      // relay, but directly saves a hop).
      route: () => routeUrl(this.spaceId),
      usable: usableWsUrl,
      // The tiles the canvas shows: the server sends events from about
      // that far around us, whatever the crowd.
      view: () => this.world.tilesShown(),
      onMessage: (m) => this.handle(m),
      onStatus: (s, d) => this.onStatus(s, d),
    });

    this.bindUi();
    this.world.start();
    this.conn.start();
    this.chat.loadRooms();
    // ICE servers (TURN credentials are short-lived: refetched every 5 minutes
    // for calls that start later).
    const loadIce = () =>
      api.rtcConfig().then((servers) => {
        if (this.mesh) this.mesh.iceServers = servers;
      });
    loadIce();
    const iceTimer = setInterval(loadIce, 5 * 60_000);
    this.cleanups.push(() => clearInterval(iceTimer));
    this.mesh.startMedia();
    this.renderPeople();
    this.renderMedia();
    canvas.focus();
    return true;
  }

  /** Leave for good (navigating away, signing out). */
  exit() {
    if (this.ended) return;
    this.ended = true;
    this.conn?.stop({ leave: true });
    this.mesh?.destroy();
    this.chat?.destroy();
    this.world?.destroy();
    this.cleanups.forEach((f) => f());
    banner(null);
    $('#nearby-list').replaceChildren();
    $('#people-list').replaceChildren();
    $('#position').textContent = '';
    $('#media-notice').hidden = true;
    setPill('idle', '');
  }

  bindUi() {
    const on = (node, ev, fn) => {
      node.addEventListener(ev, fn);
      this.cleanups.push(() => node.removeEventListener(ev, fn));
    };
    const canvas = $('#canvas');
    const stage = $('#stage');
    on(canvas, 'focus', () => stage.classList.add('stage-focused'));
    on(canvas, 'blur', () => stage.classList.remove('stage-focused'));
    on(canvas, 'keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        $('#chat-input').focus();
      }
    });
    on($('#chat-input'), 'keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        canvas.focus();
      }
    });
    on($('#btn-leave'), 'click', () => {
      location.hash = '#/';
    });
    on($('#btn-copy'), 'click', () => copyLink(appLink(`#/space/${encodeURIComponent(this.spaceId)}`)));
    on($('#btn-mic'), 'click', () => this.mesh.toggleMic());
    on($('#btn-cam'), 'click', () => this.mesh.toggleCam());
    on($('#media-retry'), 'click', () => this.mesh.startMedia());
  }

  // ---------------------------------------------------------------- connection

  onStatus(status, d = {}) {
    this.status = status;
    if (this.ended) return;
    switch (status) {
      case 'connecting':
        setPill('connecting', 'Connecting…');
        break;
      case 'connected':
        setPill('connected', 'Connected');
        banner(null);
        break;
      case 'reconnecting': {
        setPill('reconnecting', 'Reconnecting…');
        this.chat.onDisconnected();
        if (d.retryAt) {
          const secs = Math.max(1, Math.round((d.retryAt - Date.now()) / 1000));
          const hint = d.attempt >= 3 ? ` (WebSocket ${this.conn.dialed || wsUrl()})` : '';
          banner(`${d.message || 'Disconnected.'} Reconnecting in ${secs} s…${hint}`, {
            kind: 'warn',
            action: 'Retry now',
            onAction: () => this.conn.reconnectNow(),
          });
        }
        break;
      }
      case 'moving':
        // The space changes server (drain, restart, failover): not an error;
        // the connection rejoins by itself, resuming where we stood.
        setPill('reconnecting', 'Moving to another server…');
        this.chat.onDisconnected();
        banner(null);
        break;
      case 'closed':
        setPill('closed', 'Disconnected');
        this.chat.onDisconnected();
        this.onTerminal(d.code, d.message);
        break;
      case 'signed-out':
        setPill('closed', 'Signed out');
        break;
    }
  }

  onTerminal(code, message) {
    switch (code) {
      case 4503:
        dropSession('revoked');
        return;
      case 4504:
        this.exitTo('This space was deleted.');
        return;
      case 4509:
        this.mesh.closeAll();
        banner('This space is open in another window or tab, so this one was disconnected.', {
          kind: 'warn',
          action: 'Use it here',
          onAction: () => this.conn.reconnectNow(),
        });
        return;
      case 4501:
        banner('Could not sign in to the space. Your session may have ended.', {
          action: 'Try again',
          onAction: async () => {
            await refreshSession(session()?.token);
            this.conn.reconnectNow();
          },
        });
        return;
      default:
        banner(message || closeReason(code), { action: 'Reconnect', onAction: () => this.conn.reconnectNow() });
    }
  }

  // ---------------------------------------------------------------- server messages

  handle({ type, payload: p = {} }) {
    if (this.ended) return;
    const w = this.world;
    switch (type) {
      case 'space-joined': {
        this.joins = { count: (this.joins?.count || 0) + 1, resumed: !!p.resumed };
        w.me = p.userId;
        this.mesh.myId = p.userId;
        if (p.space) w.resizeGrid(Number(p.space.width), Number(p.space.height));
        w.clearOthers();
        w.upsert(p.userId, p.spawn.x, p.spawn.y, {
          name: session()?.username,
          avatarUrl: this.myAvatarUrl(),
        });
        this.learnName(p.userId, session()?.username);
        for (const u of p.users || []) this.place(u, false);
        if (!p.resumed) this.setNearby([], null); // the server sends `proximity` from here on
        this.chat.onConnected();
        this.fetchAvatars();
        this.renderPeople();
        this.renderPosition();
        break;
      }
      case 'user-join':
      case 'view-enter':
        this.place(p, false);
        this.fetchAvatars();
        this.renderPeople();
        break;
      case 'movement':
        if (p.userId === w.me) break;
        if (!w.users.has(p.userId)) {
          this.place(p, false);
          this.fetchAvatars();
          this.renderPeople();
        } else {
          this.place(p, true);
        }
        break;
      case 'movement-rejected':
        this.counters.rejected += 1;
        w.snapMe(p.x, p.y);
        break;
      case 'user-left':
      case 'view-leave':
        // view-leave: out of the view window of a big space, still in it.
        w.remove(p.userId);
        if (this.nearby.includes(p.userId)) {
          this.setNearby(
            this.nearby.filter((id) => id !== p.userId),
            this.group,
          );
        }
        this.mesh.close(p.userId);
        this.renderPeople();
        break;
      case 'proximity':
        this.setNearby(Array.isArray(p.nearby) ? p.nearby : [], p.group ?? null);
        break;
      case 'rtc-signal':
        this.mesh.onSignal(p);
        break;
      case 'chat-joined':
        this.chat.onChatJoined(p);
        break;
      case 'chat-left':
        this.chat.onChatLeft(p);
        break;
      case 'chat-message':
        this.chat.onMessage(p);
        break;
      case 'heartbeat':
        break;
      case 'error':
        this.onError(p.code, p.message || '');
        break;
      default:
        // A newer server: ignore what we do not know.
        break;
    }
  }

  /** Adds/moves a user from a presence payload {userId, x, y, username?, avatarId?}. */
  place(u, tween) {
    if (!u || !u.userId) return;
    if (u.username) this.learnName(u.userId, u.username);
    const info = { name: this.names.get(u.userId) };
    if (u.avatarId !== undefined) {
      const a = u.avatarId ? this.catalog.avatarsById.get(u.avatarId) : null;
      if (a || u.avatarId === null) {
        info.avatarUrl = a ? a.imageUrl : null;
        this.avatars.set(u.userId, info.avatarUrl);
      }
    } else if (this.avatars.has(u.userId)) {
      info.avatarUrl = this.avatars.get(u.userId);
    }
    this.world.upsert(u.userId, Number(u.x), Number(u.y), info, { tween });
  }

  learnName(id, name) {
    if (!id || !name || this.names.get(id) === name) return;
    this.names.set(id, name);
    const u = this.world?.users.get(id);
    if (u) {
      u.name = name;
      this.renderPeople();
    }
    this.mesh?.refreshNames();
  }

  who(id) {
    const u = this.world?.users.get(id);
    return {
      name: this.names.get(id) || (u ? displayName(u) : id.slice(0, 6)),
      avatarUrl: u?.avatarUrl ?? this.avatars.get(id) ?? null,
    };
  }

  /** Ask /user/metadata/bulk for the avatars we do not know yet (debounced). */
  fetchAvatars() {
    clearTimeout(this.avatarTimer);
    this.avatarTimer = setTimeout(async () => {
      const ids = [...this.world.users.keys()].filter((id) => !this.avatars.has(id) && !this.asked.has(id)).slice(0, 200);
      if (!ids.length) return;
      ids.forEach((id) => this.asked.add(id));
      try {
        const r = await api.bulkMetadata(ids);
        for (const a of r.avatars || []) {
          const url = a.imageUrl || (a.avatarId && this.catalog.avatarsById.get(a.avatarId)?.imageUrl) || null;
          this.avatars.set(a.userId, url);
          const u = this.world.users.get(a.userId);
          if (u && url) this.world.upsert(a.userId, u.x, u.y, { avatarUrl: url });
        }
        this.renderPeople();
      } catch {
        ids.forEach((id) => this.asked.delete(id));
      }
    }, 150);
  }

  setNearby(ids, group) {
    const before = new Set(this.nearby);
    this.nearby = ids.filter((id) => id !== this.world.me);
    const came = this.nearby.filter((id) => !before.has(id)).map((id) => this.who(id).name);
    const went = [...before].filter((id) => !this.nearby.includes(id)).map((id) => this.who(id).name);
    if (came.length || went.length) {
      announce(
        [came.length ? `Near you: ${came.join(', ')}.` : '', went.length ? `Walked away: ${went.join(', ')}.` : '']
          .join(' ')
          .trim(),
      );
    }
    this.group = group;
    this.world.nearby = new Set(this.nearby);
    this.mesh.setNearby(this.nearby);
    this.chat.renderComposer();
    this.renderPeople();
  }

  onError(code, message) {
    switch (code) {
      case 'not-nearby':
        // A signal raced with someone walking away; the hangup follows.
        this.counters.notNearby += 1;
        return;
      case 'unauthorized':
        refreshSession(session()?.token).then((outcome) => {
          if (outcome === 'invalid') dropSession('expired');
          else this.conn.retryLater(4005, 'Your sign-in token expired.');
        });
        return;
      case 'unknown-space':
        this.exitTo('That space does not exist (it may have been deleted).');
        return;
      case 'session-replaced':
        return; // close 4509 follows
      case 'space-moving': {
        // Cluster mode: the join came while the space changes server. The
        // message says when to try again ("… join again in 1200 ms").
        const ms = /(\d+)\s*ms/.exec(message);
        this.conn.moveLater(ms ? Number(ms[1]) : 1000, 'The space is moving to another server.');
        return;
      }
      case 'not-joined':
      case 'space-closed': {
        // A close frame often follows (e.g. 4504 space deleted): let it win.
        const ws = this.conn.ws;
        setTimeout(() => {
          if (!this.ended && !this.conn.stopped && this.conn.ws === ws) {
            this.conn.retryLater(4004, 'You are no longer in the space.');
          }
        }, 500);
        return;
      }
      case 'busy':
        if (!this.conn.joined) {
          this.conn.retryLater(4000, 'The space is full or busy.');
          return;
        }
        toast(message || 'The server is busy.', 'error');
        return;
      case 'internal':
        if (!this.conn.joined) {
          // The join failed on the server's side (e.g. the cluster could not
          // be reached): try again with the backoff.
          this.conn.retryLater(1011, message || 'The server could not open the space.');
          return;
        }
        toast(`Server error (${code}): ${message}`, 'error');
        return;
      default:
        if (this.chat.onError(code, message)) return;
        if (code === 'rate-limited') {
          toast('Slow down: you are sending too fast.', 'error');
          return;
        }
        toast(`Server error (${code}): ${message}`, 'error');
    }
  }

  // ---------------------------------------------------------------- rendering

  renderPosition() {
    const me = this.world.users.get(this.world.me);
    $('#position').textContent = me ? `You are at ${me.x}, ${me.y}` : '';
  }

  renderPeople() {
    const w = this.world;
    const item = (id) => {
      const who = this.who(id);
      const peer = this.mesh.peers.get(id);
      return el(
        'li',
        { dataset: { userId: id, username: who.name }, class: id === w.me ? 'me' : '' },
        avatarBadge(who.name, who.avatarUrl, 24, id),
        el('span', { class: 'person-name' }, who.name + (id === w.me ? ' (you)' : '')),
        peer ? el('span', { class: `call-state call-${peer.pc.connectionState}` }, callLabel(peer.pc.connectionState)) : null,
      );
    };
    const nearbyIds = this.nearby.filter((id) => id !== w.me);
    $('#nearby-list').replaceChildren(...nearbyIds.map(item));
    $('#nearby-count').textContent = String(nearbyIds.length);
    $('#nearby-empty').hidden = nearbyIds.length > 0;
    const everyone = [...w.users.keys()].sort((a, b) => (a === w.me ? -1 : b === w.me ? 1 : this.who(a).name.localeCompare(this.who(b).name)));
    $('#people-list').replaceChildren(...everyone.map(item));
    $('#people-count').textContent = String(everyone.length);
  }

  renderMedia() {
    const m = this.mesh.media;
    const mic = $('#btn-mic');
    const cam = $('#btn-cam');
    mic.disabled = !m.audio;
    cam.disabled = !m.video;
    mic.setAttribute('aria-pressed', String(m.audio && m.micOn));
    cam.setAttribute('aria-pressed', String(m.video && m.camOn));
    mic.textContent = !m.audio ? 'No mic' : m.micOn ? 'Mic on' : 'Mic off';
    cam.textContent = !m.video ? 'No camera' : m.camOn ? 'Camera on' : 'Camera off';
    const notice = $('#media-notice');
    if (m.state === 'unavailable') {
      $('#media-notice-text').textContent =
        `${m.error} You can still see and hear the people near you; they cannot see or hear you.`;
      notice.hidden = false;
    } else {
      notice.hidden = true;
    }
    this.renderPeople();
  }

  /** For tests and debugging: window.__metaverse.state(). */
  snapshot() {
    const w = this.world;
    const me = w?.users.get(w.me);
    return {
      spaceId: this.spaceId,
      name: this.info?.name,
      status: this.status,
      width: w?.width,
      height: w?.height,
      me: me ? { userId: me.id, username: session()?.username, x: me.x, y: me.y } : null,
      users: w ? [...w.users.values()].map((u) => ({ userId: u.id, name: displayName(u), x: u.x, y: u.y, avatarUrl: u.avatarUrl })) : [],
      nearby: [...this.nearby],
      group: this.group,
      chat: this.chat?.snapshot() || [],
      rtc: this.mesh?.snapshot() || null,
      counters: { ...this.counters },
      joins: this.joins || null,
    };
  }
}

function callLabel(state) {
  return { connected: 'in call', new: 'calling…', connecting: 'calling…', failed: 'call failed', disconnected: 'reconnecting…' }[state] || state;
}

function setPill(status, text) {
  const pill = $('#conn');
  pill.dataset.status = status;
  pill.textContent = text;
  pill.hidden = status === 'idle';
}

async function copyLink(url) {
  try {
    await navigator.clipboard.writeText(url);
    toast('Invite link copied.', 'ok');
  } catch {
    window.prompt('Copy this link:', url);
  }
}

export function recentKey() {
  return `metaverse.recent.${session()?.username || ''}`;
}

export function recentSpaces() {
  try {
    const list = JSON.parse(localStorage.getItem(recentKey()) || '[]');
    return Array.isArray(list) ? list.filter((r) => r && typeof r.id === 'string') : [];
  } catch {
    return [];
  }
}

function rememberRecent(id, name) {
  const list = recentSpaces().filter((r) => r.id !== id);
  list.unshift({ id, name: String(name || id).slice(0, 64), at: Date.now() });
  localStorage.setItem(recentKey(), JSON.stringify(list.slice(0, 8)));
}
