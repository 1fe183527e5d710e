// The WebSocket link to one space: JSON text frames on the subprotocol
// `metaverse.v1.json`, `join` (with the resume token after a drop),
// heartbeats, and reconnection with backoff according to the close codes.
// In cluster mode each (re)connection first asks where the space is served
// (`route`) and dials that node; a `reconnect` message or close 4006 (the
// space moved to another node) reconnects there without backoff.

export const SUBPROTOCOL = 'metaverse.v1.json';

/** Close codes (docs/PROTOCOL.md, "Close codes"): what they mean and whether to reconnect. */
const CLOSE_REASONS = {
  1000: 'The connection was closed.',
  1001: 'The server went away.',
  1006: 'The connection dropped.',
  1011: 'The server hit an error.',
  4000: 'The server is restarting.',
  4001: 'The connection was idle too long.',
  4002: 'The connection fell behind (slow network).',
  4003: 'Too many messages were sent too fast.',
  4004: 'The space was closed.',
  4005: 'Your sign-in token expired.',
  4006: 'The space moved to another server.',
  4007: 'The connection did not join a space in time.',
  4501: 'Signing in to the space failed repeatedly.',
  4502: 'The server could not understand this client (protocol error).',
  4503: 'Your sign-in session was revoked (signed out elsewhere).',
  4504: 'This space was deleted.',
  4509: 'You opened this space in another window or tab.',
};

export function closeReason(code, reason) {
  return CLOSE_REASONS[code] || (reason ? `Disconnected: ${reason}` : `Disconnected (code ${code}).`);
}

/** 4500–4999 are terminal: fix something before connecting again. */
export function isTerminal(code) {
  return code >= 4500 && code <= 4999;
}

const HEARTBEAT_MS = 20_000;
const STALE_MS = 50_000; // nothing heard for this long: assume the socket is dead
const ROUTE_TIMEOUT_MS = 3_000; // a slower route lookup: dial the default URL
const MOVE_CLOSE_WAIT_MS = 2_000; // after `reconnect`, the server closes; if not, we do
const MOVE_JITTER_MS = 250; // spread a moved space's clients over this much time
const MAX_MOVE_WAIT_MS = 60_000;

function withTimeout(promise, ms) {
  let timer = 0;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class Connection {
  /**
   * @param {object} o
   * @param {string} o.url        ws:// URL (the default, and the fallback of `route`)
   * @param {string} o.spaceId
   * @param {() => Promise<string|null>} o.getToken  a fresh access token (null: signed out)
   * @param {() => Promise<string|null>} [o.route]  the URL of the node serving the space
   *   (null, or a failure: use `url`); asked before each connection
   * @param {(url: any) => string|null} [o.usable]  checks a URL the server names in `reconnect`
   * @param {() => {width: number, height: number}} [o.view]  the window shown, in tiles,
   *   sent with each `join` so the server sends what is in it
   * @param {(msg: {type: string, payload: any}) => void} o.onMessage
   * @param {(status: string, detail?: object) => void} o.onStatus
   *   statuses: connecting | connected | reconnecting | moving (the space changes
   *   node; no error) | closed (terminal) | signed-out
   */
  constructor({ url, spaceId, getToken, route, usable, view, onMessage, onStatus }) {
    Object.assign(this, { url, spaceId, getToken, route, usable, view, onMessage, onStatus });
    this.ws = null;
    this.dialed = null; // the URL of the current (or last) socket
    this.resumeToken = null;
    this.attempt = 0;
    this.moves = 0; // moves since the last successful join
    this.moveTo = null; // {url, delay, reason}: where the next connection goes
    this.avoidRoute = false; // the routed URL did not open last time: use `url` once
    this.stopped = false;
    this.joined = false;
    this.timers = { retry: 0, heartbeat: 0, move: 0 };
    this.lastHeard = 0;
    this.onOnline = () => {
      if (!this.ws && !this.stopped) this.reconnectNow();
    };
    window.addEventListener('online', this.onOnline);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  async open() {
    clearTimeout(this.timers.retry);
    if (this.stopped) return;
    const gen = (this.gen = (this.gen || 0) + 1); // a later open() supersedes this one
    this.onStatus(this.attempt ? 'reconnecting' : 'connecting', { attempt: this.attempt });
    const token = await this.getToken();
    if (this.stopped || gen !== this.gen) return;
    if (!token) {
      this.stop();
      this.onStatus('signed-out');
      return;
    }
    const target = await this.target();
    if (this.stopped || gen !== this.gen) return;
    let ws = null;
    let error = null;
    for (const url of target === this.url ? [this.url] : [target, this.url]) {
      try {
        ws = new WebSocket(url, SUBPROTOCOL);
        this.dialed = url;
        break;
      } catch (e) {
        error = e;
      }
    }
    if (!ws) {
      this.onStatus('closed', { code: 0, message: `Bad WebSocket URL ${this.url}: ${error?.message}` });
      this.stopped = true;
      return;
    }
    this.ws = ws;
    this.joined = false;
    ws.opened = false;
    ws.onopen = () => {
      ws.opened = true;
      this.lastHeard = Date.now();
      this.sendRaw('join', {
        spaceId: this.spaceId,
        token,
        ...(this.resumeToken ? { resumeToken: this.resumeToken } : {}),
        ...(this.view?.() ? { view: this.view() } : {}),
      });
      this.startHeartbeat();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      if (typeof ev.data !== 'string') return; // we negotiated JSON; ignore anything else
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn('undecodable frame', ev.data);
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'reconnect') {
        this.onReconnectNotice(ws, msg.payload || {});
        return;
      }
      if (msg.type === 'space-joined') {
        this.joined = true;
        this.attempt = 0;
        this.moves = 0;
        this.resumeToken = msg.payload?.resumeToken || null;
        this.onStatus('connected', { resumed: !!msg.payload?.resumed });
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => this.handleClose(ws, ev);
    ws.onerror = () => {
      /* a close event follows */
    };
  }

  /** Where to connect: the URL a `reconnect` named, else the space's route, else `url`. */
  async target() {
    const hinted = this.moveTo?.url;
    this.moveTo = null;
    if (hinted) return hinted;
    if (!this.route || this.avoidRoute) {
      this.avoidRoute = false;
      return this.url;
    }
    try {
      return (await withTimeout(this.route(), ROUTE_TIMEOUT_MS)) || this.url;
    } catch {
      return this.url; // no route (older server, network): the default address
    }
  }

  handleClose(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.joined = false;
    clearInterval(this.timers.heartbeat);
    clearTimeout(this.timers.move);
    if (this.stopped) return;
    // A node we were sent to that cannot be reached (e.g. a name that only
    // resolves inside the cluster): the next attempt uses the default URL.
    if (!ws.opened && this.dialed !== this.url) this.avoidRoute = true;
    const code = ev.code;
    const message = closeReason(code, ev.reason);
    if (isTerminal(code)) {
      this.stopped = true;
      this.resumeToken = null;
      this.onStatus('closed', { code, message });
      return;
    }
    if (this.moveTo || code === 4006) {
      this.scheduleMove();
      return;
    }
    this.scheduleReconnect(code, message);
  }

  /**
   * `reconnect`: the space is moving to another node (drain, lease lost, its
   * node gone). The server closes the socket next (4006); then we dial `url`
   * (or the route again) after `retryAfterMs` and join with the resume token.
   */
  onReconnectNotice(ws, p) {
    const wait = Number(p.retryAfterMs);
    this.moveTo = {
      url: (this.usable ? this.usable(p.url) : null) || null,
      delay: Number.isFinite(wait) ? Math.min(Math.max(wait, 0), MAX_MOVE_WAIT_MS) : 0,
      reason: typeof p.reason === 'string' ? p.reason : '',
    };
    this.onStatus('moving', { message: this.moveTo.reason });
    clearTimeout(this.timers.move);
    this.timers.move = setTimeout(() => {
      if (this.ws !== ws || this.stopped) return;
      this.detach();
      this.scheduleMove();
    }, MOVE_CLOSE_WAIT_MS);
  }

  /** Connect again after a move, without the error backoff (unless it keeps happening). */
  scheduleMove() {
    const m = this.moveTo || { url: null, delay: 0, reason: '' };
    this.moveTo = m;
    this.moves += 1;
    const extra = this.moves > 3 ? Math.min(15_000, 500 * 2 ** (this.moves - 4)) : 0;
    const delay = Math.round(m.delay + extra + Math.random() * MOVE_JITTER_MS);
    this.onStatus('moving', { message: m.reason, delay, retryAt: Date.now() + delay });
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.open(), delay);
  }

  /** Join again in `delay` ms through a new connection (e.g. `space-moving`). */
  moveLater(delay, reason = '') {
    if (this.stopped) return;
    this.detach();
    this.moveTo = { url: null, delay: Math.min(Math.max(Number(delay) || 0, 0), MAX_MOVE_WAIT_MS), reason };
    this.scheduleMove();
  }

  scheduleReconnect(code, message) {
    this.attempt += 1;
    // 0.5 s, 1 s, 2 s … up to 15 s, with jitter; a rate-limit close waits longer.
    const base = Math.min(15_000, 500 * 2 ** (this.attempt - 1)) * (code === 4003 ? 4 : 1);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.onStatus('reconnecting', { code, message, delay, attempt: this.attempt, retryAt: Date.now() + delay });
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.open(), delay);
  }

  /** Close the current socket (if any) without triggering our close handling. */
  detach() {
    clearInterval(this.timers.heartbeat);
    clearTimeout(this.timers.move);
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(4000, 'reconnecting');
      } catch {
        /* ignore */
      }
    }
  }

  /** Drop the current socket (if any) and connect again at once. */
  reconnectNow() {
    clearTimeout(this.timers.retry);
    this.detach();
    this.moveTo = null;
    this.stopped = false;
    this.open();
  }

  /** Drop the current socket and connect again after the backoff (e.g. after a refused join). */
  retryLater(code, message) {
    if (this.stopped) return;
    this.detach();
    this.scheduleReconnect(code, message);
  }

  startHeartbeat() {
    clearInterval(this.timers.heartbeat);
    this.timers.heartbeat = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastHeard > STALE_MS) {
        // Half-open socket: the server stopped answering.
        this.retryLater(1006, 'The connection stopped responding.');
        return;
      }
      this.sendRaw('heartbeat', {});
    }, HEARTBEAT_MS);
  }

  sendRaw(type, payload) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ type, payload }));
    return true;
  }

  /** Sends once joined; returns false if not connected. */
  send(type, payload = {}) {
    if (!this.joined) return false;
    return this.sendRaw(type, payload);
  }

  get connected() {
    return this.joined && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Leave the space and close for good. */
  stop({ leave = true } = {}) {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    clearTimeout(this.timers.move);
    clearInterval(this.timers.heartbeat);
    window.removeEventListener('online', this.onOnline);
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    if (ws) {
      if (leave && ws.readyState === WebSocket.OPEN) {
        try {
          ws.send(JSON.stringify({ type: 'leave', payload: {} }));
        } catch {
          /* ignore */
        }
      }
      ws.onclose = null;
      try {
        ws.close(1000, 'bye');
      } catch {
        /* ignore */
      }
    }
  }
}
