"""Bilibili danmaku: the packet codec on built packets and on anything hypothesis can make up, and the
source against a local aiohttp server on a free loopback port.

No real Bilibili server can run here, so that server stands in for it: it serves room_init and
getDanmuInfo from recorded replies (tests/data/bilibili) and speaks the danmaku protocol on a WebSocket
(it checks the join packet, answers it and the heartbeats, and sends brotli-compressed commands
recorded from real rooms). Its frames are built with struct, zlib and brotli directly, not with the
codec under test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import brotli
import pytest
from aiohttp import WSMsgType, web
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chat.bilibili import BilibiliSource
from engine.chat.bilibili_codec import (
    MAX_INFLATED, OP_AUTH, OP_COMMAND, OP_HEARTBEAT, BilibiliProtocolError, Packet, auth_packet, command_to_message,
    decode_packets, encode_packet, heartbeat_packet,
)  # fmt: skip
from engine.chat.message import ChatMessage
from engine.config import BilibiliConfig
from engine.errors import CohostError
from tests.harness.web import Sleeps, serve_app

DATA = Path(__file__).parent / "data" / "bilibili"
SESSDATA = "8f3a1c2e%2C1730397600%2C5b7d9*51CjBxTestSessdata"
COOKIE = f"SESSDATA={SESSDATA}; bili_jct=0a1b2c3d4e5f; DedeUserID=987654; buvid3=4B1C2D3E-TEST-BUVID-infoc"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


DANMU, GIFT, SUPERCHAT, GUARD, INTERACT = (recorded(f"{n}.json") for n in (
    "danmu_msg", "send_gift", "super_chat_message", "guard_buy", "interact_word"))  # fmt: skip


def frame(op: int, body: bytes, ver: int = 0) -> bytes:
    """One packet, built independently of the codec."""
    return struct.pack(">IHHII", 16 + len(body), 16, ver, op, 1) + body


def command(cmd: dict[str, Any]) -> bytes:
    return frame(OP_COMMAND, json.dumps(cmd, ensure_ascii=False).encode())


def brotli_frame(*packets: bytes) -> bytes:
    return frame(OP_COMMAND, brotli.compress(b"".join(packets)), ver=3)


def zlib_frame(*packets: bytes) -> bytes:
    return frame(OP_COMMAND, zlib.compress(b"".join(packets)), ver=2)


# ----- codec --------------------------------------------------------------------------------------


def test_encode_packet_writes_the_16_byte_big_endian_header() -> None:
    assert encode_packet(OP_COMMAND, b"{}", protover=0, seq=7) == b"\0\0\0\x12\0\x10\0\0\0\0\0\x05\0\0\0\x07{}"


def test_auth_packet_joins_the_room_asking_for_brotli() -> None:
    [packet] = decode_packets(auth_packet(5440, "tok", uid=987654, buvid="B-1"))
    assert (packet.op, packet.protover) == (OP_AUTH, 1)
    assert packet.json() == {"uid": 987654, "roomid": 5440, "protover": 3, "platform": "web", "type": 2,
                             "key": "tok", "buvid": "B-1"}


def test_heartbeat_packet_is_an_empty_operation_2() -> None:
    assert decode_packets(heartbeat_packet()) == [Packet(OP_HEARTBEAT, 1, b"")]


@pytest.mark.parametrize("wrap", [lambda p: p, zlib_frame, brotli_frame], ids=["raw", "zlib", "brotli"])
def test_decodes_commands_raw_zlib_and_brotli(wrap: Callable[[bytes], bytes]) -> None:
    [packet] = decode_packets(wrap(command(DANMU)))
    assert (packet.op, packet.json()) == (OP_COMMAND, DANMU)


def test_decodes_several_packets_in_one_frame() -> None:
    data = command(DANMU) + brotli_frame(command(GIFT), command(SUPERCHAT)) + zlib_frame(command(GUARD))
    names = [p.json()["cmd"] for p in decode_packets(data)]
    assert names == ["DANMU_MSG", "SEND_GIFT", "SUPER_CHAT_MESSAGE", "GUARD_BUY"]


def test_decodes_compression_nested_in_compression_up_to_a_limit() -> None:
    nested = zlib_frame(brotli_frame(command(DANMU)), command(GIFT))
    assert [p.json()["cmd"] for p in decode_packets(nested)] == ["DANMU_MSG", "SEND_GIFT"]
    with pytest.raises(BilibiliProtocolError, match="nested deeper"):
        decode_packets(zlib_frame(zlib_frame(zlib_frame(command(DANMU)))))


def test_heartbeat_reply_carries_the_popularity() -> None:
    [packet] = decode_packets(frame(3, struct.pack(">I", 123456), ver=1))
    assert (packet.op, struct.unpack(">I", packet.body)[0]) == (3, 123456)


BOMB = zlib.compress(b"\0" * (MAX_INFLATED + 1), 9)


@pytest.mark.parametrize("data", [
    pytest.param(b"\0\0\0\x20\0\x10", id="truncated-header"),
    pytest.param(frame(5, b"{}")[:-1], id="length-says-more-than-arrived"),
    pytest.param(struct.pack(">IHHII", 0xFFFFFFFF, 16, 0, 5, 1) + b"{}", id="huge-length"),
    pytest.param(struct.pack(">IHHII", 18, 12, 0, 5, 1) + b"{}", id="header-shorter-than-16"),
    pytest.param(struct.pack(">IHHII", 10, 16, 0, 5, 1), id="length-shorter-than-header"),
    pytest.param(frame(5, b"not zlib at all", ver=2), id="bad-zlib"),
    pytest.param(frame(5, zlib.compress(command(DANMU))[:-6], ver=2), id="truncated-zlib"),
    pytest.param(frame(5, zlib.compress(command(DANMU)) + b"junk", ver=2), id="zlib-trailing-bytes"),
    pytest.param(frame(5, b"\xff\xfe not brotli", ver=3), id="bad-brotli"),
    pytest.param(frame(5, brotli.compress(command(DANMU))[:-3], ver=3), id="truncated-brotli"),
    pytest.param(frame(5, BOMB, ver=2), id="zip-bomb"),
    pytest.param(frame(5, b"{}", ver=9), id="unknown-protover"),
    pytest.param(zlib_frame(b"\0\0\0\x05garbage"), id="garbage-inside-compression"),
])  # fmt: skip
def test_malformed_frames_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(BilibiliProtocolError):
        decode_packets(data)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b"[" * 100000])
def test_command_that_is_not_a_json_object_raises_protocol_error(body: bytes) -> None:
    [packet] = decode_packets(frame(OP_COMMAND, body))
    with pytest.raises(BilibiliProtocolError):
        packet.json()


def test_danmaku_maps_to_chat_with_user_time_and_badges() -> None:
    assert command_to_message(DANMU) == ChatMessage(
        platform="bilibili", user="小明同学", text="主播好！Nova 今天玩什么？", time=1714845600.123,
        user_id="12345678", badges=("moderator", "medal/星河/12", "guard/3"))


def test_danmaku_with_a_suffixed_command_name_is_chat() -> None:
    message = command_to_message({**DANMU, "cmd": "DANMU_MSG:4:0:2:2:2:0"})
    assert message is not None and message.text == "主播好！Nova 今天玩什么？"


def test_gift_maps_to_its_price_in_yuan() -> None:
    assert command_to_message(GIFT) == ChatMessage(
        platform="bilibili", user="路过的猫", text="小花花 x2", kind="gift", amount=0.2, currency="CNY",
        time=1714845601, user_id="23456789")


def test_free_silver_gift_is_not_a_paid_message() -> None:
    assert command_to_message({"cmd": "SEND_GIFT", "data": {**GIFT["data"], "coin_type": "silver"}}) is None


def test_super_chat_maps_to_superchat_in_yuan() -> None:
    assert command_to_message(SUPERCHAT) == ChatMessage(
        platform="bilibili", user="阿雪", text="Nova 你最喜欢什么游戏？", kind="superchat", amount=30.0, currency="CNY",
        time=1714845602, user_id="34567890", id="9876543")


def test_guard_purchase_maps_to_member() -> None:
    assert command_to_message(GUARD) == ChatMessage(
        platform="bilibili", user="舰长大人", text="舰长 x1", kind="member", amount=198.0, currency="CNY",
        time=1714845603, user_id="45678901", badges=("guard/3",))


@pytest.mark.parametrize("cmd", [
    INTERACT, {"cmd": "DANMU_MSG", "info": []}, {"cmd": "DANMU_MSG", "info": [[0] * 3, "hi", [1, "a"]]},
    {"cmd": "SEND_GIFT", "data": {**GIFT["data"], "num": "many"}}, {"cmd": "SUPER_CHAT_MESSAGE", "data": None},
    {"cmd": "GUARD_BUY", "data": {**GUARD["data"], "price": float("nan")}}, {"cmd": 5}, {},
])  # fmt: skip
def test_other_or_malformed_commands_map_to_none(cmd: dict[str, Any]) -> None:
    assert command_to_message(cmd) is None


# Property-based: whatever the network sends, the codec fails only with its own one-line error.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=10,
)


@st.composite
def mutated_commands(draw: st.DrawFn) -> dict[str, Any]:
    """A recorded command with a few fields, at any depth, replaced by any JSON value or removed."""
    cmd = json.loads(json.dumps(draw(st.sampled_from([DANMU, GIFT, SUPERCHAT, GUARD]))))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = cmd
        while node:
            key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
            if isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
                node = node[key]
            elif isinstance(node, dict) and draw(st.booleans()):
                del node[key]
                break
            else:
                node[key] = draw(json_values)
                break
    return cmd


packets = st.builds(frame, st.integers(0, 9), st.binary(max_size=64), st.integers(0, 4))
frames = st.one_of(
    st.binary(max_size=200),
    st.lists(packets, max_size=4).map(b"".join),
    st.lists(packets, max_size=4).map(lambda ps: zlib_frame(*ps)),
    st.lists(packets, max_size=4).map(lambda ps: brotli_frame(*ps)),
)


@settings(max_examples=300, deadline=None)
@given(frames)
def test_decoding_any_bytes_raises_only_protocol_errors(data: bytes) -> None:
    try:
        for packet in decode_packets(data):
            try:
                packet.json()
            except BilibiliProtocolError:
                pass
    except BilibiliProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=100), st.sampled_from([0, 1]),
                          st.integers(0, 2**32 - 1)), max_size=6), st.sampled_from([None, 2, 3]))
def test_encoded_packets_decode_to_themselves(specs: list[tuple[int, bytes, int, int]],
                                              compression: int | None) -> None:
    data = b"".join(encode_packet(op, body, protover, seq) for op, body, protover, seq in specs)
    if compression is not None and data:
        data = encode_packet(OP_COMMAND, (zlib.compress if compression == 2 else brotli.compress)(data), compression)
    assert decode_packets(data) == [Packet(op, protover, body) for op, body, protover, _ in specs]


@settings(max_examples=400, deadline=None)
@given(st.one_of(mutated_commands(), st.dictionaries(st.sampled_from(["cmd", "info", "data"]), json_values)))
def test_any_command_maps_to_a_message_or_none(cmd: dict[str, Any]) -> None:
    assert isinstance(command_to_message(cmd), (ChatMessage, type(None)))


# ----- the source against a local danmaku server ----------------------------------------------------


@dataclass
class DanmakuServer:
    """Each WebSocket connection gets the join reply `auth_code`, then, once `heartbeats_first`
    heartbeats came, the next frame list of `script`, then the socket stays open (or is dropped, when
    `drop` is set)."""

    script: list[list[bytes]]
    auth_code: int = 0
    heartbeats_first: int = 0
    drop: bool = False
    danmu_info: str = "danmu_info.json"
    port: int = 0
    joins: list[dict[str, Any]] = field(default_factory=list)
    cookies: list[str | None] = field(default_factory=list)
    info_calls: int = 0
    heartbeats: int = 0

    async def room_init(self, request: web.Request) -> web.Response:
        self.cookies.append(request.headers.get("Cookie"))
        known = request.query.get("id") in ("1", "5440")
        return web.json_response(recorded("room_init.json" if known else "room_init_missing.json"))

    async def danmu_info_route(self, request: web.Request) -> web.Response:
        self.cookies.append(request.headers.get("Cookie"))
        self.info_calls += 1
        assert request.query["id"] == "5440"  # the real room number, not the short one
        reply = recorded(self.danmu_info)
        if reply["code"] == 0:
            reply["data"]["host_list"] = [{"host": "127.0.0.1", "port": self.port, "wss_port": 1, "ws_port": self.port}]
        return web.json_response(reply)

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        self.cookies.append(request.headers.get("Cookie"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        join = await ws.receive_bytes()
        length, header_len, ver, op, _ = struct.unpack(">IHHII", join[:16])
        assert (length, header_len, ver, op) == (len(join), 16, 1, OP_AUTH)
        self.joins.append(json.loads(join[16:]))
        await ws.send_bytes(frame(8, json.dumps({"code": self.auth_code}).encode(), ver=1))
        frames = self.script.pop(0) if self.script else []
        seen = 0
        async for message in ws:
            if message.type == WSMsgType.BINARY and struct.unpack(">I", message.data[8:12])[0] == OP_HEARTBEAT:
                self.heartbeats += 1
                seen += 1
                await ws.send_bytes(frame(3, struct.pack(">I", 4242), ver=1))
            if seen >= self.heartbeats_first and frames:
                for data in frames:
                    await ws.send_bytes(data)
                frames = []
                if self.drop:
                    break
        await ws.close()
        return ws


async def serving(server: DanmakuServer) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/room/v1/Room/room_init", server.room_init)
    app.router.add_get("/xlive/web-room/v1/index/getDanmuInfo", server.danmu_info_route)
    app.router.add_get("/sub", server.socket)
    runner, server.port = await serve_app(app)
    return runner


def read(server: DanmakuServer, count: int, room_id: int = 1, **options: Any) -> list[ChatMessage]:
    """Reads `count` messages from the local server, then closes the source; returns what messages()
    yielded until it ended."""

    async def main() -> list[ChatMessage]:
        runner = await serving(server)
        try:
            config = BilibiliConfig(room_id=room_id, cookie=COOKIE, api_url=f"http://127.0.0.1:{server.port}")
            source = BilibiliSource(config, heartbeat_s=0.05,
                                    **{"fallback_url": f"ws://127.0.0.1:{server.port}/sub", **options})
            got: list[ChatMessage] = []

            async def consume() -> None:
                async for message in source.messages():
                    got.append(message)
                    if len(got) == count:
                        await source.close()

            await asyncio.wait_for(consume(), 30)
            return got
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_reads_danmaku_gifts_and_superchats_with_the_room_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = DanmakuServer(script=[[brotli_frame(command(DANMU), command(INTERACT)),
                                    brotli_frame(command(GIFT), command(SUPERCHAT))]], heartbeats_first=2)
    got = read(server, 3)
    assert [(m.kind, m.user, m.text) for m in got] == [
        ("chat", "小明同学", "主播好！Nova 今天玩什么？"), ("gift", "路过的猫", "小花花 x2"),
        ("superchat", "阿雪", "Nova 你最喜欢什么游戏？")]
    assert server.joins == [{"uid": 987654, "roomid": 5440, "protover": 3, "platform": "web", "type": 2,
                             "key": recorded("danmu_info.json")["data"]["token"], "buvid": "4B1C2D3E-TEST-BUVID-infoc"}]
    assert server.heartbeats >= 2
    assert server.cookies == [COOKIE] * 3  # room_init, getDanmuInfo and the WebSocket all carry it
    assert SESSDATA not in caplog.text


def test_reconnects_with_a_fresh_token_after_the_server_drops_the_socket(caplog: pytest.LogCaptureFixture) -> None:
    server = DanmakuServer(script=[[brotli_frame(command(DANMU))], [brotli_frame(command(GUARD))]], drop=True)
    sleeps = Sleeps()
    got = read(server, 2, sleep=sleeps)
    assert [m.kind for m in got] == ["chat", "member"]
    assert len(server.joins) == 2 and server.info_calls == 2
    assert sleeps.requested == [1.0]
    assert "reconnecting in 1 s" in caplog.text


def test_joins_the_default_host_anonymously_when_danmaku_info_is_refused() -> None:
    server = DanmakuServer(script=[[zlib_frame(command(SUPERCHAT))]], danmu_info="danmu_info_signature_needed.json")
    [message] = read(server, 1)
    assert message.kind == "superchat"
    assert server.joins[0]["key"] == ""


def test_refused_join_is_one_line_error_without_the_cookie() -> None:
    server = DanmakuServer(script=[], auth_code=-101)
    with pytest.raises(CohostError) as caught:
        read(server, 1)
    message = str(caught.value)
    assert message.startswith("Bilibili refused to join room 5440 (code -101)")
    assert "\n" not in message and SESSDATA not in message


def test_unknown_room_is_one_line_error() -> None:
    with pytest.raises(CohostError, match="^Bilibili live room 999 does not exist"):
        read(DanmakuServer(script=[]), 1, room_id=999)


def test_sending_is_not_supported() -> None:
    source = BilibiliSource(BilibiliConfig(room_id=1, cookie="", api_url="http://127.0.0.1:9"))
    assert asyncio.run(source.send("hello")) is False
