// Small DOM helpers. Everything user-controlled goes in as text
// (textContent / attributes), never as HTML.

export const $ = (sel, root = document) => root.querySelector(sel);

/**
 * el('li', {class: 'x', dataset: {userId}, onclick}, 'text', childNode)
 * Strings become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Tell screen-reader users something without moving focus. */
export function announce(text) {
  const box = $('#announce');
  if (!box) return;
  box.textContent = '';
  // A separate task, so the same text twice is announced twice.
  setTimeout(() => {
    box.textContent = text;
  }, 50);
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

// ------------------------------------------------------------------ toasts and banner

const toastBox = () => $('#toasts');

/** A short message that goes away by itself. kind: info | error | ok */
export function toast(message, kind = 'info', ms = 5000) {
  const t = el('div', { class: `toast toast-${kind}` }, message);
  toastBox().append(t);
  setTimeout(() => t.classList.add('toast-out'), ms);
  setTimeout(() => t.remove(), ms + 400);
  return t;
}

let bannerAction = null;

/** A sticky message at the top (connection trouble, terminal errors). */
export function banner(message, { kind = 'error', action, onAction } = {}) {
  const b = $('#banner');
  if (!message) {
    b.hidden = true;
    return;
  }
  b.dataset.kind = kind;
  $('#banner-text').textContent = message;
  const btn = $('#banner-action');
  if (bannerAction) btn.removeEventListener('click', bannerAction);
  bannerAction = null;
  if (action && onAction) {
    btn.textContent = action;
    bannerAction = () => onAction();
    btn.addEventListener('click', bannerAction);
    btn.hidden = false;
  } else {
    btn.hidden = true;
  }
  b.hidden = false;
}

export function initBanner() {
  $('#banner-close').addEventListener('click', () => banner(null));
}

// ------------------------------------------------------------------ colours, initials, images

export function hashHue(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return Math.abs(h) % 360;
}

export function colorFor(s) {
  return `hsl(${hashHue(s || '?')} 62% 48%)`;
}

export function initials(name) {
  const parts = String(name || '?').trim().split(/[\s._-]+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] || '?').slice(0, 2);
  return s.toUpperCase();
}

/**
 * An image URL from the API, if this page may load it: the page's
 * Content-Security-Policy allows images from its own origin only, so other
 * hosts' URLs fall back to the placeholder instead of tripping the policy.
 */
export function assetUrl(url) {
  if (!url) return null;
  if (url.startsWith('/') && !url.startsWith('//')) return url;
  if (!/^https?:\/\//i.test(url)) return null; // other schemes are refused by the server; never load them
  try {
    return new URL(url).origin === location.origin ? url : null;
  } catch {
    return null;
  }
}

const images = new Map(); // url -> {img, ok: boolean|null, waiters: []}

/**
 * An <img> for a URL, cached. `ok` is null while loading, then true/false.
 * onReady is called once it settles.
 */
export function image(url, onReady) {
  const u = assetUrl(url);
  if (!u) return { img: null, ok: false };
  let e = images.get(u);
  if (!e) {
    const img = new Image();
    e = { img, ok: null, waiters: [] };
    images.set(u, e);
    img.decoding = 'async';
    img.onload = () => {
      e.ok = true;
      e.waiters.splice(0).forEach((f) => f(e));
    };
    img.onerror = () => {
      e.ok = false;
      e.waiters.splice(0).forEach((f) => f(e));
    };
    img.src = u;
  }
  if (onReady) {
    if (e.ok === null) e.waiters.push(onReady);
    else queueMicrotask(() => onReady(e));
  }
  return e;
}

/** A round avatar: the image, or a coloured circle with initials if it fails. */
export function avatarBadge(name, imageUrl, size = 32, key = name) {
  const span = el('span', { class: 'avatar', 'aria-hidden': 'true' });
  span.style.setProperty('--size', `${size}px`);
  const fallback = () => {
    span.textContent = initials(name);
    span.style.background = colorFor(key || name);
    span.classList.add('avatar-initials');
  };
  const u = assetUrl(imageUrl);
  if (!u) {
    fallback();
    return span;
  }
  const img = el('img', { src: u, alt: '', width: size, height: size, loading: 'lazy' });
  img.addEventListener('error', () => {
    img.remove();
    fallback();
  });
  span.append(img);
  return span;
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}
