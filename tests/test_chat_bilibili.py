"""Bilibili danmaku: the packet codec on built packets and on anything hypothesis can make up, and the
source against a local aiohttp server on a free loopback port.

No real Bilibili server can run here, so that server stands in for it: it serves room_init, nav and
getDanmuInfo from recorded replies (tests/data/bilibili), refusing a getDanmuInfo without a valid WBI
signature as Bilibili does (-352); it takes msg/send posts, checking the CSRF token against the
cookie; and it speaks the danmaku protocol on a WebSocket (it checks the join packet, answers it and
the heartbeats, and sends brotli-compressed commands recorded from real rooms). Its frames are built
with struct, zlib and brotli directly, and it checks signatures with the documented algorithm and
keys, not with the modules under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import brotli
import pytest
from aiohttp import WSMsgType, web
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chat.bilibili import BilibiliSource, danmaku_pieces
from engine.chat.bilibili_codec import (
    MAX_INFLATED,
    OP_AUTH,
    OP_COMMAND,
    OP_HEARTBEAT,
    BilibiliProtocolError,
    Packet,
    auth_packet,
    command_to_message,
    decode_packets,
    encode_packet,
    heartbeat_packet,
)  # fmt: skip
from engine.chat.message import ChatMessage
from engine.config import BilibiliConfig
from engine.errors import CohostError
from tests.harness.process import free_port
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
    assert packet.json() == {
        "uid": 987654,
        "roomid": 5440,
        "protover": 3,
        "platform": "web",
        "type": 2,
        "key": "tok",
        "buvid": "B-1",
    }


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
        platform="bilibili",
        user="小明同学",
        text="主播好！Nova 今天玩什么？",
        time=1714845600.123,
        user_id="12345678",
        badges=("moderator", "medal/星河/12", "guard/3"),
    )


def test_danmaku_with_a_suffixed_command_name_is_chat() -> None:
    message = command_to_message({**DANMU, "cmd": "DANMU_MSG:4:0:2:2:2:0"})
    assert message is not None and message.text == "主播好！Nova 今天玩什么？"


def test_gift_maps_to_its_price_in_yuan() -> None:
    assert command_to_message(GIFT) == ChatMessage(
        platform="bilibili",
        user="路过的猫",
        text="小花花 x2",
        kind="gift",
        amount=0.2,
        currency="CNY",
        time=1714845601,
        user_id="23456789",
    )


def test_free_silver_gift_is_not_a_paid_message() -> None:
    assert command_to_message({"cmd": "SEND_GIFT", "data": {**GIFT["data"], "coin_type": "silver"}}) is None


def test_super_chat_maps_to_superchat_in_yuan() -> None:
    assert command_to_message(SUPERCHAT) == ChatMessage(
        platform="bilibili",
        user="阿雪",
        text="Nova 你最喜欢什么游戏？",
        kind="superchat",
        amount=30.0,
        currency="CNY",
        time=1714845602,
        user_id="34567890",
        id="9876543",
    )


def test_guard_purchase_maps_to_member() -> None:
    assert command_to_message(GUARD) == ChatMessage(
        platform="bilibili",
        user="舰长大人",
        text="舰长 x1",
        kind="member",
        amount=198.0,
        currency="CNY",
        time=1714845603,
        user_id="45678901",
        badges=("guard/3",),
    )


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
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**32 - 1), st.binary(max_size=100), st.sampled_from([0, 1]), st.integers(0, 2**32 - 1)
        ),
        max_size=6,
    ),
    st.sampled_from([None, 2, 3]),
)
def test_encoded_packets_decode_to_themselves(
    specs: list[tuple[int, bytes, int, int]], compression: int | None
) -> None:
    data = b"".join(encode_packet(op, body, protover, seq) for op, body, protover, seq in specs)
    if compression is not None and data:
        data = encode_packet(OP_COMMAND, (zlib.compress if compression == 2 else brotli.compress)(data), compression)
    assert decode_packets(data) == [Packet(op, protover, body) for op, body, protover, _ in specs]


@settings(max_examples=400, deadline=None)
@given(st.one_of(mutated_commands(), st.dictionaries(st.sampled_from(["cmd", "info", "data"]), json_values)))
def test_any_command_maps_to_a_message_or_none(cmd: dict[str, Any]) -> None:
    assert isinstance(command_to_message(cmd), (ChatMessage, type(None)))


# ----- the source against a local danmaku server ----------------------------------------------------

# Signing keys and the mixin keys they give, from bilibili-API-collect's WBI page (now and earlier):
# the stand-in checks signatures against these, not against the module under test.
DOC_KEYS = ("7cd084941338484aae1ad9425b84077c", "4932caff0ff746eab6f01bf08b70ac45")
DOC_MIXIN_KEY = "ea1db124af3c7062474693fa704f4ff8"
OLD_KEYS = ("653657f524a547ac981ded72ea172057", "6e4909c702f846728e64f6007736a338")
OLD_MIXIN_KEY = "72136226c6a73669787ee4fd02a74c27"
SENT = {"code": 0, "data": {"mode_info": {"mode": 0, "show_player_type": 0}, "dm_v2": None}, "message": "", "msg": ""}
TOO_FAST = {"code": 10030, "message": "您发送弹幕的频率过快", "msg": "您发送弹幕的频率过快"}
FILTERED = {**SENT, "message": "k", "msg": "k"}


@dataclass
class DanmakuServer:
    """Each WebSocket connection gets the join reply `auth_code`, then, once `heartbeats_first`
    heartbeats came, the next frame list of `script`, then the socket stays open (or is dropped, when
    `drop` is set).

    nav hands out `nav_keys` (None: a reply without them); getDanmuInfo answers -352 unless signed
    with `accepted_key` and a current wts; with `rotate_keys`, both switch to OLD_* after the first
    signed getDanmuInfo. msg/send answers -101 without SESSDATA and -111 when csrf is not the
    cookie's bili_jct, else the next of `send_replies` (then SENT); it keeps every form in `posts`."""

    script: list[list[bytes]]
    auth_code: int = 0
    heartbeats_first: int = 0
    drop: bool = False
    nav_keys: tuple[str, str] | None = DOC_KEYS
    accepted_key: str = DOC_MIXIN_KEY
    rotate_keys: bool = False
    send_replies: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    joins: list[dict[str, Any]] = field(default_factory=list)
    cookies: list[str | None] = field(default_factory=list)
    nav_calls: int = 0
    info_codes: list[int] = field(default_factory=list)
    heartbeats: int = 0
    posts: list[dict[str, str]] = field(default_factory=list)

    async def room_init(self, request: web.Request) -> web.Response:
        self.cookies.append(request.headers.get("Cookie"))
        known = request.query.get("id") in ("1", "5440")
        return web.json_response(recorded("room_init.json" if known else "room_init_missing.json"))

    async def nav(self, request: web.Request) -> web.Response:
        self.cookies.append(request.headers.get("Cookie"))
        self.nav_calls += 1
        reply = recorded("nav_anonymous.json")
        if self.nav_keys is None:
            del reply["data"]["wbi_img"]
        else:
            img, sub = self.nav_keys
            reply["data"]["wbi_img"] = {
                "img_url": f"https://i0.hdslb.com/bfs/wbi/{img}.png",
                "sub_url": f"https://i0.hdslb.com/bfs/wbi/{sub}.png",
            }
        return web.json_response(reply)

    def signed(self, query: dict[str, str]) -> bool:
        """The documented check: md5 of the sorted, %20-encoded query (less w_rid) and the mixin key."""
        params = dict(query)
        w_rid, wts = params.pop("w_rid", ""), params.get("wts", "")
        encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))
        return (
            wts.isdecimal()
            and abs(int(wts) - time.time()) < 600
            and w_rid == hashlib.md5((encoded + self.accepted_key).encode()).hexdigest()
        )

    async def danmu_info_route(self, request: web.Request) -> web.Response:
        self.cookies.append(request.headers.get("Cookie"))
        assert request.query["id"] == "5440"  # the real room number, not the short one
        if not self.signed(dict(request.query)):
            self.info_codes.append(-352)
            return web.json_response(recorded("danmu_info_signature_needed.json"))
        self.info_codes.append(0)
        if self.rotate_keys:
            self.nav_keys, self.accepted_key, self.rotate_keys = OLD_KEYS, OLD_MIXIN_KEY, False
        reply = recorded("danmu_info.json")
        reply["data"]["host_list"] = [{"host": "127.0.0.1", "port": self.port, "wss_port": 1, "ws_port": self.port}]
        return web.json_response(reply)

    async def msg_send(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        self.posts.append(form)
        pairs = (part.split("=", 1) for part in request.headers.get("Cookie", "").split(";") if "=" in part)
        cookies = {name.strip(): value.strip() for name, value in pairs}
        if "SESSDATA" not in cookies:
            return web.json_response({"code": -101, "message": "账号未登录", "ttl": 1})
        if not cookies.get("bili_jct") or form.get("csrf") != cookies["bili_jct"]:
            return web.json_response({"code": -111, "message": "csrf 校验失败", "ttl": 1})
        assert form["roomid"] == "5440" and abs(int(form["rnd"]) - time.time()) < 600
        return web.json_response(self.send_replies.pop(0) if self.send_replies else SENT)

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
    app.router.add_post("/msg/send", server.msg_send)
    app.router.add_get("/x/web-interface/nav", server.nav)
    app.router.add_get("/sub", server.socket)
    runner, server.port = await serve_app(app)
    return runner


def config(port: int, room_id: int = 1, cookie: str = COOKIE) -> BilibiliConfig:
    """The live API and the main site's API both on the stand-in."""
    url = f"http://127.0.0.1:{port}"
    return BilibiliConfig(room_id=room_id, cookie=cookie, api_url=url, web_api_url=url, reply_in_chat=True)


def read(server: DanmakuServer, count: int, room_id: int = 1, **options: Any) -> list[ChatMessage]:
    """Reads `count` messages from the local server, then closes the source; returns what messages()
    yielded until it ended."""

    async def main() -> list[ChatMessage]:
        runner = await serving(server)
        try:
            source = BilibiliSource(
                config(server.port, room_id),
                heartbeat_s=0.05,
                **{"fallback_url": f"ws://127.0.0.1:{server.port}/sub", **options},
            )
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
    server = DanmakuServer(
        script=[[brotli_frame(command(DANMU), command(INTERACT)), brotli_frame(command(GIFT), command(SUPERCHAT))]],
        heartbeats_first=2,
    )
    got = read(server, 3)
    assert [(m.kind, m.user, m.text) for m in got] == [
        ("chat", "小明同学", "主播好！Nova 今天玩什么？"),
        ("gift", "路过的猫", "小花花 x2"),
        ("superchat", "阿雪", "Nova 你最喜欢什么游戏？"),
    ]
    assert server.info_codes == [0]  # signed with the keys nav gave
    assert server.joins == [
        {
            "uid": 987654,
            "roomid": 5440,
            "protover": 3,
            "platform": "web",
            "type": 2,
            "key": recorded("danmu_info.json")["data"]["token"],
            "buvid": "4B1C2D3E-TEST-BUVID-infoc",
        }
    ]
    assert server.heartbeats >= 2
    assert server.cookies == [COOKIE] * 4  # room_init, nav, getDanmuInfo and the WebSocket all carry it
    assert SESSDATA not in caplog.text


def test_reconnects_with_a_fresh_token_and_the_cached_signing_key(caplog: pytest.LogCaptureFixture) -> None:
    server = DanmakuServer(script=[[brotli_frame(command(DANMU))], [brotli_frame(command(GUARD))]], drop=True)
    sleeps = Sleeps()
    got = read(server, 2, sleep=sleeps)
    assert [m.kind for m in got] == ["chat", "member"]
    assert len(server.joins) == 2 and server.info_codes == [0, 0]
    assert server.nav_calls == 1
    assert sleeps.requested == [1.0]
    assert "reconnecting in 1 s" in caplog.text


def test_fetches_rotated_signing_keys_once_when_the_signature_is_refused() -> None:
    server = DanmakuServer(
        script=[[brotli_frame(command(DANMU))], [brotli_frame(command(GUARD))]], drop=True, rotate_keys=True
    )
    got = read(server, 2, sleep=Sleeps())
    assert [m.kind for m in got] == ["chat", "member"]
    assert server.info_codes == [0, -352, 0] and server.nav_calls == 2
    assert [join["key"] for join in server.joins] == [recorded("danmu_info.json")["data"]["token"]] * 2


@pytest.mark.parametrize("nav_keys", [OLD_KEYS, None], ids=["stale-keys", "no-keys"])
def test_joins_the_default_host_anonymously_when_the_signature_is_refused(
    nav_keys: tuple[str, str] | None, caplog: pytest.LogCaptureFixture
) -> None:
    server = DanmakuServer(script=[[zlib_frame(command(SUPERCHAT))]], nav_keys=nav_keys)
    [message] = read(server, 1)
    assert message.kind == "superchat"
    assert server.info_codes == [-352, -352] and server.nav_calls == 2  # keys fetched again, once
    assert server.joins[0]["key"] == ""
    assert "gave no danmaku token (code -352)" in caplog.text


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


# ----- sending danmaku ------------------------------------------------------------------------------


class StillClock:
    """A clock that moves only when the source sleeps on it, so the pacing shows as exact waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def post(
    server: DanmakuServer, *texts: str, cookie: str = COOKIE, port: int | None = None
) -> tuple[list[bool], StillClock]:
    """Sends each of `texts` through one source talking to the stand-in (or to `port`)."""

    async def main() -> list[bool]:
        runner = await serving(server)
        try:
            source = BilibiliSource(config(port or server.port, cookie=cookie), sleep=clock.sleep, clock=clock)
            return [await asyncio.wait_for(source.send(text), 30) for text in texts]
        finally:
            await runner.cleanup()

    clock = StillClock()
    return asyncio.run(main()), clock


def test_danmaku_pieces_cut_after_punctuation_or_at_spaces() -> None:
    assert danmaku_pieces(
        "@小明同学 今天玩的是星露谷物语，一起来种田吧！晚上再打一会儿怪物猎人 wilds，欢迎大家来看。"
    ) == ["@小明同学 今天玩的是星露谷物语，", "一起来种田吧！晚上再打一会儿怪物猎人", "wilds，欢迎大家来看。"]


def test_danmaku_pieces_cut_at_the_limit_without_a_break_and_join_lines() -> None:
    assert danmaku_pieces("@路过的猫 这是一个没有任何标点符号而且非常非常长的回答所以只能在二十个字处硬切开") == [
        "@路过的猫 这是一个没有任何标点符号而且",
        "非常非常长的回答所以只能在二十个字处硬切",
        "开",
    ]
    assert danmaku_pieces("  hello\n\n  world  ") == ["hello world"]


def test_danmaku_pieces_drop_what_is_past_the_last_piece() -> None:
    pieces = danmaku_pieces("一二三四五六七八九十。" * 12, max_pieces=3)
    assert pieces == ["一二三四五六七八九十。", "一二三四五六七八九十。", "一二三四五六七八九十。…"]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ab 中文，。!\n"), max_size=150), st.integers(2, 40))
def test_danmaku_pieces_keep_the_words_in_order_within_the_limit(text: str, limit: int) -> None:
    pieces = danmaku_pieces(text, limit, max_pieces=1000)
    assert all(0 < len(piece) <= limit and piece == piece.strip() for piece in pieces)
    assert "".join(pieces).replace(" ", "") == "".join(text.split())


def test_long_answer_arrives_in_order_as_paced_pieces() -> None:
    server = DanmakuServer(script=[])
    answer = "@小明同学 今天玩的是星露谷物语，一起来种田吧！晚上再打一会儿怪物猎人 wilds，欢迎大家来看。"
    [ok], clock = post(server, answer)
    assert ok
    assert [form["msg"] for form in server.posts] == danmaku_pieces(answer)
    assert {
        (f["csrf"], f["csrf_token"], f["roomid"], f["color"], f["mode"], f["fontsize"], f["bubble"])
        for f in server.posts
    } == {("0a1b2c3d4e5f", "0a1b2c3d4e5f", "5440", "16777215", "1", "25", "0")}
    assert clock.slept == [1.0, 1.0]  # one a second


def test_answers_in_a_row_keep_the_pace() -> None:
    server = DanmakuServer(script=[])
    oks, clock = post(server, "@阿雪 谢谢！", "@路过的猫 欢迎！")
    assert oks == [True, True] and [f["msg"] for f in server.posts] == ["@阿雪 谢谢！", "@路过的猫 欢迎！"]
    assert clock.slept == [1.0]


def test_too_fast_waits_and_tries_once_more() -> None:
    server = DanmakuServer(script=[], send_replies=[TOO_FAST])
    [ok], clock = post(server, "@阿雪 谢谢你的醒目留言！")
    assert ok and [f["msg"] for f in server.posts] == ["@阿雪 谢谢你的醒目留言！"] * 2
    assert clock.slept == [2.0]


def test_too_fast_twice_gives_up_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    server = DanmakuServer(script=[], send_replies=[TOO_FAST, TOO_FAST])
    [ok], _ = post(server, "@阿雪 谢谢你的醒目留言！然后这是第二条弹幕的内容。")
    assert not ok and len(server.posts) == 2  # the second piece is not tried
    [record] = [r for r in caplog.records if r.name == "engine.chat.bilibili"]
    assert record.getMessage() == "Bilibili refused a danmaku (code 10030: 您发送弹幕的频率过快)"


def test_filtered_danmaku_is_reported_and_the_rest_dropped(caplog: pytest.LogCaptureFixture) -> None:
    server = DanmakuServer(script=[], send_replies=[FILTERED])
    [ok], _ = post(server, "@阿雪 谢谢你的醒目留言！然后这是第二条弹幕的内容。")
    assert not ok and len(server.posts) == 1
    assert "word filter dropped a danmaku" in caplog.text


def test_no_bili_jct_in_the_cookie_sends_nothing() -> None:
    server = DanmakuServer(script=[])
    assert post(server, "@阿雪 谢谢！", cookie=f"SESSDATA={SESSDATA}; buvid3=B-1")[0] == [False]
    assert post(server, "@阿雪 谢谢！", cookie="")[0] == [False]
    assert server.posts == []


def test_refused_danmaku_is_one_log_line_without_the_cookie(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cookie = "bili_jct=9f8e7d6c5b4a; DedeUserID=987654"  # signed out: no SESSDATA
    server = DanmakuServer(script=[])
    [ok], _ = post(server, "@阿雪 谢谢！", cookie=cookie)
    assert not ok and server.posts[0]["csrf"] == "9f8e7d6c5b4a"
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.getMessage() == "Bilibili refused a danmaku (code -101: 账号未登录); check [bilibili] cookie"
    assert "9f8e7d6c5b4a" not in caplog.text


def test_unreachable_api_is_one_log_line_without_the_cookie(caplog: pytest.LogCaptureFixture) -> None:
    [ok], _ = post(DanmakuServer(script=[]), "@阿雪 谢谢！", port=free_port())
    assert not ok
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.getMessage().startswith("Bilibili danmaku not sent: Bilibili room lookup: ")
    assert "\n" not in record.getMessage()
    assert not any(secret in caplog.text for secret in (COOKIE, SESSDATA, "0a1b2c3d4e5f"))
