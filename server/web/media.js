// Uploads (POST /api/v1/media) with progress, and how an upload is shown:
// the chat's attachments and the admin panel's previews. fetch() cannot
// report upload progress, so this uses XMLHttpRequest.

import { ApiError, dropSession, freshToken, refreshSession } from './api.js';
import { assetUrl, el } from './ui.js';

/**
 * Uploads `file`; resolves with the server's view of it
 * `{id, url, thumbnailUrl?, contentType, size, width, height, name, …}`.
 * Rejects with an ApiError carrying the server's message (`aborted` when
 * `signal` aborts). An expired token is refreshed once, as `authed` does.
 *
 * @param {Blob} file
 * @param {object} [o]
 * @param {'chat'|'avatar'|'element'|'map'} [o.purpose]
 * @param {(fraction: number) => void} [o.onProgress]  0..1, as the bytes go out
 * @param {AbortSignal} [o.signal]
 */
export async function uploadMedia(file, { purpose = 'chat', onProgress, signal } = {}) {
  let token = await freshToken();
  if (!token) throw new ApiError(403, 'signed-out', 'Please sign in.');
  try {
    return await send(file, purpose, token, onProgress, signal);
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) throw e;
    const outcome = await refreshSession(token);
    if (outcome === 'invalid') {
      dropSession('expired');
      throw new ApiError(403, 'expired', 'Your session has expired. Please sign in again.');
    }
    if (outcome !== 'ok') throw e;
    token = await freshToken();
    return send(file, purpose, token, onProgress, signal);
  }
}

function send(file, purpose, token, onProgress, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/media');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && onProgress) onProgress(ev.total ? ev.loaded / ev.total : 0);
    };
    const onAbort = () => xhr.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (fn) => {
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    xhr.onload = () =>
      done(() => {
        let data = null;
        try {
          data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          data = null;
        }
        if (xhr.status >= 200 && xhr.status < 300 && data && data.id) {
          onProgress?.(1);
          resolve(data);
          return;
        }
        const err = data && data.error;
        const message = (err && err.message) || `${xhr.status} ${xhr.statusText || 'error'}`;
        reject(new ApiError(xhr.status, (err && err.code) || `http-${xhr.status}`, message));
      });
    // The server may answer a too-large upload before reading it all and
    // close the connection: the browser then reports a network error.
    xhr.onerror = () =>
      done(() => reject(new ApiError(0, 'network', 'The upload failed: the server could not be reached or closed the connection.')));
    xhr.onabort = () => done(() => reject(new ApiError(0, 'aborted', 'The upload was cancelled.')));
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', file, file.name || defaultName(file.type));
    xhr.send(form);
  });
}

/** A name for a pasted image (the clipboard's files are often called "image.png" or nothing). */
function defaultName(type) {
  const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' }[type] || 'bin';
  return `pasted.${ext}`;
}

/** "1.2 MB", "340 KB", "12 bytes". */
export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * A link target the server named: a path on this origin or an http(s)
 * URL; never `javascript:` or the like.
 */
function linkUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  if (url.startsWith('/') && !url.startsWith('//')) return url;
  return /^https?:\/\//i.test(url) ? url : null;
}

const SHOWN_MAX = { w: 220, h: 180 }; // the inline image's box, in CSS pixels
const SHOWN_MIN = 48; // the longer side of a tiny picture is enlarged to this (a usable link)

/** Display size of a w×h picture inside SHOWN_MAX, or null if unknown. */
function fit(w, h) {
  if (!(w > 0 && h > 0)) return null;
  const s = Math.min(Math.max(1, SHOWN_MIN / Math.max(w, h)), SHOWN_MAX.w / w, SHOWN_MAX.h / h);
  return { w: Math.max(1, Math.round(w * s)), h: Math.max(1, Math.round(h * s)) };
}

/**
 * The DOM of a message's `attachment` ({mediaId, url, thumbnailUrl?,
 * contentType, size, width?, height?, name}). Images: the thumbnail (else
 * the file) inline, linking to the full picture in a new tab. Anything
 * else: a download link with the name and size. Text only from the server's
 * fields (names go in as text and attributes, never HTML).
 */
export function renderAttachment(a, kind) {
  const href = linkUrl(a.url);
  const name = String(a.name || 'file');
  const isImage = kind === 'image' || (/^image\//.test(a.contentType || '') && a.width);
  const src = isImage ? assetUrl(a.thumbnailUrl) || assetUrl(a.url) : null;
  if (src) {
    const size = fit(a.width, a.height);
    const img = el('img', {
      class: 'msg-image',
      src,
      alt: name,
      title: `${name} (${formatSize(a.size)})`,
      loading: 'lazy',
      decoding: 'async',
      width: size?.w,
      height: size?.h,
      dataset: { mediaId: a.mediaId || '' },
    });
    // The thumbnail failed (e.g. not made yet): the file itself, then a note.
    const full = assetUrl(a.url);
    img.addEventListener('error', () => {
      if (full && img.getAttribute('src') !== full) img.src = full;
      else img.replaceWith(el('span', { class: 'msg-file-missing muted' }, `${name} (image unavailable)`));
    });
    if (!href) return el('div', { class: 'msg-attachment' }, img);
    return el('a', { class: 'msg-attachment msg-image-link', href, target: '_blank', rel: 'noopener' }, img);
  }
  const label = [el('span', { class: 'msg-file-name' }, name), el('span', { class: 'msg-file-size muted' }, ` ${formatSize(a.size)}`)];
  if (!href) return el('div', { class: 'msg-attachment msg-file' }, ...label);
  return el(
    'a',
    {
      class: 'msg-attachment msg-file',
      href,
      download: name,
      target: '_blank',
      rel: 'noopener',
      dataset: { mediaId: a.mediaId || '' },
    },
    ...label,
  );
}

/** The `attachment` a message will carry, from an upload's view (for the sender's pending copy). */
export function attachmentOf(m) {
  return {
    mediaId: m.id,
    url: m.url,
    thumbnailUrl: m.thumbnailUrl,
    contentType: m.contentType,
    size: m.size,
    width: m.width ?? undefined,
    height: m.height ?? undefined,
    name: m.name,
  };
}

/** `image` when the server found a picture in the bytes, else `file`. */
export function messageKind(m) {
  return /^image\//.test(m.contentType || '') && m.width ? 'image' : 'file';
}
