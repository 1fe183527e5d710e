// Proximity audio/video: one RTCPeerConnection per nearby person (a mesh of
// at most MAX_PEERS), signalled over the WebSocket with `rtc-signal`
// {to, kind: offer|answer|ice|hangup, data}.
//
// Negotiation follows the "perfect negotiation" pattern. The peer with the
// lexicographically smaller userId is "impolite" and starts: it adds the
// audio/video transceivers, so it sends the first offer. The other side is
// "polite": it answers, attaching its own tracks to the offered transceivers,
// and yields on offer collisions (e.g. after a later camera change).

import { $, el, avatarBadge, toast } from './ui.js';

export const MAX_PEERS = 6;

export class Mesh {
  /**
   * @param {object} o
   * @param {(to: string, kind: string, data: any) => boolean} o.signal
   * @param {(userId: string) => {name: string, avatarUrl: string|null}} o.who
   * @param {() => void} o.onChange
   */
  constructor({ signal, who, onChange }) {
    this.signal = signal;
    this.who = who;
    this.onChange = onChange || (() => {});
    this.myId = null;
    this.iceServers = [];
    this.peers = new Map();
    this.local = null; // MediaStream
    this.media = { state: 'off', audio: false, video: false, micOn: true, camOn: true, error: null };
    this.tiles = $('#tiles');
    this.selfTile = null;
    this.destroyed = false;
    // Whether video frames actually arrive (a camera turned off sends none;
    // browsers do not reliably mute the remote track for that).
    this.statsTimer = setInterval(() => {
      for (const p of this.peers.values()) p.pollVideo();
    }, 1000);
  }

  // ---------------------------------------------------------------- local media

  /** Ask for camera + microphone; fall back to mic only, then to receive-only. */
  async startMedia() {
    if (this.local || this.media.state === 'asking') return;
    this.media.state = 'asking';
    this.onChange();
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) {
      this.media = { ...this.media, state: 'unavailable', error: 'Camera and microphone need HTTPS (or localhost).' };
      this.onChange();
      return;
    }
    const tries = [
      { audio: true, video: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } } },
      { audio: true, video: false },
      { audio: false, video: { width: { ideal: 320 }, height: { ideal: 240 } } },
    ];
    let lastErr = null;
    for (const c of tries) {
      try {
        const stream = await md.getUserMedia(c);
        if (this.destroyed) {
          stream.getTracks().forEach((t) => t.stop());
          return;
        }
        this.local = stream;
        this.media.audio = stream.getAudioTracks().length > 0;
        this.media.video = stream.getVideoTracks().length > 0;
        this.media.state = 'on';
        this.media.error = null;
        this.applyEnabled();
        this.renderSelf();
        // Peers set up before the stream arrived get our tracks now.
        for (const p of this.peers.values()) p.attachLocal(this.local);
        this.onChange();
        return;
      } catch (e) {
        lastErr = e;
        if (e && (e.name === 'NotAllowedError' || e.name === 'SecurityError')) break;
      }
    }
    this.media.state = 'unavailable';
    this.media.error =
      lastErr && lastErr.name === 'NotAllowedError'
        ? 'Camera and microphone access was denied.'
        : 'No camera or microphone found.';
    this.onChange();
  }

  applyEnabled() {
    if (!this.local) return;
    this.local.getAudioTracks().forEach((t) => (t.enabled = this.media.micOn));
    this.local.getVideoTracks().forEach((t) => (t.enabled = this.media.camOn));
  }

  toggleMic() {
    this.media.micOn = !this.media.micOn;
    this.applyEnabled();
    this.renderSelf();
    this.onChange();
  }

  toggleCam() {
    this.media.camOn = !this.media.camOn;
    this.applyEnabled();
    // Stop sending video altogether (rather than black frames): the other
    // side's track goes muted and its tile shows our avatar instead.
    const track = this.media.camOn ? this.local?.getVideoTracks()[0] || null : null;
    for (const p of this.peers.values()) p.setVideo(track);
    this.renderSelf();
    this.onChange();
  }

  /** Names may be learnt after a call started: refresh the captions. */
  refreshNames() {
    for (const p of this.peers.values()) p.renderState();
  }

  stopMedia() {
    if (this.local) this.local.getTracks().forEach((t) => t.stop());
    this.local = null;
    this.media.state = 'off';
  }

  // ---------------------------------------------------------------- peers

  /** The server's nearby set changed: connect to newcomers, drop the ones gone. */
  setNearby(ids) {
    if (!this.myId) return;
    const want = new Set(ids.filter((id) => id !== this.myId));
    for (const id of [...this.peers.keys()]) if (!want.has(id)) this.close(id);
    for (const id of want) {
      if (this.peers.has(id)) continue;
      if (this.peers.size >= MAX_PEERS) {
        if (!this.fullNoticeShown) toast(`Call is full (${MAX_PEERS} people): some people nearby are not connected.`);
        this.fullNoticeShown = true;
        continue;
      }
      this.open(id);
    }
    this.renderSelf();
    this.onChange();
  }

  open(id) {
    const peer = new Peer(this, id);
    this.peers.set(id, peer);
    peer.start();
    return peer;
  }

  close(id) {
    const p = this.peers.get(id);
    if (!p) return;
    this.peers.delete(id);
    p.close();
    if (this.peers.size < MAX_PEERS) this.fullNoticeShown = false;
    this.renderSelf();
    this.onChange();
  }

  /** `rtc-signal` from the server: {from, kind, data}. */
  async onSignal({ from, kind, data }) {
    if (!from || from === this.myId) return;
    if (kind === 'hangup') {
      this.close(from);
      return;
    }
    let peer = this.peers.get(from);
    if (!peer) {
      if (kind !== 'offer') return; // late ice/answer for a closed call
      if (this.peers.size >= MAX_PEERS) {
        this.signal(from, 'hangup', null);
        return;
      }
      peer = this.open(from);
      this.renderSelf();
      this.onChange();
    }
    await peer.onSignal(kind, data);
  }

  closeAll() {
    for (const id of [...this.peers.keys()]) this.close(id);
  }

  destroy() {
    this.destroyed = true;
    clearInterval(this.statsTimer);
    this.closeAll();
    this.stopMedia();
    if (this.selfTile) this.selfTile.remove();
    this.selfTile = null;
    this.tiles.replaceChildren();
  }

  // ---------------------------------------------------------------- tiles

  /** My own preview: shown while I am in a call (or at least have media). */
  renderSelf() {
    const inCall = this.peers.size > 0;
    if (!inCall || !this.local) {
      if (this.selfTile) this.selfTile.remove();
      this.selfTile = null;
      this.tiles.hidden = !this.tiles.children.length;
      return;
    }
    if (!this.selfTile) {
      const video = el('video', { autoplay: true, playsinline: true, muted: true });
      video.muted = true;
      video.srcObject = this.local;
      const me = this.who(this.myId);
      this.selfTile = el(
        'figure',
        { class: 'tile tile-self', dataset: { userId: this.myId } },
        video,
        el('div', { class: 'tile-fallback' }, avatarBadge(me.name, me.avatarUrl, 48, this.myId)),
        el('figcaption', {}, 'You'),
      );
      this.tiles.prepend(this.selfTile);
    }
    const hasVideo = this.media.video && this.media.camOn;
    this.selfTile.classList.toggle('tile-novideo', !hasVideo);
    this.selfTile.querySelector('figcaption').textContent = `You${this.media.micOn ? '' : ' (muted)'}`;
    this.tiles.hidden = false;
  }

  snapshot() {
    return {
      media: { ...this.media },
      peers: [...this.peers.values()].map((p) => ({
        userId: p.id,
        polite: p.polite,
        connectionState: p.pc.connectionState,
        iceConnectionState: p.pc.iceConnectionState,
        signalingState: p.pc.signalingState,
        remoteTracks: p.remote.getTracks().map((t) => t.kind),
      })),
    };
  }
}

class Peer {
  constructor(mesh, id) {
    this.mesh = mesh;
    this.id = id;
    // The smaller id is impolite and starts the call.
    this.polite = mesh.myId > id;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.remote = new MediaStream();
    this.pc = new RTCPeerConnection({ iceServers: mesh.iceServers });
    this.tile = this.makeTile();
  }

  send(kind, data) {
    return this.mesh.signal(this.id, kind, data);
  }

  start() {
    const pc = this.pc;
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.send('offer', toJSON(pc.localDescription));
      } catch (e) {
        console.warn('rtc: offer failed', e);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.send('ice', candidate.toJSON());
    };
    pc.ontrack = ({ track }) => {
      this.remote.addTrack(track);
      track.onmute = () => this.renderState();
      track.onunmute = () => this.renderState();
      track.onended = () => {
        this.remote.removeTrack(track);
        this.renderState();
      };
      const v = this.tile.querySelector('video');
      if (v.srcObject !== this.remote) v.srcObject = this.remote;
      v.play().catch(() => this.needsGesture());
      this.renderState();
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' && !this.polite) pc.restartIce();
      this.renderState();
      this.mesh.onChange();
    };
    pc.oniceconnectionstatechange = () => this.renderState();
    if (!this.polite) {
      // We start: one audio and one video transceiver, sending what we have.
      const s = this.mesh.local;
      const audio = s?.getAudioTracks()[0];
      const video = s?.getVideoTracks()[0];
      pc.addTransceiver(audio || 'audio', { direction: audio ? 'sendrecv' : 'recvonly', streams: s ? [s] : [] });
      const vt = pc.addTransceiver(video || 'video', { direction: video ? 'sendrecv' : 'recvonly', streams: s ? [s] : [] });
      if (video && !this.mesh.media.camOn) vt.sender.replaceTrack(null).catch(() => {});
    }
    this.renderState();
  }

  /** Put local tracks on the transceivers we have (after media arrives, or when answering). */
  attachLocal(stream) {
    if (!stream || this.closed) return;
    for (const t of this.pc.getTransceivers()) {
      if (t.stopped || t.currentDirection === 'stopped') continue;
      const kind = t.receiver.track?.kind;
      const track = kind === 'audio' ? stream.getAudioTracks()[0] : kind === 'video' ? stream.getVideoTracks()[0] : null;
      if (!track || t.sender.track === track) continue;
      if (kind === 'video' && !this.mesh.media.camOn) {
        // Camera off: negotiate the video m-line as sending, but send nothing yet.
        if (t.direction === 'recvonly') t.direction = 'sendrecv';
        continue;
      }
      t.sender.replaceTrack(track).catch(() => {});
      try {
        t.sender.setStreams?.(stream);
      } catch {
        /* older browsers */
      }
      // Changing direction renegotiates (via negotiationneeded) when needed.
      if (t.direction === 'recvonly') t.direction = 'sendrecv';
      else if (t.direction === 'inactive') t.direction = 'sendonly';
    }
  }

  async pollVideo() {
    if (this.closed || this.pc.connectionState !== 'connected') return;
    const rx = this.pc.getReceivers().find((r) => r.track?.kind === 'video');
    if (!rx) return;
    try {
      let frames = 0;
      (await rx.getStats()).forEach((st) => {
        if (st.type === 'inbound-rtp') frames = st.framesDecoded || 0;
      });
      const flowing = frames > (this.lastFrames ?? 0);
      this.lastFrames = frames;
      if (flowing !== this.videoFlowing) {
        this.videoFlowing = flowing;
        this.renderState();
      }
    } catch {
      /* closed meanwhile */
    }
  }

  setVideo(track) {
    for (const t of this.pc.getTransceivers()) {
      if (t.receiver.track?.kind === 'video' && t.sender && !t.stopped) t.sender.replaceTrack(track).catch(() => {});
    }
  }

  async onSignal(kind, data) {
    const pc = this.pc;
    try {
      if (kind === 'offer' || kind === 'answer') {
        const description = { type: kind, sdp: data?.sdp };
        if (!description.sdp) return;
        const collision = kind === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription(description);
        if (kind === 'offer') {
          this.attachLocal(this.mesh.local);
          await pc.setLocalDescription();
          this.send('answer', toJSON(pc.localDescription));
        }
      } else if (kind === 'ice') {
        try {
          await pc.addIceCandidate(data || null);
        } catch (e) {
          if (!this.ignoreOffer) console.warn('rtc: bad candidate', e);
        }
      }
    } catch (e) {
      console.warn(`rtc: ${kind} from ${this.id} failed`, e);
    }
    this.renderState();
  }

  close() {
    this.closed = true;
    try {
      this.pc.close();
    } catch {
      /* ignore */
    }
    this.remote.getTracks().forEach((t) => this.remote.removeTrack(t));
    this.tile.remove();
  }

  // ---------------------------------------------------------------- tile

  makeTile() {
    const who = this.mesh.who(this.id);
    const video = el('video', { autoplay: true, playsinline: true });
    const tile = el(
      'figure',
      { class: 'tile tile-novideo', dataset: { userId: this.id, state: 'new' } },
      video,
      el('div', { class: 'tile-fallback' }, avatarBadge(who.name, who.avatarUrl, 48, this.id)),
      el('figcaption', {}, who.name),
    );
    this.mesh.tiles.append(tile);
    this.mesh.tiles.hidden = false;
    return tile;
  }

  renderState() {
    if (this.closed) return;
    const st = this.pc.connectionState;
    this.tile.dataset.state = st;
    const hasVideo =
      this.videoFlowing !== false && this.remote.getVideoTracks().some((t) => !t.muted && t.readyState === 'live');
    this.tile.classList.toggle('tile-novideo', !hasVideo);
    const who = this.mesh.who(this.id);
    const cap = this.tile.querySelector('figcaption');
    cap.textContent = st === 'connected' ? who.name : `${who.name} · ${st === 'new' ? 'connecting' : st}`;
  }

  needsGesture() {
    // Autoplay with sound was blocked: one click on the tile starts it.
    if (this.tile.querySelector('.tile-play')) return;
    const btn = el('button', { type: 'button', class: 'btn btn-small tile-play' }, 'Click to hear');
    btn.addEventListener('click', () => {
      this.tile.querySelector('video').play().catch(() => {});
      btn.remove();
    });
    this.tile.append(btn);
  }
}

function toJSON(desc) {
  return desc ? { type: desc.type, sdp: desc.sdp } : null;
}
