#!/usr/bin/env python3
"""Writes the seed corpus: a few valid messages of each shape (from
docs/PROTOCOL.md and the API), so the fuzzer starts past the envelope checks
instead of having to guess `{"type": ...}` byte by byte.

Run from anywhere: python3 fuzz/seeds.py. It rewrites fuzz/corpus/*/seed-*.
"""

import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def msgpack(v):
    """The small MessagePack subset our messages use (no library needed)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xd9" + bytes([len(b)]) + b if len(b) < 256 else b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, list):
        assert len(v) < 16
        return bytes([0x90 | len(v)]) + b"".join(msgpack(x) for x in v)
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0x80 | len(v)]) + b"".join(msgpack(k) + msgpack(x) for k, x in v.items())
    raise TypeError(type(v))


def msg(kind, payload):
    return {"type": kind, "payload": payload}


CLIENT = [
    msg("join", {"spaceId": "space-1", "token": "tok"}),
    msg("join", {"spaceId": "space-1", "token": "tok", "resumeToken": "resume-1", "batch": True}),
    msg("move", {"x": 3, "y": -4}),
    msg("move", {"x": 2147483647, "y": -2147483648}),
    msg("leave", {}),
    msg("heartbeat", {}),
    msg("chat-join", {"chatroomId": "room-1", "passcode": "secret", "since": "msg-9"}),
    msg("chat-leave", {"chatroomId": "room-1"}),
    msg("chat-message", {"chatroomId": "nearby", "content": "h\u00e9llo \U0001F600", "type": "emoji", "clientId": "c-1"}),
    msg("rtc-signal", {"to": "u2", "kind": "offer", "data": {"type": "offer", "sdp": "v=0\r\n", "n": [1, -25, None, True, 0.5]}}),
    msg("rtc-signal", {"to": "u2", "kind": "hangup", "data": None}),
    msg("no-such-type", {}),
]

BODIES = [
    {"username": "alice_1", "password": "correct horse", "type": "admin", "email": "a@example.com"},
    {"username": "bob", "password": "hunter22"},
    {"name": "Lobby", "dimensions": "100x200", "proximityRadius": 3},
    {"name": "From map", "mapId": "0190a0b2-0000-7000-8000-000000000000"},
    {"name": "General", "spaceId": "space-1", "description": "chat", "passcode": "1234"},
    {"name": "Renamed", "passcode": ""},
    {"thumbnail": "https://example.com/t.png", "dimensions": "10X10", "name": "Map",
     "defaultElements": [{"elementId": "e1", "x": 1, "y": "2"}]},
    {"elementId": "e1", "spaceId": "space-1", "x": "7", "y": 8},
]


def write(target, blobs):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, b in enumerate(blobs):
        with open(os.path.join(d, f"seed-{i:02}"), "wb") as fh:
            fh.write(b)


write("client_msgpack", [msgpack(m) for m in CLIENT])
write("client_json", [json.dumps(m, ensure_ascii=False).encode() for m in CLIENT])
write("http_body", [json.dumps(b, ensure_ascii=False).encode() for b in BODIES])


def png(w, h):
    """A small RGBA PNG, so the fuzzer starts from chunks that decode."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    rows = b"".join(b"\0" + bytes((x * 40 % 256, y * 60 % 256, 90, 255)[i] for x in range(w) for i in range(4)) for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# Uploads: each accepted kind once (a 2×1 GIF written by hand).
UPLOADS = [
    png(4, 3),
    bytes.fromhex("474946383961020001008000000000ffffff21f90400000000002c00000000020001000002024c01003b"),
    b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
    b"minutes of the meeting\n",
]
write("media_inspect", UPLOADS)
