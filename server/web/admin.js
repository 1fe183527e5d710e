// The lobby's catalogue panel, for admins: upload an image and add it as a
// map element (width, height in tiles, static) or an avatar (name), by the
// upload's `mediaId` (POST /api/v1/admin/element, /admin/avatar).

import { api, session } from './api.js';
import { formatSize, uploadMedia } from './media.js';
import { $ } from './ui.js';

const role = { user: null, admin: null }; // the answer for `user`: Promise<boolean>
let preview = null; // the preview's blob: URL
let onCreatedAvatar = () => {};

/** Binds the panel once. `avatarCreated` runs after a new avatar (to list it). */
export function initAdmin({ avatarCreated } = {}) {
  if (avatarCreated) onCreatedAvatar = avatarCreated;
  const form = $('#admin-form');
  form.addEventListener('change', (ev) => {
    if (ev.target.name === 'kind') showKind();
  });
  $('#admin-file').addEventListener('change', showPreview);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
  });
}

/** Shows the panel if the signed-in user is an admin (asked once per user). */
export async function showAdmin() {
  const card = $('#admin-card');
  const user = session()?.username || null;
  if (role.user !== user) {
    card.hidden = true;
    role.user = user;
    role.admin = user ? api.isAdmin() : Promise.resolve(false);
  }
  const ask = role.admin;
  const admin = await ask.catch(() => false);
  if (role.admin !== ask) return; // someone else signed in meanwhile
  card.hidden = !admin;
}

function kind() {
  return $('#admin-form').elements.kind.value === 'avatar' ? 'avatar' : 'element';
}

function showKind() {
  const avatar = kind() === 'avatar';
  $('#admin-element-fields').hidden = avatar;
  $('#admin-avatar-fields').hidden = !avatar;
}

function showPreview() {
  if (preview) URL.revokeObjectURL(preview);
  preview = null;
  const file = $('#admin-file').files[0];
  const img = $('#admin-preview');
  img.hidden = !file;
  if (!file) return;
  preview = URL.createObjectURL(file); // the policy allows blob: images
  img.src = preview;
  const name = $('#admin-name');
  if (!name.value.trim()) name.value = file.name.replace(/\.[^.]*$/, '').slice(0, 64);
  status(`${file.name}, ${formatSize(file.size)}`);
}

function error(message) {
  const err = $('#admin-error');
  err.textContent = message || '';
  err.hidden = !message;
}

function status(message, result) {
  const s = $('#admin-status');
  s.textContent = message;
  for (const k of ['kind', 'id', 'imageUrl']) delete s.dataset[k];
  if (result) Object.assign(s.dataset, result);
}

/** What the form asks for, or an error message. */
function read() {
  const file = $('#admin-file').files[0];
  if (!file) return { problem: 'Choose an image first.' };
  if (kind() === 'avatar') {
    const name = $('#admin-name').value.trim();
    if (!name) return { problem: 'Give the avatar a name.' };
    return { file, kind: 'avatar', body: { name } };
  }
  const width = parseInt($('#admin-width').value, 10);
  const height = parseInt($('#admin-height').value, 10);
  if (!(width >= 1 && height >= 1 && width <= 1024 && height <= 1024)) {
    return { problem: 'Width and height must be 1 to 1024 tiles.' };
  }
  return { file, kind: 'element', body: { width, height, static: $('#admin-static').checked } };
}

async function submit() {
  const want = read();
  if (want.problem) {
    error(want.problem);
    return;
  }
  error('');
  const btn = $('#admin-submit');
  const bar = $('#admin-progress');
  btn.disabled = true;
  bar.value = 0;
  bar.hidden = false;
  status('Uploading… 0%');
  let media = null;
  try {
    media = await uploadMedia(want.file, {
      purpose: want.kind,
      onProgress: (f) => {
        bar.value = f;
        status(`Uploading… ${Math.round(f * 100)}%`);
      },
    });
    status('Creating…');
    const body = { ...want.body, mediaId: media.id };
    if (want.kind === 'element') {
      const r = await api.createElement(body);
      const { width, height } = want.body;
      status(`Element created (${width}×${height}${want.body.static ? ', static' : ''}): ${r.id}`, {
        kind: 'element',
        id: r.id,
        imageUrl: media.url,
      });
    } else {
      const r = await api.createAvatar(body);
      status(`Avatar "${want.body.name}" created.`, { kind: 'avatar', id: r.avatarId, imageUrl: media.url });
      $('#admin-name').value = '';
      onCreatedAvatar();
    }
    $('#admin-file').value = '';
    showPreview();
  } catch (e) {
    status('');
    error(`${media ? 'Could not create it' : 'Could not upload the image'}: ${e.message}`);
    // An upload no entry shows is of no use: remove it (best effort).
    if (media) api.deleteMedia(media.id).catch(() => {});
  } finally {
    btn.disabled = false;
    bar.hidden = true;
  }
}
