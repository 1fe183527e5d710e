// Chat attachments: the attach button (a file input) and pasted images go
// up as `chat` uploads, then out as a `chat-message` of type `image` or
// `file` with the upload's `mediaId` and the text box as the caption.
// While the bytes go out the message shows in the list with a progress bar;
// a refused upload stays there, failed, with the server's message.

import { attachmentOf, formatSize, messageKind, renderAttachment, uploadMedia } from './media.js';
import { $, el, toast, uuid } from './ui.js';

export class Attachments {
  /** @param {import('./chat.js').Chat} chat */
  constructor(chat) {
    this.chat = chat;
    this.uploads = new Map(); // clientId -> AbortController
    this.input = $('#chat-file');
    this.button = $('#chat-attach');
    this.handlers = [];
    const on = (node, ev, fn) => {
      node.addEventListener(ev, fn);
      this.handlers.push(() => node.removeEventListener(ev, fn));
    };
    on(this.button, 'click', () => this.input.click());
    on(this.input, 'change', () => {
      const files = [...(this.input.files || [])];
      this.input.value = ''; // the same file again is a new change
      if (files.length) this.attachFiles(files);
    });
    on(chat.els.input, 'paste', (ev) => {
      const files = [...(ev.clipboardData?.files || [])].filter((f) => /^image\//.test(f.type));
      if (!files.length) return; // text: the textarea takes it
      ev.preventDefault();
      this.attachFiles(files);
    });
  }

  destroy() {
    this.handlers.forEach((f) => f());
    for (const ctl of this.uploads.values()) ctl.abort();
    this.uploads.clear();
  }

  /** Why `room` cannot take an attachment right now, or null. */
  refusal(room) {
    if (!room) return 'Pick a chat room first.';
    if (room.virtual) return 'Files go to chat rooms only, not to nearby chat.';
    if (!this.chat.connected) return 'Not connected: nothing was sent.';
    if (!room.joined) return `Join #${room.name} first.`;
    return null;
  }

  renderComposer(room) {
    const why = this.refusal(room);
    this.button.disabled = !!why;
    this.button.title = why || 'Attach a file or image (or paste an image into the message box)';
  }

  /** Sends `files` to the active room; the message box's text is the first one's caption. */
  attachFiles(files) {
    const chat = this.chat;
    const room = chat.rooms.get(chat.active);
    const why = this.refusal(room);
    if (why) {
      toast(why, 'error');
      return;
    }
    const input = chat.els.input;
    const caption = input.value.trim() ? input.value : '';
    input.value = '';
    files.forEach((f, i) => this.send(room, f, i === 0 ? caption : ''));
  }

  async send(room, file, caption) {
    const chat = this.chat;
    const clientId = uuid();
    const key = `c:${clientId}`;
    const m = {
      id: null,
      clientId,
      chatroomId: room.id,
      userId: chat.myId(),
      username: chat.myName(),
      content: caption,
      type: /^image\//.test(file.type) ? 'image' : 'file',
      sentAt: new Date().toISOString(),
      uploading: true,
      progress: 0,
      upload: { name: file.name || 'pasted image', size: file.size },
      own: true,
      localAt: Date.now(),
    };
    room.messages.set(key, m);
    const ctl = new AbortController();
    this.uploads.set(clientId, ctl);
    this.render(room, { stick: true });
    let media;
    try {
      media = await uploadMedia(file, { purpose: 'chat', signal: ctl.signal, onProgress: (f) => this.progress(m, f) });
    } catch (e) {
      this.uploads.delete(clientId);
      if (chat.destroyed) return;
      if (e.code === 'aborted') room.messages.delete(key);
      else {
        m.uploading = false;
        m.failed = e.message;
      }
      this.render(room);
      return;
    }
    this.uploads.delete(clientId);
    if (chat.destroyed || !room.messages.has(key)) return;
    m.uploading = false;
    m.type = messageKind(media);
    m.attachment = attachmentOf(media);
    const why = this.refusal(room);
    const payload = { chatroomId: room.id, content: caption, type: m.type, clientId, mediaId: media.id };
    if (why || !chat.send('chat-message', payload)) {
      m.failed = why || 'not connected';
    } else {
      // The server's copy (same clientId) replaces this one.
      m.pending = true;
      m.localAt = Date.now();
    }
    this.render(room);
  }

  cancel(clientId) {
    this.uploads.get(clientId)?.abort();
  }

  render(room, opts) {
    if (room.id === this.chat.active) this.chat.renderMessages(opts);
  }

  /** Moves the bar without rebuilding the list. */
  progress(m, fraction) {
    m.progress = fraction;
    const li = this.chat.els.list.querySelector(`li[data-client-id="${m.clientId}"]`);
    if (!li) return;
    const bar = li.querySelector('progress');
    if (bar) bar.value = fraction;
    const pct = li.querySelector('.msg-upload-pct');
    if (pct) pct.textContent = `${Math.round(fraction * 100)}%`;
  }

  /** What a message shows besides its text: the attachment, or the upload in progress. */
  part(m) {
    if (m.attachment) return renderAttachment(m.attachment, m.type);
    if (!m.upload) return null;
    const name = el('span', { class: 'msg-file-name' }, m.upload.name);
    const size = el('span', { class: 'msg-file-size muted' }, ` ${formatSize(m.upload.size)}`);
    if (!m.uploading) return el('div', { class: 'msg-attachment msg-file' }, name, size);
    const pct = Math.round((m.progress || 0) * 100);
    return el(
      'div',
      { class: 'msg-attachment msg-upload' },
      el('div', {}, name, size),
      el('div', { class: 'row' },
        el('progress', { max: '1', value: String(m.progress || 0), 'aria-label': `Uploading ${m.upload.name}` }),
        el('span', { class: 'msg-upload-pct muted small' }, `${pct}%`),
        el('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => this.cancel(m.clientId) }, 'Cancel'),
      ),
    );
  }
}
