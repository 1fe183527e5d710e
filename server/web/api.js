// HTTP side: where the server is, the signed-in session (tokens in
// localStorage, shared between tabs), and fetch wrappers for /api/v1.
//
// The API is always this page's own origin and the WebSocket is what the
// server wrote into the page (or names in `route`/`reconnect`): nothing in
// the page's URL may redirect either, or a crafted link would hand the
// victim's tokens to another host.

/**
 * The WebSocket URL: `<meta name="metaverse-ws">` (filled by the server),
 * else the page's host with the HTTP port + 1 (the server's default layout:
 * HTTP on 3000, WebSocket on 3001).
 */
export function wsUrl() {
  const meta = document.querySelector('meta[name="metaverse-ws"]')?.getAttribute('content')?.trim();
  if (meta && !meta.includes('{{')) {
    // ":3001": the host the page came from, that port.
    const port = /^:(\d{1,5})$/.exec(meta);
    if (port) {
      const secure = location.protocol === 'https:';
      return `${secure ? 'wss' : 'ws'}://${hostOnly(location)}:${port[1]}/`;
    }
    // Absolute (ws://…), or relative to the page (e.g. "/ws").
    const u = new URL(meta, location.href);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    if (u.protocol === 'https:') u.protocol = 'wss:';
    return u.href;
  }
  const secure = location.protocol === 'https:';
  const port = Number(location.port || (secure ? 443 : 80)) + 1;
  return `${secure ? 'wss' : 'ws'}://${hostOnly(location)}:${port}/`;
}

/**
 * A WebSocket URL the server named (route, `reconnect`) if this page can
 * dial it: `ws:`/`wss:` only, no `ws:` from an HTTPS page (the browser would
 * refuse it).
 */
export function usableWsUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return null;
    if (u.protocol === 'ws:' && location.protocol === 'https:') return null;
    return u.href;
  } catch {
    return null;
  }
}

/**
 * The WebSocket URL of the node serving a space (cluster mode), from
 * GET /space/:id/route; null without cluster mode (`nodeId: "local"`: the
 * default address is that node) or when the answer is not usable. Throws on
 * HTTP errors: callers fall back to wsUrl().
 */
export async function routeUrl(spaceId) {
  const r = await raw('GET', `/space/${encodeURIComponent(spaceId)}/route`, undefined, current?.token);
  if (!r || r.nodeId === 'local') return null;
  return usableWsUrl(r.url);
}

/** The host without the port ("[::1]" stays bracketed). */
function hostOnly(u) {
  return u.host.replace(/:\d+$/, '');
}

/**
 * A link into this client, for invites: origin and path only, so a query
 * string the page was opened with is not passed on.
 */
export function appLink(hash) {
  return `${location.origin}${location.pathname}${hash}`;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ------------------------------------------------------------------ session

const KEY = 'metaverse.session';
const listeners = new Set();

function readStored() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || 'null');
    return s && typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

let current = readStored();

/** The signed-in session `{username, token, refreshToken, expiresAt}` or null. */
export function session() {
  return current;
}

/** Called with the new session (or null) whenever it changes, in this tab or another. */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setSession(s, reason) {
  const changedUser = (current?.username || null) !== (s?.username || null);
  current = s;
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  for (const fn of listeners) fn(s, { reason, changedUser });
  scheduleRefresh();
}

// Another tab signed in, out or refreshed: adopt its tokens.
window.addEventListener('storage', (e) => {
  if (e.key !== KEY) return;
  const s = readStored();
  const changedUser = (current?.username || null) !== (s?.username || null);
  current = s;
  for (const fn of listeners) fn(s, { reason: s ? 'other-tab' : 'signed-out-elsewhere', changedUser });
  scheduleRefresh();
});

// ------------------------------------------------------------------ fetch

async function raw(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    const message = (err && err.message) || `${res.status} ${res.statusText || 'error'}`;
    throw new ApiError(res.status, (err && err.code) || `http-${res.status}`, message);
  }
  return data ?? {};
}

/** A public call. */
export function get(path) {
  return raw('GET', path);
}

/**
 * A call with the access token. An auth failure (403, or 401) refreshes the
 * token once and retries; if the session cannot be refreshed the user is
 * signed out (listeners get reason 'expired').
 */
export async function authed(method, path, body) {
  const s = current;
  if (!s) throw new ApiError(403, 'signed-out', 'Please sign in.');
  try {
    return await raw(method, path, body, s.token);
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) throw e;
    const outcome = await refreshSession(s.token);
    if (outcome === 'ok') return raw(method, path, body, current.token);
    if (outcome === 'invalid') {
      setSession(null, 'expired');
      throw new ApiError(403, 'expired', 'Your session has expired. Please sign in again.');
    }
    throw e;
  }
}

// ------------------------------------------------------------------ auth

export async function signUp(username, password) {
  return raw('POST', '/signup', { username, password, type: 'user' });
}

export async function signIn(username, password) {
  const r = await raw('POST', '/signin', { username, password });
  setSession({ username, token: r.token, refreshToken: r.refreshToken, expiresAt: r.expiresAt }, 'signed-in');
  return r;
}

export async function signOut() {
  const s = current;
  setSession(null, 'signed-out');
  if (s) {
    // Revoke the session server-side; ignore failures (we are signed out locally anyway).
    raw('POST', '/signout', undefined, s.token).catch(() => {});
  }
}

let refreshing = null;

/**
 * Gets a fresh access token with the refresh token: 'ok', 'invalid' (the
 * session is over) or 'error' (network; try later). Serialised across tabs
 * with the Web Locks API when available: presenting a used refresh token
 * would revoke the whole session, so only one tab may rotate it.
 */
export function refreshSession(failedToken) {
  if (!refreshing) {
    refreshing = doRefresh(failedToken).finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

async function doRefresh(failedToken) {
  const run = async () => {
    const stored = readStored();
    if (!stored || !stored.refreshToken) return 'invalid';
    if (failedToken && stored.token !== failedToken) {
      // Another tab already rotated the pair.
      current = stored;
      return 'ok';
    }
    try {
      const r = await raw('POST', '/token/refresh', { refreshToken: stored.refreshToken });
      setSession({ ...stored, token: r.token, refreshToken: r.refreshToken, expiresAt: r.expiresAt }, 'refreshed');
      return 'ok';
    } catch (e) {
      if (e instanceof ApiError && (e.status === 403 || e.status === 401 || e.status === 400)) return 'invalid';
      return 'error';
    }
  };
  if (navigator.locks && navigator.locks.request) {
    return navigator.locks.request('metaverse-token-refresh', run);
  }
  return run();
}

/** Milliseconds until the access token expires (Infinity if unknown). */
export function tokenTtl() {
  const t = Date.parse(current?.expiresAt || '');
  return Number.isFinite(t) ? t - Date.now() : Infinity;
}

/** A token good for at least `margin` ms, refreshing first if needed. */
export async function freshToken(margin = 30_000) {
  if (!current) return null;
  if (tokenTtl() < margin) {
    const outcome = await refreshSession(current.token);
    if (outcome === 'invalid') {
      setSession(null, 'expired');
      return null;
    }
  }
  return current?.token || null;
}

/** Sign the user out locally (e.g. after a revoked session), with a reason for the UI. */
export function dropSession(reason) {
  setSession(null, reason);
}

let refreshTimer = 0;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!current) return;
  const ttl = tokenTtl();
  if (!Number.isFinite(ttl)) return;
  // Refresh a minute before expiry (or at 80% of a short lifetime).
  const wait = Math.max(5_000, ttl > 300_000 ? ttl - 60_000 : ttl * 0.8);
  if (wait > 2 ** 31 - 1) return;
  refreshTimer = setTimeout(async () => {
    const outcome = await refreshSession(current?.token);
    if (outcome === 'invalid') setSession(null, 'expired');
    else if (outcome === 'error') {
      refreshTimer = setTimeout(scheduleRefresh, 15_000);
    }
  }, wait);
}
scheduleRefresh();

// ------------------------------------------------------------------ catalogue and spaces

export const api = {
  avatars: () => get('/avatars'),
  elements: () => get('/elements'),
  maps: () => get('/maps'),
  setAvatar: (avatarId) => authed('POST', '/user/metadata', { avatarId }),
  bulkMetadata: (ids) => get(`/user/metadata/bulk?ids=${encodeURIComponent(ids.join(','))}`),
  mySpaces: () => authed('GET', '/space/all'),
  space: (id) => get(`/space/${encodeURIComponent(id)}`),
  createSpace: (body) => authed('POST', '/space', body),
  deleteSpace: (id) => authed('DELETE', `/space/${encodeURIComponent(id)}`),
  chatrooms: (spaceId) => authed('GET', `/chatroom/space/${encodeURIComponent(spaceId)}`),
  createChatroom: (body) => authed('POST', '/chatroom/create', body),
  history: (roomId, before, limit = 50) =>
    authed(
      'GET',
      `/chatroom/${encodeURIComponent(roomId)}/messages?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ''}`,
    ),
  deleteMedia: (id) => authed('DELETE', `/media/${encodeURIComponent(id)}`),
  createElement: (body) => authed('POST', '/admin/element', body),
  createAvatar: (body) => authed('POST', '/admin/avatar', body),
  /** Whether the signed-in user is an admin now (`GET /user/me`). */
  async isAdmin() {
    try {
      const me = await authed('GET', '/user/me');
      return me?.role === 'admin';
    } catch {
      return false;
    }
  },
  async rtcConfig() {
    try {
      // Sent with the token: TURN credentials may be per user.
      const r = await raw('GET', '/rtc/config', undefined, current?.token);
      return Array.isArray(r.iceServers) ? r.iceServers : [];
    } catch {
      return []; // 404 before the server has it, or unreachable: host candidates only
    }
  },
};
