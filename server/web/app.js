// Metaverse browser client: the entry module.
//
// Wire format: this client speaks JSON text frames over the WebSocket
// subprotocol `metaverse.v1.json` ({"type": "...", "payload": {...}}), never
// MessagePack. The WebSocket URL is <meta name="metaverse-ws">, else the
// page's host with the HTTP port + 1. The HTTP API is same-origin under
// /api/v1; the page's URL never changes either.
//
// Modules: api.js (HTTP, tokens), net.js (WebSocket, reconnect/resume),
// world.js (canvas, movement), chat.js (rooms + nearby chat), rtc.js (WebRTC
// mesh), space.js (one entered space), media.js (uploads with progress,
// attachments), attach.js (chat attachments), admin.js (the catalogue panel),
// ui.js (DOM helpers). No build step.

import { initAdmin, showAdmin } from './admin.js';
import * as A from './api.js';
import { recentSpaces, SpaceSession } from './space.js';
import { $, assetUrl, avatarBadge, el, initBanner, toast } from './ui.js';

const catalog = { avatars: [], avatarsById: new Map(), maps: [], loaded: null };
let space = null; // the SpaceSession we are in
let authMode = 'signin';

// ------------------------------------------------------------------ views

function showView(name) {
  for (const v of ['auth', 'lobby', 'space', 'loading']) $(`#view-${v}`).hidden = v !== name;
  document.body.dataset.view = name;
  const s = A.session();
  $('#whoami').hidden = !s;
  $('#whoami').textContent = s ? s.username : '';
  $('#signout').hidden = !s;
  if (name !== 'space') document.title = 'Metaverse';
}

function leaveSpace() {
  if (space) {
    space.exit();
    space = null;
  }
}

/** #/ → lobby, #/space/<id> → that space; the auth view when signed out. */
async function route() {
  const spaceId = hashSpaceId();
  if (!A.session()) {
    leaveSpace();
    showAuth();
    return;
  }
  if (spaceId) {
    if (space && space.spaceId === spaceId && !space.ended) return;
    leaveSpace();
    await enterSpace(spaceId);
  } else {
    leaveSpace();
    showLobby();
  }
}

// ------------------------------------------------------------------ auth

const AUTH_REASONS = {
  expired: 'Your session has expired. Please sign in again.',
  revoked: 'You were signed out (the session was ended elsewhere). Please sign in again.',
  'signed-out-elsewhere': 'You signed out in another tab.',
};

function showAuth(message) {
  showView('auth');
  setAuthMode(authMode);
  const err = $('#auth-error');
  if (message) {
    err.textContent = message;
    err.hidden = false;
  }
  const m = /^#\/space\//.test(location.hash);
  $('#auth-title').textContent = m ? 'Sign in to enter the space' : 'Welcome';
  $('#auth-username').focus();
}

function setAuthMode(mode) {
  authMode = mode;
  for (const t of document.querySelectorAll('#view-auth [role=tab]')) {
    const sel = t.dataset.mode === mode;
    t.setAttribute('aria-selected', String(sel));
    t.tabIndex = sel ? 0 : -1;
  }
  $('#auth-form').setAttribute('aria-labelledby', mode === 'signin' ? 'tab-signin' : 'tab-signup');
  $('#auth-submit').textContent = mode === 'signin' ? 'Sign in' : 'Create account';
  $('#auth-password').autocomplete = mode === 'signin' ? 'current-password' : 'new-password';
  $('#auth-username-hint').hidden = mode === 'signin';
  $('#auth-password-hint').hidden = mode === 'signin';
}

function authError(message) {
  const err = $('#auth-error');
  err.textContent = message;
  err.hidden = !message;
}

function checkCredentials(username, password) {
  if (username.length < 3 || username.length > 64) return 'The username must be 3 to 64 characters.';
  if (/\s/.test(username)) return 'The username cannot contain spaces.';
  if (password.length < 8 || password.length > 128) return 'The password must be 8 to 128 characters.';
  return null;
}

function friendlyAuthError(e, mode) {
  if (!(e instanceof A.ApiError)) return String(e.message || e);
  if (e.code === 'username-taken') return 'That username is already taken. Pick another one, or sign in.';
  if (mode === 'signin' && e.status === 403) return 'Wrong username or password.';
  if (e.code === 'busy') return 'The server is busy right now. Try again in a few seconds.';
  if (e.code === 'rate-limited') return 'Too many attempts. Wait a moment and try again.';
  return e.message;
}

function bindAuth() {
  for (const t of document.querySelectorAll('#view-auth [role=tab]')) {
    t.addEventListener('click', () => {
      setAuthMode(t.dataset.mode);
      authError('');
    });
    t.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        const other = t.dataset.mode === 'signin' ? 'signup' : 'signin';
        setAuthMode(other);
        $(`#tab-${other}`).focus();
      }
    });
  }
  $('#auth-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = $('#auth-username').value.trim();
    const password = $('#auth-password').value;
    const mode = authMode;
    const invalid = mode === 'signup' ? checkCredentials(username, password) : !username || !password ? 'Enter your username and password.' : null;
    if (invalid) {
      authError(invalid);
      return;
    }
    authError('');
    const btn = $('#auth-submit');
    btn.disabled = true;
    btn.textContent = mode === 'signin' ? 'Signing in…' : 'Creating account…';
    try {
      if (mode === 'signup') await A.signUp(username, password);
      await A.signIn(username, password);
      $('#auth-password').value = '';
      // onSessionChange routes on.
    } catch (e) {
      authError(friendlyAuthError(e, mode));
    } finally {
      btn.disabled = false;
      setAuthMode(authMode);
    }
  });
}

// ------------------------------------------------------------------ catalogue

function loadCatalog() {
  if (!catalog.loaded) {
    catalog.loaded = Promise.all([
      A.api.avatars().catch(() => ({ avatars: [] })),
      A.api.maps().catch(() => ({ maps: [] })),
    ]).then(([a, m]) => {
      catalog.avatars = a.avatars || [];
      catalog.avatarsById = new Map(catalog.avatars.map((x) => [x.id, x]));
      catalog.maps = m.maps || [];
    });
    catalog.loaded.catch(() => {
      catalog.loaded = null;
    });
  }
  return catalog.loaded;
}

const avatarKey = () => `metaverse.avatar.${A.session()?.username || ''}`;

function myAvatarId() {
  return localStorage.getItem(avatarKey());
}

function myAvatarUrl() {
  const a = catalog.avatarsById.get(myAvatarId());
  return a ? a.imageUrl : null;
}

// ------------------------------------------------------------------ lobby

async function showLobby() {
  showView('lobby');
  $('#main').focus({ preventScroll: true });
  showAdmin();
  await loadCatalog();
  renderAvatars();
  renderMaps();
  loadSpaces();
}

function renderAvatars() {
  const list = $('#avatar-list');
  const current = myAvatarId();
  if (!catalog.avatars.length) {
    list.replaceChildren(el('p', { class: 'muted' }, 'No avatars are available.'));
    return;
  }
  list.replaceChildren(
    ...catalog.avatars.map((a) => {
      const id = `avatar-${a.id}`;
      const input = el('input', {
        type: 'radio',
        name: 'avatar',
        id,
        value: a.id,
        class: 'visually-hidden',
        checked: a.id === current,
      });
      input.addEventListener('change', () => chooseAvatar(a));
      return el(
        'label',
        { for: id, class: 'avatar-choice', dataset: { avatarId: a.id, avatarName: a.name } },
        input,
        avatarBadge(a.name, a.imageUrl, 56, a.id),
        el('span', {}, a.name),
      );
    }),
  );
  $('#avatar-status').textContent = current ? '' : 'Pick an avatar so others recognise you.';
}

async function chooseAvatar(a) {
  const status = $('#avatar-status');
  status.textContent = 'Saving…';
  try {
    await A.api.setAvatar(a.id);
    localStorage.setItem(avatarKey(), a.id);
    status.textContent = `You are ${a.name}.`;
  } catch (e) {
    status.textContent = `Could not save your avatar: ${e.message}`;
    renderAvatars();
  }
}

function renderMaps() {
  const sel = $('#create-map');
  const prev = sel.dataset.chosen; // keep the user's pick across re-renders
  sel.replaceChildren(
    ...catalog.maps.map((m) => el('option', { value: m.id }, `${m.name} (${String(m.dimensions).replace(/x/i, '×')})`)),
    el('option', { value: '' }, 'Blank space (choose a size)'),
  );
  if (prev !== undefined && [...sel.options].some((o) => o.value === prev)) sel.value = prev;
  else sel.selectedIndex = 0; // the first map, else "Blank"
  onMapChange();
}

function onMapChange() {
  const id = $('#create-map').value;
  const map = catalog.maps.find((m) => m.id === id);
  $('#create-dims').hidden = !!map;
  const thumb = $('#create-thumb');
  const url = map && assetUrl(map.thumbnail);
  if (url) {
    thumb.onerror = () => {
      thumb.hidden = true;
    };
    thumb.onload = () => {
      thumb.hidden = false;
    };
    thumb.alt = `${map.name} map preview`;
    thumb.src = url;
  } else {
    thumb.hidden = true;
  }
}

async function loadSpaces() {
  const list = $('#space-list');
  list.setAttribute('aria-busy', 'true');
  let spaces = [];
  try {
    spaces = (await A.api.mySpaces()).spaces || [];
  } catch (e) {
    if (e.code !== 'expired') toast(`Could not load your spaces: ${e.message}`, 'error');
  }
  list.removeAttribute('aria-busy');
  list.replaceChildren(...spaces.map((s) => spaceItem(s, true)));
  $('#space-empty').hidden = spaces.length > 0;
  const mine = new Set(spaces.map((s) => s.id));
  const recent = recentSpaces().filter((r) => !mine.has(r.id));
  $('#recent-title').hidden = !recent.length;
  $('#recent-list').replaceChildren(...recent.map((r) => spaceItem(r, false)));
}

function spaceItem(s, own) {
  const href = `#/space/${encodeURIComponent(s.id)}`;
  const li = el(
    'li',
    { class: 'space-item', dataset: { spaceId: s.id, spaceName: s.name } },
    el(
      'a',
      { href, class: 'space-link' },
      el('span', { class: 'space-item-name' }, s.name),
      s.dimensions ? el('span', { class: 'muted small' }, ` ${String(s.dimensions).replace(/x/i, '×')}`) : null,
    ),
    el('div', { class: 'space-actions' },
      el('a', { href, class: 'btn btn-small btn-primary', 'aria-label': `Enter ${s.name}` }, 'Enter'),
      el('button', {
        type: 'button',
        class: 'btn btn-small',
        'aria-label': `Copy the invite link of ${s.name}`,
        onclick: async () => {
          const url = A.appLink(href);
          try {
            await navigator.clipboard.writeText(url);
            toast('Invite link copied.', 'ok');
          } catch {
            window.prompt('Copy this link:', url);
          }
        },
      }, 'Copy link'),
      own
        ? el('button', {
          type: 'button',
          class: 'btn btn-small btn-danger',
          'aria-label': `Delete ${s.name}`,
          onclick: () => deleteSpace(s),
        }, 'Delete')
        : null,
    ),
  );
  return li;
}

async function deleteSpace(s) {
  if (!window.confirm(`Delete the space "${s.name}"? Everyone in it will be disconnected, and its chat history is deleted.`)) return;
  try {
    await A.api.deleteSpace(s.id);
    toast(`Deleted "${s.name}".`, 'ok');
  } catch (e) {
    toast(e.status === 403 ? 'Only the creator can delete this space.' : `Could not delete: ${e.message}`, 'error');
  }
  loadSpaces();
}

function bindLobby() {
  $('#create-map').addEventListener('change', (ev) => {
    ev.target.dataset.chosen = ev.target.value;
    onMapChange();
  });
  $('#spaces-refresh').addEventListener('click', loadSpaces);
  $('#create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('#create-error');
    const name = $('#create-name').value.trim();
    const mapId = $('#create-map').value;
    err.hidden = true;
    if (!name) {
      err.textContent = 'Give the space a name.';
      err.hidden = false;
      $('#create-name').focus();
      return;
    }
    const body = { name };
    if (mapId) body.mapId = mapId;
    else {
      const w = parseInt($('#create-width').value, 10);
      const h = parseInt($('#create-height').value, 10);
      if (!(w >= 1 && h >= 1 && w <= 1024 && h <= 1024)) {
        err.textContent = 'Width and height must be 1 to 1024 tiles.';
        err.hidden = false;
        return;
      }
      body.dimensions = `${w}x${h}`;
    }
    const btn = $('#create-submit');
    btn.disabled = true;
    try {
      const r = await A.api.createSpace(body);
      $('#create-name').value = '';
      location.hash = `#/space/${encodeURIComponent(r.spaceId)}`;
    } catch (e) {
      err.textContent = `Could not create the space: ${e.message}`;
      err.hidden = false;
    } finally {
      btn.disabled = false;
    }
  });
  $('#join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const raw = $('#join-input').value.trim();
    const err = $('#join-error');
    const m = /#\/space\/([^/?#\s]+)/.exec(raw);
    const id = m ? decodeURIComponent(m[1]) : /^[A-Za-z0-9-]{1,64}$/.test(raw) ? raw : null;
    if (!id) {
      err.textContent = 'Paste an invite link or a space ID.';
      err.hidden = false;
      return;
    }
    err.hidden = true;
    $('#join-input').value = '';
    location.hash = `#/space/${encodeURIComponent(id)}`;
  });
}

// ------------------------------------------------------------------ space

function hashSpaceId() {
  const m = /^#\/space\/([^/?#]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

async function enterSpace(spaceId) {
  showView('space');
  await loadCatalog();
  if (hashSpaceId() !== spaceId || (space && !space.ended)) return; // navigated elsewhere meanwhile
  const s = new SpaceSession(spaceId, {
    catalog,
    myAvatarUrl,
    exit: (message) => {
      if (space === s) {
        if (message) toast(message, 'error', 8000);
        location.hash = '#/';
      }
    },
  });
  space = s;
  const ok = await s.enter();
  if (!ok && space === s) space = null;
}

// ------------------------------------------------------------------ boot

function boot() {
  initBanner();
  bindAuth();
  bindLobby();
  initAdmin({
    avatarCreated: async () => {
      catalog.loaded = null;
      await loadCatalog();
      if (document.body.dataset.view === 'lobby') renderAvatars();
    },
  });
  $('#signout').addEventListener('click', () => {
    leaveSpace();
    A.signOut();
  });
  A.onSessionChange((s, { reason, changedUser }) => {
    if (!s) {
      leaveSpace();
      showAuth(AUTH_REASONS[reason]);
      return;
    }
    if (changedUser) leaveSpace(); // another tab signed in as someone else
    if (changedUser || document.body.dataset.view === 'auth') route();
  });
  window.addEventListener('hashchange', route);
  // Closing the tab: say goodbye so the others do not wait for the grace period.
  window.addEventListener('pagehide', () => leaveSpace());
  // Back from the back/forward cache: the space was left on pagehide; enter again.
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) route();
  });
  loadCatalog();
  route();
}

// A small debug/test surface (read-only state plus helpers for tests).
window.__metaverse = {
  get view() {
    return document.body.dataset.view;
  },
  state() {
    return {
      view: document.body.dataset.view,
      username: A.session()?.username || null,
      space: space ? space.snapshot() : null,
    };
  },
  /**
   * Arrow-key names for a shortest walk to a free tile next to (Chebyshev ≤ 1)
   * a user; with `notHere`, a tile other than the one I stand on.
   */
  pathNextTo(userId, { notHere = false } = {}) {
    const w = space?.world;
    const u = w?.users.get(userId);
    const me = w?.users.get(w.me);
    if (!u || !me) return null;
    return w.pathTo(
      (x, y) =>
        Math.max(Math.abs(x - u.x), Math.abs(y - u.y)) <= 1 &&
        !(x === u.x && y === u.y) &&
        !(notHere && x === me.x && y === me.y),
    );
  },
  wsUrl: A.wsUrl,
  /** The WebSocket URL the space's connection dialed (the routed node in cluster mode). */
  dialedUrl() {
    return space?.conn?.dialed || null;
  },
  /** Handle `msg` as if the server had sent it (for tests of features a server may lack). */
  inject(msg) {
    space?.handle(msg);
  },
  /** Close the WebSocket as a network drop would (the client reconnects and resumes). */
  dropConnection() {
    space?.conn?.ws?.close(4000, 'simulated drop');
  },
  /** Send a raw WebSocket message (what devtools could do anyway). */
  send(type, payload) {
    return space?.conn?.send(type, payload) ?? false;
  },
};

boot();
