#!/usr/bin/env python3
"""Draws the demo content's images (server/src/demo.rs) as small PNGs.

Python standard library only (zlib + struct). Run from anywhere:

    python3 e2e/gen_assets.py

and it (re)writes server/web/assets/{avatars,elements,maps}/*.png. The
pictures are simple vector shapes, rasterised with 4x4 supersampling.
One tile is 32 px; an element of w x h tiles is drawn at 32w x 32h.
"""

import math
import os
import struct
import zlib

TILE = 32
SS = 4  # supersampling per axis
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "web", "assets")


def hexc(s, a=255):
    s = s.lstrip("#")
    return (int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16), a)


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = [[0.0, 0.0, 0.0, 0.0] for _ in range(w * h)]  # premultiplied floats 0..1

    def _blend(self, x, y, color, cover):
        if cover <= 0 or x < 0 or y < 0 or x >= self.w or y >= self.h:
            return
        r, g, b, a = color
        a = a / 255.0 * cover
        p = self.px[y * self.w + x]
        p[0] = r / 255.0 * a + p[0] * (1 - a)
        p[1] = g / 255.0 * a + p[1] * (1 - a)
        p[2] = b / 255.0 * a + p[2] * (1 - a)
        p[3] = a + p[3] * (1 - a)

    def shape(self, inside, color, bbox=None):
        """Fill every pixel by the fraction of its subsamples where inside(x, y)."""
        x0, y0, x1, y1 = bbox or (0, 0, self.w, self.h)
        x0, y0 = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
        x1, y1 = min(self.w, int(math.ceil(x1))), min(self.h, int(math.ceil(y1)))
        n = SS * SS
        for y in range(y0, y1):
            for x in range(x0, x1):
                hits = 0
                for sy in range(SS):
                    for sx in range(SS):
                        if inside(x + (sx + 0.5) / SS, y + (sy + 0.5) / SS):
                            hits += 1
                self._blend(x, y, color, hits / n)

    def rect(self, x, y, w, h, color, r=0):
        def inside(px, py):
            if px < x or py < y or px > x + w or py > y + h:
                return False
            if r <= 0:
                return True
            cx = min(max(px, x + r), x + w - r)
            cy = min(max(py, y + r), y + h - r)
            return (px - cx) ** 2 + (py - cy) ** 2 <= r * r

        self.shape(inside, color, (x - 1, y - 1, x + w + 1, y + h + 1))

    def circle(self, cx, cy, rad, color):
        self.ellipse(cx, cy, rad, rad, color)

    def ellipse(self, cx, cy, rx, ry, color):
        self.shape(
            lambda px, py: ((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2 <= 1,
            color,
            (cx - rx - 1, cy - ry - 1, cx + rx + 1, cy + ry + 1),
        )

    def polygon(self, pts, color):
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]

        def inside(px, py):
            c = False
            j = len(pts) - 1
            for i in range(len(pts)):
                xi, yi = pts[i]
                xj, yj = pts[j]
                if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
                    c = not c
                j = i
            return c

        self.shape(inside, color, (min(xs) - 1, min(ys) - 1, max(xs) + 1, max(ys) + 1))

    def png(self):
        raw = bytearray()
        for y in range(self.h):
            raw.append(0)
            for x in range(self.w):
                r, g, b, a = self.px[y * self.w + x]
                if a > 0:
                    r, g, b = r / a, g / a, b / a
                raw += bytes(max(0, min(255, round(v * 255))) for v in (r, g, b, a))

        def chunk(kind, data):
            c = struct.pack(">I", len(data)) + kind + data
            return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        ihdr = struct.pack(">IIBBBBB", self.w, self.h, 8, 6, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def save(c, *path):
    p = os.path.join(ROOT, *path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(c.png())
    print("wrote", os.path.relpath(p))


# ---------------------------------------------------------------- avatars (64x64)

def avatar_astro():
    c = Canvas(64, 64)
    c.circle(32, 34, 26, hexc("#2b3a55"))
    c.circle(32, 32, 26, hexc("#eef2f7"))
    c.rect(15, 20, 34, 22, hexc("#2f6fde"), r=10)
    c.rect(19, 23, 12, 5, hexc("#9cc3ff", 200), r=2)
    c.circle(32, 6, 3, hexc("#ff5a5f"))
    c.rect(31, 6, 2, 6, hexc("#9aa5b1"))
    return c


def avatar_pixel():
    c = Canvas(64, 64)
    c.rect(8, 8, 48, 50, hexc("#2e7d32"), r=6)
    c.rect(8, 6, 48, 48, hexc("#4caf50"), r=6)
    for x in (20, 38):
        c.rect(x, 20, 7, 9, hexc("#10240f"))
        c.rect(x + 1, 21, 3, 3, hexc("#ffffff"))
    c.rect(22, 38, 20, 4, hexc("#10240f"))
    c.rect(18, 34, 4, 4, hexc("#10240f"))
    c.rect(42, 34, 4, 4, hexc("#10240f"))
    return c


def avatar_robo():
    c = Canvas(64, 64)
    c.rect(30, 4, 4, 10, hexc("#7b8794"))
    c.circle(32, 5, 4, hexc("#ffb300"))
    c.rect(10, 14, 44, 44, hexc("#52606d"), r=8)
    c.rect(10, 12, 44, 44, hexc("#9aa5b1"), r=8)
    c.rect(16, 22, 32, 14, hexc("#1f2933"), r=6)
    c.circle(25, 29, 4, hexc("#ff3b3b"))
    c.circle(39, 29, 4, hexc("#ff3b3b"))
    for i in range(4):
        c.rect(20 + i * 7, 44, 4, 6, hexc("#323f4b"))
    return c


def avatar_fox():
    c = Canvas(64, 64)
    c.polygon([(8, 4), (26, 20), (12, 30)], hexc("#e8590c"))
    c.polygon([(56, 4), (38, 20), (52, 30)], hexc("#e8590c"))
    c.polygon([(12, 10), (22, 20), (14, 25)], hexc("#3b1f0e"))
    c.polygon([(52, 10), (42, 20), (50, 25)], hexc("#3b1f0e"))
    c.circle(32, 36, 24, hexc("#f76707"))
    c.polygon([(10, 36), (32, 62), (54, 36), (32, 46)], hexc("#fff4e6"))
    c.circle(23, 32, 3.5, hexc("#1b1b1b"))
    c.circle(41, 32, 3.5, hexc("#1b1b1b"))
    c.ellipse(32, 48, 4, 3, hexc("#1b1b1b"))
    return c


# ---------------------------------------------------------------- elements

def el_wall():
    c = Canvas(TILE, TILE)
    c.rect(0, 0, 32, 32, hexc("#5c5f66"))
    mortar = hexc("#474a50")
    for row in range(4):
        y = row * 8
        c.rect(0, y + 7, 32, 1, mortar)
        off = 0 if row % 2 == 0 else 8
        for x in range(off, 33, 16):
            c.rect(x - 0.5, y, 1, 7, mortar)
        c.rect(0, y, 32, 1, hexc("#6e727a"))
    return c


def el_table():
    c = Canvas(2 * TILE, TILE)
    c.rect(3, 6, 58, 24, hexc("#6d4321"), r=5)
    c.rect(3, 3, 58, 23, hexc("#a0622d"), r=5)
    for y in (9, 15, 21):
        c.rect(8, y, 48, 1, hexc("#8a5226", 180))
    c.rect(6, 5, 52, 2, hexc("#c98a4b", 200), r=1)
    return c


def el_plant():
    c = Canvas(TILE, TILE)
    c.polygon([(9, 19), (23, 19), (21, 31), (11, 31)], hexc("#b4532a"))
    c.rect(8, 18, 16, 3, hexc("#cf6a3a"), r=1)
    for (x, y, r, col) in [(16, 10, 7, "#2f9e44"), (10, 13, 5, "#37b24d"), (22, 13, 5, "#37b24d"),
                           (13, 6, 4, "#51cf66"), (20, 7, 4, "#40c057")]:
        c.circle(x, y, r, hexc(col))
    return c


def el_bookshelf():
    c = Canvas(2 * TILE, TILE)
    c.rect(1, 1, 62, 30, hexc("#5a3a1a"), r=2)
    c.rect(4, 4, 56, 11, hexc("#2d1c0c"))
    c.rect(4, 18, 56, 10, hexc("#2d1c0c"))
    colors = ["#e03131", "#1971c2", "#f08c00", "#2f9e44", "#862e9c", "#0ca678", "#f76707", "#364fc7"]
    x = 5
    i = 0
    while x < 58:
        w = 3 + (i * 7) % 3
        h = 9 - (i % 3)
        c.rect(x, 15 - h, w, h, hexc(colors[i % len(colors)]))
        c.rect(x, 28 - h + 1, w, h - 1, hexc(colors[(i + 3) % len(colors)]))
        x += w + 1
        i += 1
    return c


def el_chair():
    c = Canvas(TILE, TILE)
    c.rect(7, 4, 18, 7, hexc("#1864ab"), r=3)
    c.rect(8, 10, 16, 16, hexc("#1c7ed6"), r=4)
    c.rect(10, 12, 12, 3, hexc("#4dabf7", 160), r=1)
    return c


def el_rug():
    c = Canvas(3 * TILE, 2 * TILE)
    c.rect(2, 2, 92, 60, hexc("#9c2f3b", 230), r=4)
    c.rect(7, 7, 82, 50, hexc("#c0394a", 230), r=3)
    c.rect(12, 12, 72, 40, hexc("#f1c27d", 220), r=3)
    c.rect(16, 16, 64, 32, hexc("#c0394a", 230), r=3)
    c.polygon([(48, 20), (60, 32), (48, 44), (36, 32)], hexc("#f1c27d", 230))
    return c


# ---------------------------------------------------------------- map thumbnail

def lobby_layout(w=40, h=30):
    out = []
    for x in range(w):
        out += [("wall", x, 0), ("wall", x, h - 1)]
    for y in range(1, h - 1):
        out += [("wall", 0, y), ("wall", w - 1, y)]
    for y in range(1, 11):
        if y != 6:
            out.append(("wall", 28, y))
    for x in range(29, w - 1):
        out.append(("wall", x, 11))
    out += [("table", 32, 4), ("table", 34, 4), ("chair", 32, 3), ("chair", 35, 3), ("chair", 32, 5), ("chair", 35, 5)]
    for tx, ty in [(6, 6), (14, 6), (6, 16), (14, 16), (22, 20)]:
        out += [("table", tx, ty), ("chair", tx - 1, ty), ("chair", tx + 2, ty)]
    out += [("plant", 1, 1), ("plant", 27, 1), ("plant", 1, 28), ("plant", 38, 28)]
    out += [("bookshelf", 3, 1), ("bookshelf", 5, 1), ("bookshelf", 30, 28)]
    out.append(("rug", 18, 12))
    return out


def map_lobby():
    s = 4
    sizes = {"wall": (1, 1), "table": (2, 1), "plant": (1, 1), "bookshelf": (2, 1), "chair": (1, 1), "rug": (3, 2)}
    colors = {"wall": "#5c5f66", "table": "#a0622d", "plant": "#2f9e44", "bookshelf": "#5a3a1a",
              "chair": "#1c7ed6", "rug": "#c0394a"}
    c = Canvas(40 * s, 30 * s)
    c.rect(0, 0, 40 * s, 30 * s, hexc("#e9e4d8"))
    order = sorted(lobby_layout(), key=lambda e: e[0] != "rug")
    for kind, x, y in order:
        w, h = sizes[kind]
        c.rect(x * s, y * s, w * s, h * s, hexc(colors[kind]))
    return c


if __name__ == "__main__":
    for name, fn in [("astro", avatar_astro), ("pixel", avatar_pixel), ("robo", avatar_robo), ("fox", avatar_fox)]:
        save(fn(), "avatars", name + ".png")
    for name, fn in [("wall", el_wall), ("table", el_table), ("plant", el_plant), ("bookshelf", el_bookshelf),
                     ("chair", el_chair), ("rug", el_rug)]:
        save(fn(), "elements", name + ".png")
    save(map_lobby(), "maps", "lobby.png")
