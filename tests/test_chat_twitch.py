"""Twitch chat over IRC: the IRCv3 line parser on recorded Twitch lines, and TwitchSource against a
real IRC server (ngircd on a free loopback port) with a second IRC client as the viewer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.chat.irc import IrcLineError, IrcMessage, format_line, parse_line
from engine.chat.message import ChatMessage
from engine.chat.twitch import (
    MAX_SEND_CHARS,
    SEND_LIMIT,
    SendLimit,
    TwitchSource,
    clean_outgoing,
    is_moderator,
    login_refused,
    to_chat_message,
)
from engine.config import TwitchConfig
from engine.errors import CohostError
from tests.harness.irc import IrcServer, IrcViewer
from tests.harness.process import free_port

T = TypeVar("T")
TOKEN = "s3cr3tt0ken4cohosttests0123456"  # what the account's token is (ngircd's Password is oauth:TOKEN)

# Lines as Twitch's chat servers send them: the examples of Twitch's IRC documentation (dev.twitch.tv/docs/irc),
# some with another channel or text.
EMOTES_LINE = (
    "@badge-info=;badges=turbo/1;color=#0D4200;display-name=ronni;emotes=25:0-4,12-16/1902:6-10;"
    "id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=1337;subscriber=0;tmi-sent-ts=1507246572675;turbo=1;"
    "user-id=1337;user-type=global_mod :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :Kappa Keepo Kappa"
)
REPLY_LINE = (
    "@badge-info=subscriber/8;badges=moderator/1,subscriber/6;client-nonce=cd56193132f934ac71b4d5ac488d4bd6;"
    "color=#1E90FF;display-name=Sky_Fox;emotes=;first-msg=0;flags=;id=5a8b9d4c-3c1e-4e5b-9d7a-2b1f0e6c7d8e;mod=1;"
    r"reply-parent-display-name=ronni;reply-parent-msg-body=is\sthis\s\:\\\sok?\swin\:\slose;"
    "reply-parent-msg-id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;reply-parent-user-id=1337;"
    "reply-parent-user-login=ronni;returning-chatter=0;room-id=1337;subscriber=1;tmi-sent-ts=1642696567751;"
    "turbo=0;user-id=98765432;user-type=mod :sky_fox!sky_fox@sky_fox.tmi.twitch.tv PRIVMSG #ronni "
    ":@ronni yes; it is :) ok"
)
CHEER_LINE = (
    "@badge-info=;badges=staff/1,bits/1000;bits=150;color=;display-name=ronni;emotes=;"
    "id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;room-id=12345678;subscriber=0;tmi-sent-ts=1507246572675;"
    "turbo=1;user-id=12345678;user-type=staff :ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni "
    ":Cheer100 great stream Kappa50 my mp3 player broke"
)
RESUB_LINE = (
    "@badge-info=;badges=staff/1,broadcaster/1,turbo/1;color=#008000;display-name=ronni;emotes=;"
    "id=db25007f-7a18-43eb-9379-80131e44d633;login=ronni;mod=0;msg-id=resub;msg-param-cumulative-months=6;"
    "msg-param-streak-months=2;msg-param-should-share-streak=1;msg-param-sub-plan=Prime;"
    r"msg-param-sub-plan-name=Prime;room-id=12345678;subscriber=1;system-msg=ronni\shas\ssubscribed\sfor\s6\smonths!;"
    "tmi-sent-ts=1507246572675;turbo=1;user-id=87654321;user-type=staff "
    ":tmi.twitch.tv USERNOTICE #ronni :Great stream -- keep it up!"
)
SUBGIFT_LINE = (
    "@badge-info=;badges=staff/1,premium/1;color=#0000FF;display-name=TWW2;emotes=;"
    "id=e9176cd8-5e22-4684-ad40-ce53c2561c5e;login=tww2;mod=0;msg-id=subgift;msg-param-months=1;"
    "msg-param-recipient-display-name=Mr_Woodchuck;msg-param-recipient-id=55554444;"
    r"msg-param-recipient-name=mr_woodchuck;msg-param-sub-plan-name=House\sof\sNyoro~n;msg-param-sub-plan=1000;"
    r"room-id=19571752;subscriber=0;system-msg=TWW2\sgifted\sa\sTier\s1\ssub\sto\sMr_Woodchuck!;"
    "tmi-sent-ts=1521159445153;turbo=0;user-id=87654321;user-type=staff :tmi.twitch.tv USERNOTICE #ronni"
)
RAID_LINE = (
    "@badge-info=;badges=turbo/1;color=#9ACD32;display-name=TestChannel;emotes=;"
    "id=3d830f12-795c-447d-af3c-ea05e40fbddb;login=testchannel;mod=0;msg-id=raid;msg-param-displayName=TestChannel;"
    "msg-param-login=testchannel;msg-param-viewerCount=15;room-id=33332222;subscriber=0;"
    r"system-msg=15\sraiders\sfrom\sTestChannel\shave\sjoined\n!;tmi-sent-ts=1507246572675;turbo=1;user-id=123456;"
    "user-type= :tmi.twitch.tv USERNOTICE #ronni"
)


def run(coro: Awaitable[T], timeout: float = 45.0) -> T:
    """Runs one test's coroutine; a hang fails the test instead of stalling the suite."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def twitch_config(port: int, channel: str, *, nick: str = "", token: str = "", tls: bool = False) -> TwitchConfig:
    return TwitchConfig(channel=channel, nick=nick, token=token, server="127.0.0.1", port=port, tls=tls,
                        reply_in_chat=False)  # fmt: skip


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    """ngircd without a password, PINGing clients idle for 5 s (and dropping them 5 s later)."""
    with IrcServer(tmp_path_factory.mktemp("ircd"), ping_timeout_s=5) as server:
        yield server


@pytest.fixture(scope="module")
def ircd_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with IrcServer(tmp_path_factory.mktemp("ircd-password"), password=f"oauth:{TOKEN}") as server:
        yield server


def next_message(messages: AsyncIterator[ChatMessage]) -> asyncio.Future[ChatMessage]:
    """The next message, awaited in the background (the source connects when it is first asked)."""
    return asyncio.ensure_future(asyncio.wait_for(anext(messages), 15))


@contextlib.asynccontextmanager
async def fake_twitch(after_join: list[str], heard: list[str] | None = None
                      ) -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:  # fmt: skip
    """No IRC server here sends Twitch's own lines (RECONNECT, tagged NOTICEs, USERSTATE), so for
    those a minimal stand-in for Twitch's chat server (asyncio, on loopback) welcomes each login and,
    once its Nth connection has joined, sends it the line after_join[N], then adds what the client
    sends to `heard`. Gives its port and its connections so far."""
    logins: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        logins.append(writer)
        while not (line := (await reader.readline()).decode()).startswith("JOIN"):
            if line.startswith("NICK"):
                writer.write(b":tmi.twitch.tv 001 justinfan :Welcome, GLHF!\r\n")
            elif not line:
                return
        writer.write((after_join[len(logins) - 1] + "\r\n").encode())
        while heard is not None and (line := (await reader.readline()).decode()):
            heard.append(line.rstrip("\r\n"))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], logins
    finally:
        server.close()
        for writer in logins:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# ----- IRC lines -----------------------------------------------------------------------------------


def test_parser_reads_twitch_tags_prefix_and_text():
    msg = parse_line(EMOTES_LINE + "\r\n")
    assert msg.command == "PRIVMSG"
    assert msg.params == ("#ronni", "Kappa Keepo Kappa")
    assert msg.prefix == "ronni!ronni@ronni.tmi.twitch.tv" and msg.nick == "ronni"
    assert msg.tags["emotes"] == "25:0-4,12-16/1902:6-10"
    assert msg.tags["badge-info"] == "" and msg.tags["user-type"] == "global_mod"


def test_parser_unescapes_tag_values_and_keeps_text_verbatim():
    msg = parse_line(REPLY_LINE)
    assert msg.tags["reply-parent-msg-body"] == "is this ;\\ ok? win; lose"
    assert msg.trailing == "@ronni yes; it is :) ok"  # ";" and ":" in the text are not escapes
    assert parse_line(RAID_LINE).tags["system-msg"] == "15 raiders from TestChannel have joined\n!"


def test_parser_reads_lines_without_tags_or_prefix():
    assert parse_line("PING :tmi.twitch.tv") == IrcMessage("PING", ("tmi.twitch.tv",))
    assert parse_line(":tmi.twitch.tv RECONNECT\r\n") == IrcMessage("RECONNECT", prefix="tmi.twitch.tv")
    cap = parse_line(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands")
    assert cap.params == ("*", "ACK", "twitch.tv/tags twitch.tv/commands")


@pytest.mark.parametrize("line", ["", "\r\n", "@a=b", ":server.only", ":prefix :text"])
def test_parser_rejects_lines_without_a_command(line: str):
    with pytest.raises(IrcLineError):
        parse_line(line)


def test_format_escapes_tags_and_colons_the_last_parameter():
    line = format_line("PRIVMSG", "#chan", "hi there", tags={"reply-parent-msg-id": "a b;c\\d", "flag": ""})
    assert line == "@reply-parent-msg-id=a\\sb\\:c\\\\d;flag PRIVMSG #chan :hi there\r\n"
    assert format_line("NICK", "justinfan1") == "NICK justinfan1\r\n"
    assert format_line("PRIVMSG", "#chan", ":)") == "PRIVMSG #chan ::)\r\n"


@pytest.mark.parametrize("params", [("#chan", "hi\r\nQUIT :bye"), ("#chan\n", "hi"), ("a b", "text")])
def test_format_refuses_parameters_that_would_break_the_line(params: tuple[str, str]):
    with pytest.raises(IrcLineError):
        format_line("PRIVMSG", *params)


_text = st.text(st.characters(exclude_characters="\r\n\0", exclude_categories=("Cs",)))
_middle = _text.filter(lambda p: p and " " not in p and not p.startswith(":"))


@given(
    command=st.from_regex(r"[A-Z]{1,10}", fullmatch=True),
    middle=st.lists(_middle, max_size=3),
    trailing=_text,
    tags=st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True),
                         st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",))), max_size=4),
)  # fmt: skip
def test_format_then_parse_gives_the_message_back(command: str, middle: list[str], trailing: str,
                                                  tags: dict[str, str]):  # fmt: skip
    params = (*middle, trailing)
    assert parse_line(format_line(command, *params, tags=tags)) == IrcMessage(command, params, tags)


@given(st.text())
def test_parser_fails_only_with_irc_line_error(line: str):
    try:
        parse_line(line)
    except IrcLineError:
        pass


# ----- Twitch lines as chat messages ----------------------------------------------------------------


def test_privmsg_becomes_chat_with_display_name_badges_id_and_time():
    chat = to_chat_message(parse_line(REPLY_LINE), "ronni", "justinfan123")
    assert chat == ChatMessage(
        platform="twitch", user="Sky_Fox", text="@ronni yes; it is :) ok", time=1642696567.751, user_id="98765432",
        badges=("moderator/1", "subscriber/6"), id="5a8b9d4c-3c1e-4e5b-9d7a-2b1f0e6c7d8e",
    )  # fmt: skip
    assert not chat.paid


def test_cheer_becomes_a_bits_gift_without_the_cheermotes():
    chat = to_chat_message(parse_line(CHEER_LINE), "ronni", "justinfan123")
    assert (chat.kind, chat.amount, chat.currency) == ("gift", 150.0, "bits")
    assert chat.text == "great stream my mp3 player broke"
    bare = parse_line(CHEER_LINE.replace("bits=150", "bits=100").rsplit(" :", 1)[0] + " :Cheer100")
    assert to_chat_message(bare, "ronni", "justinfan123").text == "100 bits"


def test_subscriptions_become_members_and_other_notices_are_ignored():
    resub = to_chat_message(parse_line(RESUB_LINE), "ronni", "justinfan123")
    assert (resub.kind, resub.user, resub.text, resub.amount) == ("member", "ronni", "Great stream -- keep it up!", 0)
    gift = to_chat_message(parse_line(SUBGIFT_LINE), "ronni", "justinfan123")
    assert (gift.kind, gift.user, gift.text) == ("member", "TWW2", "TWW2 gifted a Tier 1 sub to Mr_Woodchuck!")
    assert to_chat_message(parse_line(RAID_LINE), "ronni", "justinfan123") is None


def test_own_lines_other_channels_and_actions():
    line = parse_line(EMOTES_LINE)
    assert to_chat_message(line, "ronni", "ronni") is None  # what the source itself said
    assert to_chat_message(line, "otherchannel", "justinfan123") is None
    action = to_chat_message(parse_line(":ann!ann@ann PRIVMSG #ronni :\x01ACTION waves\x01"), "ronni", "x")
    assert (action.user, action.text, action.badges) == ("ann", "waves", ())


@given(
    command=st.sampled_from(["PRIVMSG", "USERNOTICE"]),
    tags=st.dictionaries(st.sampled_from(["bits", "tmi-sent-ts", "badges", "display-name", "login", "msg-id"]),
                         st.one_of(st.text(), st.sampled_from(["100", "sub", "²", "", ","]))),
    text=st.one_of(st.text(), st.sampled_from(["Cheer100", "\x01ACTION \x01", "a1 b2 100"])),
)  # fmt: skip
def test_any_tags_give_a_message_or_none(command: str, tags: dict[str, str], text: str):
    chat = to_chat_message(IrcMessage(command, ("#chan", text), tags, "ann!ann@ann"), "chan", "justinfan1")
    assert chat is None or chat.platform == "twitch"


def test_login_refusals_are_recognised():
    assert login_refused(parse_line(":tmi.twitch.tv NOTICE * :Login authentication failed"))
    assert login_refused(parse_line(":tmi.twitch.tv NOTICE * :Improperly formatted auth"))
    assert login_refused(parse_line("ERROR :Access denied: Bad password?"))
    assert not login_refused(parse_line(":tmi.twitch.tv NOTICE * :Welcome, GLHF!"))
    assert not login_refused(parse_line("ERROR :Closing connection"))


def test_outgoing_text_is_one_line_capped_and_never_a_command():
    assert clean_outgoing("hello\nchat\r\n  how\tare you ") == "hello chat how are you"
    assert clean_outgoing("/ban someone") == "ban someone"
    assert clean_outgoing(".timeout x 600") == "timeout x 600"
    assert clean_outgoing("x" * 600 + "\nmore") == "x" * (MAX_SEND_CHARS - 1) + "…"
    assert clean_outgoing("many words " * 50) == "many words " * 45 + "many…"  # cut after a whole word


def test_send_limit_allows_twenty_per_thirty_seconds_and_says_how_long_to_wait():
    now = [0.0]
    limit = SendLimit(SEND_LIMIT, 30.0, clock=lambda: now[0])
    assert limit.wait_s() == 0
    assert all(limit.allow() for _ in range(20))
    assert not limit.allow()
    assert limit.wait_s() == 30.0
    now[0] = 29.5
    assert not limit.allow()
    assert limit.wait_s() == 0.5
    now[0] = 30.0
    assert limit.allow()


@pytest.mark.parametrize("channel", ["", "#", "bad channel", "a\r\nQUIT"])
def test_bad_channel_is_a_one_line_error(channel: str):
    with pytest.raises(CohostError) as e:
        TwitchSource(twitch_config(6667, channel))
    assert "[twitch] channel" in str(e.value) and "\n" not in str(e.value)


def test_token_without_nick_is_a_one_line_error():
    with pytest.raises(CohostError, match=r"^\[twitch\] token is set but nick is empty") as e:
        TwitchSource(twitch_config(6667, "chan", token=TOKEN))
    assert TOKEN not in str(e.value)


# ----- against ngircd -------------------------------------------------------------------------------


def test_anonymous_login_reads_channel_messages(ircd: IrcServer):
    async def scenario() -> None:
        source = TwitchSource(twitch_config(ircd.port, "#CoHost"))
        assert source.nick.startswith("justinfan")
        first = next_message(source.messages())
        viewer = await IrcViewer.connect(ircd.port, "viewer1", "#cohost")
        await viewer.wait_member(source.nick)
        await viewer.say("hello co-host, how are you?")
        chat = await first
        assert (chat.platform, chat.user, chat.text, chat.kind) == ("twitch", "viewer1", "hello co-host, how are you?",
                                                                    "chat")  # fmt: skip
        assert await source.send("anonymous cannot talk") is False
        await viewer.close()
        await source.close()

    run(scenario())


def test_account_login_replies_in_chat(ircd_with_password: IrcServer, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="engine.chat.twitch")

    async def scenario() -> None:
        source = TwitchSource(twitch_config(ircd_with_password.port, "cohost", nick="CohostBot", token=TOKEN))
        reader = next_message(source.messages())
        viewer = await IrcViewer.connect(ircd_with_password.port, "viewer2", "#cohost", password=f"oauth:{TOKEN}")
        await viewer.wait_member("cohostbot")
        assert await source.send("hello\nchat,   welcome!") is True
        reply = await viewer.wait_for(lambda m: m.command == "PRIVMSG" and m.nick == "cohostbot")
        assert reply.params == ("#cohost", "hello chat, welcome!")
        reader.cancel()
        await viewer.close()
        await source.close()

    run(scenario())
    assert "PASS ***" in caplog.text and TOKEN not in caplog.text


def test_the_reply_queue_holds_one_window_of_lines(caplog: pytest.LogCaptureFixture):
    async def scenario() -> None:
        source = TwitchSource(twitch_config(free_port(), "cohost", nick="cohostbot", token=TOKEN), send_limit=3)
        assert [await source.send(f"reply {i}") for i in range(4)] == [True, True, True, False]  # not connected
        await source.close()
        assert await source.send("after close") is False

    run(scenario())
    assert "Twitch chat: 3 replies already waiting, reply dropped" in caplog.text


async def lines_of(viewer: IrcViewer, nick: str, count: int) -> list[tuple[float, str]]:
    """The next `count` lines `nick` says in the viewer's channel, each with when it arrived (time.monotonic())."""
    lines = []
    for _ in range(count):
        said = await viewer.wait_for(lambda m: m.command == "PRIVMSG" and m.nick == nick, timeout=30)
        lines.append((time.monotonic(), said.trailing))
    return lines


async def joined(source: TwitchSource, viewer: IrcViewer) -> asyncio.Future[ChatMessage]:
    """Connects `source` and waits until it is in the viewer's channel; gives its pending read."""
    reading = next_message(source.messages())
    await viewer.wait_member(source.nick)
    return reading


def test_a_burst_over_the_rate_limit_is_paced_not_dropped(ircd_with_password: IrcServer):
    """Twitch's 20 lines in 30 s, with a 4 s window: of 25 replies at once, 20 go out at once and the
    other 5 once the window has passed."""
    window_s = 4.0

    async def scenario() -> None:
        config = twitch_config(ircd_with_password.port, "paced", nick="pacedbot", token=TOKEN)
        source = TwitchSource(config, send_window_s=window_s)
        viewer = await IrcViewer.connect(ircd_with_password.port, "viewer6", "#paced", password=f"oauth:{TOKEN}")
        reading = await joined(source, viewer)
        started = time.monotonic()
        assert all([await source.send(f"reply {i}") for i in range(25)])
        lines = await lines_of(viewer, "pacedbot", 25)
        assert [text for _, text in lines] == [f"reply {i}" for i in range(25)]
        assert all(at - started < window_s for at, _ in lines[:SEND_LIMIT])
        assert all(at - started >= window_s for at, _ in lines[SEND_LIMIT:])
        reading.cancel()
        await viewer.close()
        await source.close()

    run(scenario())


def test_a_reply_that_would_be_posted_too_late_is_dropped(ircd_with_password: IrcServer,
                                                          caplog: pytest.LogCaptureFixture):  # fmt: skip
    """One line per 2 s, and at most 0.5 s late: the second of two replies at once would wait 2 s."""

    async def scenario() -> None:
        config = twitch_config(ircd_with_password.port, "late", nick="latebot", token=TOKEN)
        source = TwitchSource(config, send_limit=1, send_window_s=2.0, max_send_delay_s=0.5)
        viewer = await IrcViewer.connect(ircd_with_password.port, "viewer7", "#late", password=f"oauth:{TOKEN}")
        reading = await joined(source, viewer)
        assert await source.send("first") is True
        assert await source.send("too late") is True  # taken, then dropped as soon as it is known to be late
        while "reply dropped" not in caplog.text:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # the window is over
        assert await source.send("after the window") is True
        assert [text for _, text in await lines_of(viewer, "latebot", 2)] == ["first", "after the window"]
        reading.cancel()
        await viewer.close()
        await source.close()

    run(scenario())
    assert caplog.text.count("reply dropped") == 1


def test_a_reply_written_before_the_connection_is_posted_once_joined(ircd_with_password: IrcServer):
    async def scenario() -> None:
        config = twitch_config(ircd_with_password.port, "early", nick="earlybot", token=TOKEN)
        source = TwitchSource(config)
        viewer = await IrcViewer.connect(ircd_with_password.port, "viewer8", "#early", password=f"oauth:{TOKEN}")
        assert await source.send("written while offline") is True
        reading = next_message(source.messages())
        assert [text for _, text in await lines_of(viewer, "earlybot", 1)] == ["written while offline"]
        reading.cancel()
        await viewer.close()
        await source.close()

    run(scenario())


def test_a_reply_older_than_the_max_delay_is_not_posted_on_connecting(ircd_with_password: IrcServer,
                                                                      caplog: pytest.LogCaptureFixture):  # fmt: skip
    async def scenario() -> None:
        config = twitch_config(ircd_with_password.port, "stale", nick="stalebot", token=TOKEN)
        source = TwitchSource(config, max_send_delay_s=0.5)
        viewer = await IrcViewer.connect(ircd_with_password.port, "viewer9", "#stale", password=f"oauth:{TOKEN}")
        assert await source.send("stale by now") is True
        await asyncio.sleep(0.7)
        reading = await joined(source, viewer)
        while "reply dropped" not in caplog.text:
            await asyncio.sleep(0.05)
        assert await source.send("fresh") is True
        assert [text for _, text in await lines_of(viewer, "stalebot", 1)] == ["fresh"]
        reading.cancel()
        await viewer.close()
        await source.close()

    run(scenario())
    assert caplog.text.count("reply dropped, it could not be posted within 0.5 s") == 1


def test_wrong_token_is_refused_in_one_line_without_the_token(ircd_with_password: IrcServer,
                                                              caplog: pytest.LogCaptureFixture):  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="engine.chat.twitch")
    wrong = "oauth:wr0ngt0kenwr0ngt0kenwr0ngt0k"

    async def scenario() -> None:
        source = TwitchSource(twitch_config(ircd_with_password.port, "cohost", nick="cohostbot", token=wrong))
        with pytest.raises(CohostError) as e:
            await next_message(source.messages())
        await source.close()
        assert str(e.value) == "Twitch refused the login for cohostbot: check [twitch] token"

    run(scenario())
    assert "wr0ngt0ken" not in caplog.text


def test_reconnects_and_rejoins_after_the_server_dies(tmp_path: Path):
    async def scenario(irc: IrcServer) -> None:
        source = TwitchSource(twitch_config(irc.port, "cohost"), reconnect_delay_s=0.2)
        messages = aiter(source.messages())
        for round_ in ("before", "after"):
            if round_ == "after":
                irc.crash()  # the connection drops with no goodbye
                await asyncio.sleep(0.5)  # the source finds the port closed at least once
                await asyncio.to_thread(irc.start)
            pending = next_message(messages)
            viewer = await IrcViewer.connect(irc.port, f"viewer{round_}", "#cohost")
            await viewer.wait_member(source.nick)
            await viewer.say(f"said {round_} the crash")
            assert (await pending).text == f"said {round_} the crash"
            await viewer.close()
        await source.close()

    with IrcServer(tmp_path / "irc") as irc:
        run(scenario(irc))


def test_answers_server_pings_and_keeps_its_connection(ircd: IrcServer, caplog: pytest.LogCaptureFixture):
    """ngircd PINGs a client idle for 5 s and drops it 5 s later without a PONG. Two PONGs on one
    connection (one join) prove the first PING was answered in time."""
    caplog.set_level(logging.DEBUG, logger="engine.chat.twitch")

    def logged(text: str) -> int:
        return sum(text in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        source = TwitchSource(twitch_config(ircd.port, "pings"), reconnect_delay_s=0.2)
        pending = next_message(source.messages())
        while logged("twitch > PONG") < 2:
            await asyncio.sleep(0.2)
        assert logged("joined #pings") == 1
        viewer = await IrcViewer.connect(ircd.port, "viewer3", "#pings")
        await viewer.say("still there?")
        assert (await pending).text == "still there?"
        await viewer.close()
        await source.close()

    run(scenario())


def test_tls_connection_reads_chat(tmp_path: Path):
    async def scenario(irc: IrcServer) -> None:
        config = twitch_config(irc.tls_port, "secure", tls=True)
        source = TwitchSource(config, ssl_context=irc.ssl_context())
        pending = next_message(source.messages())
        viewer = await IrcViewer.connect(irc.port, "viewer4", "#secure")
        await viewer.wait_member(source.nick)
        await viewer.say("over TLS")
        assert (await pending).text == "over TLS"
        await viewer.close()
        await source.close()

    with IrcServer(tmp_path / "irc", tls=True) as irc:
        run(scenario(irc))


def test_close_ends_messages_and_leaves_the_channel(ircd: IrcServer):
    async def scenario() -> None:
        source = TwitchSource(twitch_config(ircd.port, "closing"))
        received: list[ChatMessage] = []

        async def consume() -> None:
            async for chat in source.messages():
                received.append(chat)

        consumer = asyncio.ensure_future(consume())
        viewer = await IrcViewer.connect(ircd.port, "viewer5", "#closing")
        await viewer.wait_member(source.nick)
        await source.close()
        await asyncio.wait_for(consumer, 5)
        await viewer.wait_for(lambda m: m.command == "QUIT" and m.nick == source.nick)
        assert received == []
        await viewer.close()

    run(scenario())


def test_close_ends_messages_while_reconnecting():
    async def scenario() -> None:
        source = TwitchSource(twitch_config(free_port(), "nobody_home"), reconnect_delay_s=5)
        pending = next_message(source.messages())
        await asyncio.sleep(0.3)  # the first connection was refused; it now waits to retry
        await source.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 5)

    run(scenario())


def test_twitch_reconnect_command_makes_it_reconnect():
    async def scenario() -> None:
        async with fake_twitch([":tmi.twitch.tv RECONNECT", EMOTES_LINE]) as (port, logins):
            source = TwitchSource(twitch_config(port, "ronni"), reconnect_delay_s=0.1)
            chat = await next_message(source.messages())
            assert (len(logins), chat.user, chat.text, chat.badges) == (2, "ronni", "Kappa Keepo Kappa", ("turbo/1",))
            await source.close()

    run(scenario())


USERSTATE_MOD = ("@badge-info=;badges=moderator/1;color=;display-name=NovaBot;emote-sets=0;mod=1;subscriber=0;"
                 "user-type=mod :tmi.twitch.tv USERSTATE #ronni")  # fmt: skip
USERSTATE_OWNER = "@badges=broadcaster/1;display-name=Ronni;mod=0;user-type= :tmi.twitch.tv USERSTATE #ronni"
USERSTATE_VIEWER = "@badges=;display-name=NovaBot;mod=0;user-type= :tmi.twitch.tv USERSTATE #ronni"


def test_userstate_tells_a_moderator_or_the_broadcaster_from_a_viewer():
    assert [is_moderator(parse_line(line)) for line in (USERSTATE_MOD, USERSTATE_OWNER, USERSTATE_VIEWER)] == [
        True, True, False]  # fmt: skip


def test_a_moderator_account_posts_past_the_viewer_limit_at_once():
    """25 replies in a burst: a viewer account gets 20 out now and the rest after Twitch's 30 s
    window; a moderator (100 per 30 s) gets all of them out at once."""

    async def scenario() -> None:
        heard: list[str] = []
        # The chat line after the USERSTATE shows the source has read it.
        async with fake_twitch([f"{USERSTATE_MOD}\r\n{EMOTES_LINE}"], heard) as (port, _):
            source = TwitchSource(twitch_config(port, "ronni", nick="novabot", token=TOKEN))
            await next_message(source.messages())
            assert all([await source.send(f"reply {i}") for i in range(25)])
            while len([line for line in heard if line.startswith("PRIVMSG")]) < 25:
                await asyncio.sleep(0.05)  # without the moderator limit, 5 would wait 30 s
            await source.close()

    run(scenario(), timeout=15)


def test_suspended_channel_is_a_one_line_error():
    async def scenario() -> None:
        notice = "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #gone :This channel does not exist or has been suspended"
        async with fake_twitch([notice]) as (port, _):
            source = TwitchSource(twitch_config(port, "gone"))
            with pytest.raises(CohostError, match=r"^Twitch channel gone does not exist or is suspended: check"):
                await next_message(source.messages())
            await source.close()

    run(scenario())
