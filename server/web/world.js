// The space on a <canvas>: grid, elements, avatars with names, a camera that
// follows you, local movement prediction, and tweening of everyone's moves.

import { colorFor, image, initials } from './ui.js';

export const TILE = 32;
const TWEEN_OTHERS_MS = 100;
const TWEEN_SELF_MS = 80;
// The server refuses steps faster than its walking speed (--walk-speed,
// 10 steps/s by default); taps closer together than this wait their turn
// instead of being predicted and snapped back.
const MIN_STEP_MS = 100;
const NEAR_RADIUS = 3;

const KEYS = {
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  w: [0, -1],
  s: [0, 1],
  a: [-1, 0],
  d: [1, 0],
  W: [0, -1],
  S: [0, 1],
  A: [-1, 0],
  D: [1, 0],
};

export class World {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} o
   * @param {(x: number, y: number) => boolean} o.onStep  send a move; false if not connected
   * @param {() => void} o.onMoved  my tile changed (prediction or correction)
   */
  constructor(canvas, { onStep, onMoved }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onStep = onStep;
    this.onMoved = onMoved;
    this.width = 0;
    this.height = 0;
    this.elements = [];
    this.blocked = new Uint8Array(0);
    this.users = new Map(); // userId -> avatar
    this.me = null; // my userId
    this.nearby = new Set();
    this.held = [];
    this.repeat = 0;
    this.lastStep = 0;
    this.deferred = 0;
    this.running = false;
    this.dpr = 1;
    this.view = { w: 0, h: 0 };
    this.bump = null;

    this.onKeyDown = this.onKeyDown.bind(this);
    this.onKeyUp = this.onKeyUp.bind(this);
    this.onBlur = () => this.releaseKeys();
    canvas.addEventListener('keydown', this.onKeyDown);
    canvas.addEventListener('keyup', this.onKeyUp);
    canvas.addEventListener('blur', this.onBlur);
    canvas.addEventListener('pointerdown', () => canvas.focus());
    this.resizeObs = new ResizeObserver(() => this.resize());
    this.resizeObs.observe(canvas.parentElement);
    this.frame = this.frame.bind(this);
  }

  destroy() {
    this.running = false;
    this.releaseKeys();
    clearTimeout(this.deferred);
    this.canvas.removeEventListener('keydown', this.onKeyDown);
    this.canvas.removeEventListener('keyup', this.onKeyUp);
    this.canvas.removeEventListener('blur', this.onBlur);
    this.resizeObs.disconnect();
  }

  // ---------------------------------------------------------------- map

  /** Elements from GET /space/:id: [{id, element: {imageUrl, width, height, static}, x, y}]. */
  setMap(width, height, elements) {
    this.width = width;
    this.height = height;
    this.elements = (elements || [])
      .map((e) => ({
        id: e.id,
        x: Number(e.x),
        y: Number(e.y),
        w: Math.max(1, Number(e.element?.width) || 1),
        h: Math.max(1, Number(e.element?.height) || 1),
        isStatic: !!e.element?.static,
        imageUrl: e.element?.imageUrl || e.element?.imageurl || null,
        kind: kindOf(e.element?.imageUrl),
      }))
      // Floor things (rugs) first, then by their bottom edge.
      .sort((a, b) => a.isStatic - b.isStatic || a.y + a.h - (b.y + b.h));
    this.rebuildBlocked();
    for (const e of this.elements) if (e.imageUrl) image(e.imageUrl);
  }

  resizeGrid(width, height) {
    if (width === this.width && height === this.height) return;
    this.width = width;
    this.height = height;
    this.rebuildBlocked();
  }

  rebuildBlocked() {
    this.blocked = new Uint8Array(Math.max(0, this.width * this.height));
    for (const e of this.elements) {
      if (!e.isStatic) continue;
      for (let y = e.y; y < e.y + e.h; y++) {
        for (let x = e.x; x < e.x + e.w; x++) {
          if (this.inside(x, y)) this.blocked[y * this.width + x] = 1;
        }
      }
    }
  }

  inside(x, y) {
    return x >= 0 && y >= 0 && x < this.width && y < this.height;
  }

  isBlocked(x, y) {
    return !this.inside(x, y) || this.blocked[y * this.width + x] === 1;
  }

  occupant(x, y, except) {
    for (const u of this.users.values()) {
      if (u.id !== except && u.x === x && u.y === y) return u;
    }
    return null;
  }

  /** Can I step onto (x, y)? (what the server will check; it stays the authority) */
  walkable(x, y) {
    return !this.isBlocked(x, y) && !this.occupant(x, y, this.me);
  }

  // ---------------------------------------------------------------- avatars

  /** Adds or updates a user. `info` may carry name, avatarUrl. */
  upsert(id, x, y, info = {}, { tween = false } = {}) {
    let u = this.users.get(id);
    if (!u) {
      u = { id, name: null, avatarUrl: null, x, y, fx: x, fy: y, tx: x, ty: y, t0: 0, dur: 0 };
      this.users.set(id, u);
    }
    if (info.name) u.name = info.name;
    if (info.avatarUrl !== undefined) {
      u.avatarUrl = info.avatarUrl;
      if (u.avatarUrl) image(u.avatarUrl);
    }
    this.moveTo(u, x, y, tween ? (id === this.me ? TWEEN_SELF_MS : TWEEN_OTHERS_MS) : 0);
    return u;
  }

  moveTo(u, x, y, dur) {
    const [cx, cy] = this.renderPos(u, performance.now());
    u.x = x;
    u.y = y;
    if (dur > 0 && Math.abs(cx - x) + Math.abs(cy - y) <= 3) {
      u.fx = cx;
      u.fy = cy;
      u.t0 = performance.now();
      u.dur = dur;
    } else {
      u.fx = x;
      u.fy = y;
      u.dur = 0;
    }
    u.tx = x;
    u.ty = y;
  }

  remove(id) {
    this.users.delete(id);
  }

  clearOthers() {
    for (const id of [...this.users.keys()]) if (id !== this.me) this.users.delete(id);
  }

  renderPos(u, now) {
    if (!u.dur) return [u.tx, u.ty];
    const t = Math.min(1, (now - u.t0) / u.dur);
    if (t >= 1) {
      u.dur = 0;
      return [u.tx, u.ty];
    }
    const e = t * (2 - t); // ease-out
    return [u.fx + (u.tx - u.fx) * e, u.fy + (u.ty - u.fy) * e];
  }

  /** The server says I am at (x, y): snap there. */
  snapMe(x, y) {
    const u = this.users.get(this.me);
    if (!u) return;
    this.moveTo(u, x, y, 0);
    this.bump = { t0: performance.now() };
    this.onMoved();
  }

  // ---------------------------------------------------------------- input

  onKeyDown(ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const dir = KEYS[ev.key];
    if (!dir) return;
    ev.preventDefault(); // no page scrolling with the arrows
    if (ev.repeat) return; // our own timer repeats while held
    this.held = this.held.filter((k) => KEYS[k] !== dir && k !== ev.key);
    this.held.push(ev.key);
    this.step(dir);
    this.ensureRepeat();
  }

  onKeyUp(ev) {
    if (!KEYS[ev.key]) return;
    this.held = this.held.filter((k) => k.toLowerCase() !== ev.key.toLowerCase());
    if (!this.held.length) this.releaseKeys();
  }

  releaseKeys() {
    this.held = [];
    clearInterval(this.repeat);
    this.repeat = 0;
  }

  ensureRepeat() {
    if (this.repeat) return;
    this.repeat = setInterval(() => {
      const k = this.held[this.held.length - 1];
      if (!k) return this.releaseKeys();
      this.step(KEYS[k]);
    }, 130);
  }

  /** One tile in direction [dx, dy], predicted locally, checked by the server. */
  step([dx, dy]) {
    const early = this.lastStep + MIN_STEP_MS - performance.now();
    if (early > 0) {
      // Keep only the latest tap: it runs once the pace allows.
      clearTimeout(this.deferred);
      this.deferred = setTimeout(() => this.step([dx, dy]), early);
      return false;
    }
    const u = this.users.get(this.me);
    if (!u) return false;
    const x = u.x + dx;
    const y = u.y + dy;
    if (!this.walkable(x, y)) {
      this.bump = { t0: performance.now(), dx, dy };
      return false;
    }
    if (!this.onStep(x, y)) return false;
    this.lastStep = performance.now();
    this.moveTo(u, x, y, TWEEN_SELF_MS);
    this.onMoved();
    return true;
  }

  /** Directions (as key names) for a shortest walk to any tile satisfying goal(x, y). */
  pathTo(goal) {
    const me = this.users.get(this.me);
    if (!me) return null;
    const W = this.width;
    const prev = new Int32Array(W * this.height).fill(-1);
    const start = me.y * W + me.x;
    prev[start] = start;
    const queue = [start];
    const dirs = [
      [1, 0, 'ArrowRight'],
      [-1, 0, 'ArrowLeft'],
      [0, 1, 'ArrowDown'],
      [0, -1, 'ArrowUp'],
    ];
    for (let qi = 0; qi < queue.length; qi++) {
      const cur = queue[qi];
      const cx = cur % W;
      const cy = (cur / W) | 0;
      if (goal(cx, cy)) {
        const keys = [];
        for (let c = cur; c !== start; c = prev[c]) {
          const p = prev[c];
          const dx = (c % W) - (p % W);
          const dy = ((c / W) | 0) - ((p / W) | 0);
          keys.push(dirs.find((d) => d[0] === dx && d[1] === dy)[2]);
        }
        return keys.reverse();
      }
      for (const [dx, dy] of dirs) {
        const nx = cx + dx;
        const ny = cy + dy;
        if (!this.walkable(nx, ny)) continue;
        const n = ny * W + nx;
        if (prev[n] !== -1) continue;
        prev[n] = cur;
        queue.push(n);
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- drawing

  start() {
    if (this.running) return;
    this.running = true;
    this.resize();
    requestAnimationFrame(this.frame);
  }

  stop() {
    this.running = false;
  }

  /** The window shown, in whole tiles (at most the protocol's 10,000); null before the first layout. */
  tilesShown() {
    if (!this.view.w || !this.view.h) return null;
    const side = (px) => Math.min(10000, Math.max(1, Math.ceil(px / TILE) + 1));
    return { width: side(this.view.w), height: side(this.view.h) };
  }

  resize() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.view = { w: Math.max(1, Math.floor(box.width)), h: Math.max(1, Math.floor(box.height)) };
    this.canvas.width = Math.round(this.view.w * this.dpr);
    this.canvas.height = Math.round(this.view.h * this.dpr);
    this.canvas.style.width = `${this.view.w}px`;
    this.canvas.style.height = `${this.view.h}px`;
  }

  frame(now) {
    if (!this.running) return;
    try {
      this.draw(now);
    } catch (e) {
      console.error(e);
    }
    requestAnimationFrame(this.frame);
  }

  /** Top-left of the world in view pixels: centred on me, clamped to the map. */
  camera(now) {
    const worldW = this.width * TILE;
    const worldH = this.height * TILE;
    const { w, h } = this.view;
    const me = this.users.get(this.me);
    const axis = (world, view, center) => {
      if (world <= view) return Math.floor((view - world) / 2);
      return -Math.round(Math.min(world - view, Math.max(0, center - view / 2)));
    };
    let cx = worldW / 2;
    let cy = worldH / 2;
    if (me) {
      const [x, y] = this.renderPos(me, now);
      cx = (x + 0.5) * TILE;
      cy = (y + 0.5) * TILE;
    }
    return [axis(worldW, w, cx), axis(worldH, h, cy)];
  }

  draw(now) {
    const ctx = this.ctx;
    const { w, h } = this.view;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#1d2330';
    ctx.fillRect(0, 0, w, h);
    if (!this.width || !this.height) return;
    let [ox, oy] = this.camera(now);
    if (this.bump && now - this.bump.t0 < 160 && this.bump.dx !== undefined) {
      const k = Math.sin(((now - this.bump.t0) / 160) * Math.PI) * 3;
      ox -= this.bump.dx * k;
      oy -= this.bump.dy * k;
    }
    ctx.translate(ox, oy);

    // Visible tile range.
    const x0 = Math.max(0, Math.floor(-ox / TILE));
    const y0 = Math.max(0, Math.floor(-oy / TILE));
    const x1 = Math.min(this.width, Math.ceil((w - ox) / TILE));
    const y1 = Math.min(this.height, Math.ceil((h - oy) / TILE));

    // Floor and grid.
    ctx.fillStyle = '#efe9dc';
    ctx.fillRect(0, 0, this.width * TILE, this.height * TILE);
    ctx.strokeStyle = 'rgba(60, 50, 30, 0.10)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = x0; x <= x1; x++) {
      ctx.moveTo(x * TILE + 0.5, y0 * TILE);
      ctx.lineTo(x * TILE + 0.5, y1 * TILE);
    }
    for (let y = y0; y <= y1; y++) {
      ctx.moveTo(x0 * TILE, y * TILE + 0.5);
      ctx.lineTo(x1 * TILE, y * TILE + 0.5);
    }
    ctx.stroke();

    // My proximity area (3 tiles, Chebyshev).
    const me = this.users.get(this.me);
    if (me) {
      const [mx, my] = this.renderPos(me, now);
      ctx.fillStyle = 'rgba(46, 160, 90, 0.09)';
      ctx.strokeStyle = 'rgba(46, 160, 90, 0.35)';
      const r = NEAR_RADIUS;
      ctx.save();
      ctx.beginPath();
      ctx.rect(0, 0, this.width * TILE, this.height * TILE);
      ctx.clip();
      ctx.fillRect((mx - r) * TILE, (my - r) * TILE, (2 * r + 1) * TILE, (2 * r + 1) * TILE);
      ctx.strokeRect((mx - r) * TILE + 0.5, (my - r) * TILE + 0.5, (2 * r + 1) * TILE - 1, (2 * r + 1) * TILE - 1);
      ctx.restore();
    }

    // Elements.
    for (const e of this.elements) {
      if (e.x + e.w < x0 || e.x > x1 || e.y + e.h < y0 || e.y > y1) continue;
      this.drawElement(ctx, e);
    }

    // Avatars, back to front.
    const list = [...this.users.values()].map((u) => {
      const [x, y] = this.renderPos(u, now);
      return { u, x, y };
    });
    list.sort((a, b) => a.y - b.y);
    for (const { u, x, y } of list) this.drawAvatar(ctx, u, x, y);
    // Names on top of everything.
    for (const { u, x, y } of list) this.drawName(ctx, u, x, y);

    // A red flash where the server put me back.
    if (this.bump && this.bump.dx === undefined && now - this.bump.t0 < 300 && me) {
      ctx.strokeStyle = `rgba(220, 40, 40, ${1 - (now - this.bump.t0) / 300})`;
      ctx.lineWidth = 3;
      ctx.strokeRect(me.tx * TILE + 1.5, me.ty * TILE + 1.5, TILE - 3, TILE - 3);
    }
  }

  drawElement(ctx, e) {
    const px = e.x * TILE;
    const py = e.y * TILE;
    const pw = e.w * TILE;
    const ph = e.h * TILE;
    const img = e.imageUrl ? image(e.imageUrl) : null;
    if (img && img.ok) {
      ctx.drawImage(img.img, px, py, pw, ph);
      return;
    }
    // No picture: a labelled block (static ones darker).
    ctx.fillStyle = e.isStatic ? '#7a6a58' : 'rgba(120, 150, 200, 0.45)';
    ctx.fillRect(px + 1, py + 1, pw - 2, ph - 2);
    ctx.strokeStyle = e.isStatic ? '#4d4236' : 'rgba(60, 80, 130, 0.6)';
    ctx.strokeRect(px + 1.5, py + 1.5, pw - 3, ph - 3);
    if (e.kind && pw >= 64) {
      ctx.fillStyle = e.isStatic ? '#f5efe6' : '#1d2a44';
      ctx.font = '9px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(e.kind.slice(0, Math.max(4, Math.floor(pw / 6))), px + pw / 2, py + ph / 2);
    }
  }

  drawAvatar(ctx, u, x, y) {
    const cx = (x + 0.5) * TILE;
    const cy = (y + 0.5) * TILE;
    const r = TILE * 0.42;
    const isMe = u.id === this.me;
    const near = this.nearby.has(u.id);
    // Shadow.
    ctx.fillStyle = 'rgba(0, 0, 0, 0.18)';
    ctx.beginPath();
    ctx.ellipse(cx, cy + r * 0.9, r * 0.8, r * 0.28, 0, 0, Math.PI * 2);
    ctx.fill();
    // Body: the image clipped to a circle, or a coloured disc with initials.
    const img = u.avatarUrl ? image(u.avatarUrl) : null;
    ctx.save();
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, Math.PI * 2);
    ctx.closePath();
    if (img && img.ok) {
      ctx.fillStyle = '#fff';
      ctx.fill();
      ctx.clip();
      ctx.drawImage(img.img, cx - r, cy - r, r * 2, r * 2);
    } else {
      ctx.fillStyle = colorFor(u.id);
      ctx.fill();
      ctx.fillStyle = '#fff';
      ctx.font = `600 ${Math.round(r * 0.85)}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(initials(displayName(u)), cx, cy + 1);
    }
    ctx.restore();
    // Ring: me (blue), nearby (green), others (white).
    ctx.lineWidth = isMe || near ? 3 : 2;
    ctx.strokeStyle = isMe ? '#2f6fde' : near ? '#2ea05a' : 'rgba(255,255,255,0.9)';
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, Math.PI * 2);
    ctx.stroke();
  }

  drawName(ctx, u, x, y) {
    const cx = (x + 0.5) * TILE;
    const top = y * TILE + 2;
    let name = displayName(u);
    if (name.length > 16) name = `${name.slice(0, 15)}…`;
    ctx.font = '600 10px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    const wdt = ctx.measureText(name).width + 8;
    ctx.fillStyle = u.id === this.me ? 'rgba(47, 111, 222, 0.85)' : 'rgba(20, 24, 33, 0.72)';
    roundRect(ctx, cx - wdt / 2, top - 13, wdt, 13, 4);
    ctx.fill();
    ctx.fillStyle = '#fff';
    ctx.fillText(name, cx, top - 2);
  }
}

export function displayName(u) {
  return u.name || (u.id ? u.id.slice(0, 6) : '?');
}

function kindOf(url) {
  if (!url) return '';
  const m = /([^/]+?)(\.[a-z0-9]+)?(\?.*)?$/i.exec(url);
  return m ? m[1] : '';
}

function roundRect(ctx, x, y, w, h, r) {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}
