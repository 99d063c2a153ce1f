"""Bilibili live danmaku wire format: packets in, ChatMessages out.

A packet is a 16-byte big-endian header (packet length u32, header length u16 = 16, protocol version
u16, operation u32, sequence u32) and a body. Version 0/1 bodies are the payload itself (JSON, or the
heartbeat reply's u32 popularity); version 2 (zlib) and 3 (brotli) bodies inflate to further packets,
several concatenated. Whatever arrives, decoding raises BilibiliProtocolError and nothing else: the
bytes come from the network.
"""

from __future__ import annotations

import json
import math
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import brotli

from engine.chat.message import ChatMessage
from engine.errors import CohostError

OP_HEARTBEAT = 2
OP_HEARTBEAT_REPLY = 3
OP_COMMAND = 5
OP_AUTH = 7
OP_AUTH_REPLY = 8

PROTOVER_JSON = 0
PROTOVER_PLAIN = 1  # heartbeats, auth, popularity
PROTOVER_ZLIB = 2
PROTOVER_BROTLI = 3

HEADER = struct.Struct(">IHHII")
MAX_NESTING = 2  # Bilibili compresses once; a packet compressed inside a compressed one is already odd
MAX_INFLATED = 4 * 1024 * 1024  # bytes inflated per frame, all levels together: a zip bomb stops here


class BilibiliProtocolError(CohostError):
    """The danmaku server sent bytes that are not a valid packet."""


@dataclass(frozen=True)
class Packet:
    op: int
    protover: int
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (commands and the auth reply)."""
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BilibiliProtocolError(f"danmaku packet (operation {self.op}) is not valid JSON") from None
        if not isinstance(value, dict):
            raise BilibiliProtocolError(f"danmaku packet (operation {self.op}) is not a JSON object")
        return value


def encode_packet(op: int, body: bytes, protover: int = PROTOVER_PLAIN, seq: int = 1) -> bytes:
    return HEADER.pack(HEADER.size + len(body), HEADER.size, protover, op, seq) + body


def auth_packet(room_id: int, token: str, uid: int = 0, buvid: str = "") -> bytes:
    """Joins `room_id`; protover 3 asks the server for brotli-compressed commands."""
    body = {
        "uid": uid,
        "roomid": room_id,
        "protover": PROTOVER_BROTLI,
        "platform": "web",
        "type": 2,
        "key": token,
        "buvid": buvid,
    }
    return encode_packet(OP_AUTH, json.dumps(body, separators=(",", ":")).encode())


def heartbeat_packet() -> bytes:
    return encode_packet(OP_HEARTBEAT, b"")


def decode_packets(data: bytes) -> list[Packet]:
    """Every packet in one WebSocket frame, compressed ones expanded in place."""
    budget = [MAX_INFLATED]
    return _decode(data, 0, budget)


def _decode(data: bytes, nesting: int, budget: list[int]) -> list[Packet]:
    packets: list[Packet] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            raise BilibiliProtocolError(f"danmaku packet truncated: {len(data) - offset} bytes left of a header")
        length, header_len, protover, op, _seq = HEADER.unpack_from(data, offset)
        if header_len < HEADER.size or length < header_len:
            raise BilibiliProtocolError(f"danmaku packet header is malformed (length {length}, header {header_len})")
        if offset + length > len(data):
            raise BilibiliProtocolError(f"danmaku packet says {length} bytes, only {len(data) - offset} arrived")
        body = data[offset + header_len : offset + length]
        offset += length
        if protover in (PROTOVER_JSON, PROTOVER_PLAIN):
            packets.append(Packet(op, protover, body))
        elif protover in (PROTOVER_ZLIB, PROTOVER_BROTLI):
            if nesting >= MAX_NESTING:
                raise BilibiliProtocolError(f"danmaku packets nested deeper than {MAX_NESTING} compressions")
            inflated = _inflate(body, protover, budget[0])
            budget[0] -= len(inflated)
            packets.extend(_decode(inflated, nesting + 1, budget))
        else:
            raise BilibiliProtocolError(f"danmaku packet has unknown protocol version {protover}")
    return packets


def _inflate(body: bytes, protover: int, limit: int) -> bytes:
    name = "zlib" if protover == PROTOVER_ZLIB else "brotli"
    try:
        if protover == PROTOVER_ZLIB:
            inflater = zlib.decompressobj()
            out = inflater.decompress(body, limit + 1)
            finished = inflater.eof and not inflater.unused_data
        else:
            decompressor = brotli.Decompressor()
            out = decompressor.process(body, output_buffer_limit=limit + 1)
            finished = decompressor.is_finished()
    except (zlib.error, brotli.error):
        raise BilibiliProtocolError(f"danmaku packet is not valid {name} data") from None
    if len(out) > limit:
        raise BilibiliProtocolError(f"danmaku frame inflates past {MAX_INFLATED} bytes")
    if not finished:
        raise BilibiliProtocolError(f"danmaku packet's {name} data is truncated or has trailing bytes")
    return out


# ----- commands → ChatMessage -------------------------------------------------------------------------


class _Malformed(Exception):
    pass


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Malformed
    return value


def _number(value: Any) -> float:
    """A JSON number (Bilibili sends some as strings); finite and not negative."""
    if isinstance(value, bool):
        raise _Malformed
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise _Malformed from None
    if not math.isfinite(number) or number < 0:
        raise _Malformed
    return number


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Malformed
    return str(value)


def _when(data: dict[str, Any], key: str) -> float:
    """Unix seconds from `data[key]`, or now when the command does not say."""
    return _number(data[key]) if key in data else time.time()


def _danmaku(info: list[Any]) -> ChatMessage:
    meta, user = info[0], info[2]
    badges: list[str] = []
    if isinstance(user, list) and len(user) > 2 and user[2] == 1:
        badges.append("moderator")
    medal = info[3] if len(info) > 3 else None
    if isinstance(medal, list) and len(medal) > 1 and isinstance(medal[1], str) and medal[1]:
        badges.append(f"medal/{medal[1]}/{medal[0]}" if isinstance(medal[0], int) else f"medal/{medal[1]}")
    guard = info[7] if len(info) > 7 else 0
    if isinstance(guard, int) and not isinstance(guard, bool) and guard > 0:
        badges.append(f"guard/{guard}")
    return ChatMessage(
        platform="bilibili",
        user=_text(user[1]),
        text=_text(info[1]),
        time=_number(meta[4]) / 1000,
        user_id=_id(user[0]),
        badges=tuple(badges),
    )


def _gift(data: dict[str, Any]) -> ChatMessage | None:
    if data.get("coin_type", "gold") != "gold":
        return None  # silver gifts are free: not paid, so they must not jump the question queue
    num = int(_number(data["num"]))
    coins = _number(data["total_coin"]) if "total_coin" in data else _number(_number(data["price"]) * num)
    return ChatMessage(
        platform="bilibili",
        user=_text(data["uname"]),
        text=f"{_text(data['giftName'])} x{num}",
        kind="gift",
        amount=coins / 1000,
        currency="CNY",
        time=_when(data, "timestamp"),
        user_id=_id(data["uid"]),
    )


def _superchat(data: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        platform="bilibili",
        user=_text(data["user_info"]["uname"]),
        text=_text(data["message"]),
        kind="superchat",
        amount=_number(data["price"]),
        currency="CNY",
        time=_when(data, "start_time"),
        user_id=_id(data["uid"]),
        id=_id(data["id"]),
    )


def _guard(data: dict[str, Any]) -> ChatMessage:
    num = int(_number(data["num"]))
    return ChatMessage(
        platform="bilibili",
        user=_text(data["username"]),
        text=f"{_text(data['gift_name'])} x{num}",
        kind="member",
        amount=_number(_number(data["price"]) * num) / 1000,
        currency="CNY",
        time=_when(data, "start_time"),
        user_id=_id(data["uid"]),
        badges=(f"guard/{_id(data['guard_level'])}",),
    )


def command_to_message(cmd: dict[str, Any]) -> ChatMessage | None:
    """A chat line, gift, Super Chat or guard (membership) purchase; None for every other command and
    for any shape that is not what Bilibili sends (a new field layout must not stop the chat)."""
    try:
        name = cmd["cmd"]
        if not isinstance(name, str):
            return None
        # Newer clients get DANMU_MSG with a suffix ("DANMU_MSG:4:0:2:2:2:0"), same layout.
        if name.split(":", 1)[0] == "DANMU_MSG":
            return _danmaku(cmd["info"])
        handler = {"SEND_GIFT": _gift, "SUPER_CHAT_MESSAGE": _superchat, "GUARD_BUY": _guard}.get(name)
        return handler(cmd["data"]) if handler else None
    except (_Malformed, KeyError, IndexError, TypeError, AttributeError, ValueError):
        return None
