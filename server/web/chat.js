// The chat panel: the space's rooms (HTTP list and history, WebSocket
// chat-join / chat-message) and the "Nearby" tab (chatroomId "nearby": goes to
// the people near you, not stored, no history). Content is rendered as text.

import { api, ApiError } from './api.js';
import { Attachments } from './attach.js';
import { $, announce, el, formatTime, toast, uuid } from './ui.js';

export const NEARBY = 'nearby';
const PENDING_TIMEOUT_MS = 10_000;

export class Chat {
  /**
   * @param {object} o
   * @param {string} o.spaceId
   * @param {(type: string, payload: object) => boolean} o.send  over the WebSocket
   * @param {() => string|null} o.myId
   * @param {() => string} o.myName
   * @param {(userId: string, username: string) => void} o.learnName
   * @param {() => number} o.nearbyCount
   */
  constructor(o) {
    Object.assign(this, o);
    this.rooms = new Map(); // id -> room
    this.active = null;
    this.rooms.set(NEARBY, this.newRoom({ id: NEARBY, name: 'Nearby' }, { virtual: true }));
    this.els = {
      tabs: $('#room-tabs'),
      list: $('#chat-messages'),
      older: $('#chat-older'),
      form: $('#chat-form'),
      input: $('#chat-input'),
      send: $('#chat-send'),
      passForm: $('#passcode-form'),
      passInput: $('#passcode-input'),
      roomForm: $('#room-form'),
      roomNew: $('#room-new'),
    };
    this.attachments = new Attachments(this);
    this.bind();
  }

  newRoom(r, extra = {}) {
    return {
      id: r.id,
      name: r.name,
      description: r.description || '',
      hasPasscode: !!r.hasPasscode,
      messages: new Map(), // id or clientId -> message
      lastId: null,
      nextCursor: undefined, // undefined: history not loaded; null: no more
      wanted: false, // we want to be subscribed (re-join after reconnect)
      joined: false,
      joining: false,
      passcode: undefined,
      needsPasscode: false,
      unread: 0,
      virtual: false,
      ...extra,
    };
  }

  // ---------------------------------------------------------------- wiring

  bind() {
    const e = this.els;
    this.handlers = [];
    const on = (node, ev, fn) => {
      node.addEventListener(ev, fn);
      this.handlers.push(() => node.removeEventListener(ev, fn));
    };
    on(e.form, 'submit', (ev) => {
      ev.preventDefault();
      this.submit();
    });
    on(e.input, 'keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    on(e.older, 'click', () => this.loadOlder());
    on(e.passForm, 'submit', (ev) => {
      ev.preventDefault();
      const room = this.rooms.get(this.active);
      if (!room) return;
      room.passcode = e.passInput.value;
      room.needsPasscode = false;
      e.passInput.value = '';
      this.join(room);
      this.renderMessages();
    });
    on(e.roomNew, 'click', () => {
      const open = e.roomForm.hidden;
      e.roomForm.hidden = !open;
      e.roomNew.setAttribute('aria-expanded', String(open));
      if (open) $('#room-name').focus();
    });
    on($('#room-cancel'), 'click', () => {
      e.roomForm.hidden = true;
      e.roomNew.setAttribute('aria-expanded', 'false');
    });
    on(e.roomForm, 'submit', (ev) => {
      ev.preventDefault();
      this.createRoom();
    });
    on(e.tabs, 'keydown', (ev) => {
      // Arrow keys move between tabs (WAI-ARIA tabs pattern).
      const tabs = [...e.tabs.querySelectorAll('[role=tab]')];
      const i = tabs.indexOf(document.activeElement);
      if (i < 0) return;
      let j = -1;
      if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
      if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      if (ev.key === 'Home') j = 0;
      if (ev.key === 'End') j = tabs.length - 1;
      if (j >= 0) {
        ev.preventDefault();
        tabs[j].focus();
        this.select(tabs[j].dataset.roomId);
      }
    });
    this.pendingTimer = setInterval(() => this.expirePending(), 2000);
    // Rooms created by others show up without a reload.
    this.roomsTimer = setInterval(() => {
      if (this.connected && !document.hidden) this.loadRooms({ quiet: true });
    }, 30_000);
  }

  destroy() {
    this.destroyed = true;
    this.handlers.forEach((f) => f());
    this.attachments.destroy();
    clearInterval(this.pendingTimer);
    clearInterval(this.roomsTimer);
    this.els.tabs.replaceChildren();
    this.els.list.replaceChildren();
    this.els.roomForm.hidden = true;
    this.els.passForm.hidden = true;
  }

  // ---------------------------------------------------------------- rooms

  /** Fetch the room list; subscribe to `general` and show it. */
  async loadRooms({ quiet = false } = {}) {
    let list = [];
    try {
      list = (await api.chatrooms(this.spaceId)).chatrooms || [];
    } catch (e) {
      if (!quiet) toast(`Could not load chat rooms: ${e.message}`, 'error');
      return;
    }
    if (this.destroyed) return;
    const ids = new Set(list.map((r) => r.id));
    for (const r of [...this.rooms.values()]) {
      if (!r.virtual && !ids.has(r.id)) this.rooms.delete(r.id); // deleted meanwhile
    }
    for (const r of list) {
      const old = this.rooms.get(r.id);
      if (old) Object.assign(old, { name: r.name, description: r.description || '', hasPasscode: !!r.hasPasscode });
      else this.rooms.set(r.id, this.newRoom(r));
    }
    const general = list.find((r) => r.name === 'general') || list[0];
    if (general) this.rooms.get(general.id).wanted = true;
    if (!this.active || !this.rooms.has(this.active)) this.active = general ? general.id : NEARBY;
    this.renderTabs();
    this.renderMessages();
    if (this.connected) this.joinWanted();
  }

  async createRoom() {
    const name = $('#room-name').value.trim();
    const passcode = $('#room-passcode').value;
    if (!name) {
      $('#room-name').focus();
      return;
    }
    try {
      const r = await api.createChatroom({ name, spaceId: this.spaceId, ...(passcode ? { passcode } : {}) });
      const room = this.newRoom(r.chatroom);
      room.passcode = passcode || undefined;
      this.rooms.set(room.id, room);
      $('#room-name').value = '';
      $('#room-passcode').value = '';
      this.els.roomForm.hidden = true;
      this.els.roomNew.setAttribute('aria-expanded', 'false');
      this.select(room.id);
    } catch (e) {
      toast(`Could not create the room: ${e.message}`, 'error');
    }
  }

  /** The WebSocket (re)joined the space: re-subscribe, catching up with `since`. */
  onConnected() {
    this.connected = true;
    for (const r of this.rooms.values()) {
      r.joined = false;
      r.joining = false;
    }
    this.joinWanted();
    this.renderComposer();
  }

  onDisconnected() {
    this.connected = false;
    for (const r of this.rooms.values()) {
      r.joined = false;
      r.joining = false;
    }
    this.renderComposer();
  }

  joinWanted() {
    for (const r of this.rooms.values()) if (r.wanted && !r.virtual) this.join(r);
  }

  join(room) {
    room.wanted = true;
    if (!this.connected || room.joining) return;
    room.joining = true;
    const payload = { chatroomId: room.id };
    if (room.passcode) payload.passcode = room.passcode;
    if (room.lastId) payload.since = room.lastId;
    if (!this.send('chat-join', payload)) room.joining = false;
  }

  select(id) {
    if (!this.rooms.has(id)) return;
    this.active = id;
    const room = this.rooms.get(id);
    room.unread = 0;
    if (!room.virtual && !room.joined && !room.needsPasscode) {
      // Members join without the passcode; others are asked for it if refused.
      this.join(room);
    }
    this.renderTabs();
    this.renderMessages();
  }

  // ---------------------------------------------------------------- server events

  onChatJoined({ chatroomId }) {
    const room = this.rooms.get(chatroomId);
    if (!room) return;
    room.joined = true;
    room.joining = false;
    if (room.nextCursor === undefined) this.loadHistory(room);
    this.renderTabs();
    if (chatroomId === this.active) this.renderMessages();
  }

  onChatLeft({ chatroomId }) {
    const room = this.rooms.get(chatroomId);
    if (room) room.joined = false;
  }

  onMessage(m) {
    if (!m || !m.chatroomId) return;
    let room = this.rooms.get(m.chatroomId);
    if (!room) {
      // A room created after we loaded the list.
      room = this.newRoom({ id: m.chatroomId, name: m.chatroomId.slice(0, 8) });
      this.rooms.set(room.id, room);
    }
    if (m.userId && m.username) this.learnName(m.userId, m.username);
    const added = this.add(room, m);
    const incoming = added && m.userId !== this.myId() && m.type !== 'system';
    if (incoming && room.id !== this.active) room.unread += 1;
    if (incoming) announce(`${m.username || 'Someone'} in ${room.virtual ? 'nearby chat' : `#${room.name}`}: ${describe(m)}`);
    this.renderTabs();
    if (room.id === this.active) this.renderMessages();
  }

  /** A WebSocket `error` that concerns chat: fail the oldest pending message. */
  onError(code, message) {
    const chatCodes = ['rate-limited', 'chat-unavailable', 'invalid', 'forbidden', 'unknown-chatroom'];
    if (!chatCodes.includes(code)) return false;
    // A refused chat-join (wrong passcode, unknown room)?
    for (const r of this.rooms.values()) {
      if (r.joining) {
        r.joining = false;
        r.wanted = false;
        const tried = r.passcode !== undefined;
        if (r.hasPasscode && code === 'forbidden') {
          r.needsPasscode = true;
          r.passcode = undefined;
        }
        if (r.id === this.active) this.renderMessages();
        if (!r.needsPasscode || tried) toast(`Could not join #${r.name}: ${message}`, 'error');
        if (r.needsPasscode && r.id === this.active) this.els.passInput.focus();
        return true;
      }
    }
    let oldest = null;
    for (const r of this.rooms.values()) {
      for (const m of r.messages.values()) {
        if (m.pending && !m.failed && (!oldest || m.localAt < oldest.m.localAt)) oldest = { r, m };
      }
    }
    if (oldest) {
      oldest.m.pending = false;
      oldest.m.failed = message || code;
      if (oldest.r.id === this.active) this.renderMessages();
    }
    toast(code === 'rate-limited' ? 'Slow down: too many messages.' : `Message not sent: ${message}`, 'error');
    return true;
  }

  expirePending() {
    const now = Date.now();
    let changed = false;
    for (const r of this.rooms.values()) {
      for (const m of r.messages.values()) {
        if (m.pending && now - m.localAt > PENDING_TIMEOUT_MS) {
          m.pending = false;
          m.failed = 'no answer from the server';
          changed = r.id === this.active || changed;
        }
      }
    }
    if (changed) this.renderMessages();
  }

  /** Merges a message, deduplicating by id and by our clientId. Returns true if new. */
  add(room, m) {
    if (m.id && room.messages.has(m.id)) return false;
    if (!room.virtual && m.id && (!room.lastId || m.id > room.lastId)) room.lastId = m.id;
    if (m.clientId && room.messages.has(`c:${m.clientId}`)) {
      // Our own message came back: replace the pending copy.
      room.messages.delete(`c:${m.clientId}`);
      room.messages.set(m.id || `c:${m.clientId}`, { ...m, pending: false, own: true, localAt: Date.now() });
      return false;
    }
    room.messages.set(m.id || `x:${uuid()}`, { ...m, localAt: Date.now() });
    return true;
  }

  async loadHistory(room) {
    if (room.virtual) return;
    try {
      const page = await api.history(room.id, null, 50);
      for (const m of page.messages || []) this.add(room, m);
      room.nextCursor = page.nextCursor ?? null;
      for (const m of page.messages || []) if (m.userId && m.username) this.learnName(m.userId, m.username);
    } catch (e) {
      room.nextCursor = undefined;
      if (!(e instanceof ApiError && e.code === 'expired')) toast(`Could not load history of #${room.name}: ${e.message}`, 'error');
    }
    if (room.id === this.active) this.renderMessages();
  }

  async loadOlder() {
    const room = this.rooms.get(this.active);
    if (!room || !room.nextCursor) return;
    const list = this.els.list;
    const before = list.scrollHeight;
    try {
      const page = await api.history(room.id, room.nextCursor, 50);
      for (const m of page.messages || []) this.add(room, m);
      room.nextCursor = page.nextCursor ?? null;
    } catch (e) {
      toast(`Could not load older messages: ${e.message}`, 'error');
    }
    this.renderMessages({ keepScroll: true });
    list.scrollTop = list.scrollHeight - before;
  }

  // ---------------------------------------------------------------- sending

  submit() {
    const input = this.els.input;
    const content = input.value;
    if (!content.trim()) return;
    const room = this.rooms.get(this.active);
    if (!room) return;
    if (!this.connected) {
      toast('Not connected: your message was not sent.', 'error');
      return;
    }
    if (room.virtual && this.nearbyCount() === 0) {
      toast('Nobody is near you: walk up to someone first.', 'info');
      return;
    }
    if (!room.virtual && !room.joined) {
      toast(`Join #${room.name} first.`, 'error');
      return;
    }
    const clientId = uuid();
    const ok = this.send('chat-message', { chatroomId: room.id, content, type: 'text', clientId });
    if (!ok) {
      toast('Not connected: your message was not sent.', 'error');
      return;
    }
    input.value = '';
    // Show it at once; the server's copy (with the same clientId) replaces it.
    // Nearby messages are not stored, so they are final at once.
    room.messages.set(`c:${clientId}`, {
      id: null,
      clientId,
      chatroomId: room.id,
      userId: this.myId(),
      username: this.myName(),
      content,
      type: 'text',
      sentAt: new Date().toISOString(),
      pending: !room.virtual,
      own: true,
      localAt: Date.now(),
    });
    this.renderMessages({ stick: true });
  }

  // ---------------------------------------------------------------- rendering

  renderTabs() {
    const tabs = this.els.tabs;
    const order = [...this.rooms.values()].sort((a, b) => {
      const rank = (r) => (r.name === 'general' ? 0 : r.virtual ? 1 : 2);
      return rank(a) - rank(b) || a.name.localeCompare(b.name);
    });
    tabs.replaceChildren(
      ...order.map((r) => {
        const selected = r.id === this.active;
        return el(
          'button',
          {
            type: 'button',
            role: 'tab',
            class: `room-tab${r.virtual ? ' room-tab-nearby' : ''}`,
            'aria-selected': String(selected),
            tabindex: selected ? '0' : '-1',
            'aria-controls': 'chat-body',
            title: r.description || undefined,
            dataset: { roomId: r.id, roomName: r.name, joined: String(r.virtual || r.joined) },
            onclick: () => this.select(r.id),
          },
          r.virtual ? 'Nearby' : `#${r.name}`,
          r.hasPasscode ? lockIcon() : null,
          r.unread ? el('span', { class: 'badge', 'aria-label': `${r.unread} unread` }, String(r.unread)) : null,
        );
      }),
    );
  }

  renderComposer() {
    const room = this.rooms.get(this.active);
    const input = this.els.input;
    const label = room ? (room.virtual ? 'Message the people near you' : `Message #${room.name}`) : 'Message';
    input.placeholder = room?.virtual && this.nearbyCount() === 0 ? 'Nobody nearby: walk up to someone' : label;
    $('#chat-input-label').textContent = label;
    const usable = this.connected && room && (room.virtual || room.joined);
    this.els.send.disabled = !usable;
    this.attachments.renderComposer(room);
  }

  renderMessages({ keepScroll = false, stick = false } = {}) {
    const room = this.rooms.get(this.active);
    const list = this.els.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    this.renderComposer();
    this.els.passForm.hidden = !(room && room.needsPasscode && !room.joined && !room.virtual);
    if (!room) {
      list.replaceChildren();
      return;
    }
    this.els.older.hidden = !room.nextCursor;
    const msgs = [...room.messages.values()].sort((a, b) => {
      // Server ids are UUIDv7 (time-ordered); our pending ones go last.
      if (a.id && b.id) return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      if (a.id) return -1;
      if (b.id) return 1;
      return a.localAt - b.localAt;
    });
    const items = msgs.map((m) => this.renderMessage(m));
    if (!items.length) {
      items.push(
        el(
          'li',
          { class: 'chat-empty muted' },
          room.virtual
            ? 'Messages here go to the people near you right now. They are not saved.'
            : room.joined
              ? 'No messages yet. Say hello!'
              : room.needsPasscode
                ? 'Enter the passcode to read and post here.'
                : 'Joining…',
        ),
      );
    }
    list.replaceChildren(...items);
    list.dataset.roomId = room.id;
    if (!keepScroll && (atBottom || stick)) list.scrollTop = list.scrollHeight;
  }

  renderMessage(m) {
    const mine = m.userId && m.userId === this.myId();
    const cls = ['msg'];
    if (m.type === 'system') cls.push('msg-system');
    if (mine) cls.push('msg-own');
    if (m.pending) cls.push('msg-pending');
    if (m.failed) cls.push('msg-failed');
    const li = el('li', {
      class: cls.join(' '),
      dataset: { messageId: m.id || '', clientId: m.clientId || '', userId: m.userId || '' },
    });
    if (m.type === 'system') {
      li.append(el('span', { class: 'msg-text' }, m.content), el('time', { datetime: m.sentAt }, formatTime(m.sentAt)));
      return li;
    }
    const head = el(
      'div',
      { class: 'msg-head' },
      el('span', { class: 'msg-user' }, m.username || (m.userId || '?').slice(0, 6)),
      el('time', { datetime: m.sentAt }, formatTime(m.sentAt)),
      m.pending ? el('span', { class: 'msg-state' }, 'sending…') : null,
      m.failed ? el('span', { class: 'msg-state msg-state-failed' }, `not sent (${m.failed})`) : null,
    );
    li.append(head);
    // An image or file (or its upload in progress), then its caption.
    const part = this.attachments.part(m);
    if (part) li.append(part);
    if (part && !m.content) return li;
    // Untrusted content: text only. White-space is kept by CSS.
    const body = el('div', { class: 'msg-text' });
    body.textContent = m.content;
    if (m.type === 'emoji') body.classList.add('msg-emoji');
    li.append(body);
    return li;
  }

  /** For the debug object. */
  snapshot() {
    return [...this.rooms.values()].map((r) => ({
      id: r.id,
      name: r.name,
      joined: r.virtual || r.joined,
      messages: [...r.messages.values()].map((m) => ({
        id: m.id,
        userId: m.userId,
        username: m.username,
        content: m.content,
        type: m.type,
        attachment: m.attachment || null,
        uploading: !!m.uploading,
        pending: !!m.pending,
        failed: m.failed || null,
      })),
    }));
  }
}

/** A message for screen readers: its text, and what it carries. */
function describe(m) {
  if (!m.attachment) return m.content;
  const what = `${m.type === 'image' ? 'an image' : 'a file'}, ${m.attachment.name}`;
  return m.content ? `${m.content} (${what})` : what;
}

/** A small padlock (SVG: no emoji font needed). */
function lockIcon() {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '11');
  svg.setAttribute('height', '11');
  svg.setAttribute('class', 'lock');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'needs a passcode');
  const body = document.createElementNS(NS, 'rect');
  Object.entries({ x: 3, y: 7, width: 10, height: 8, rx: 1.5, fill: 'currentColor' }).forEach(([k, v]) => body.setAttribute(k, v));
  const shackle = document.createElementNS(NS, 'path');
  Object.entries({ d: 'M5 7V5a3 3 0 0 1 6 0v2', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8 }).forEach(([k, v]) =>
    shackle.setAttribute(k, v),
  );
  svg.append(body, shackle);
  return svg;
}
