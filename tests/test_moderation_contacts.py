"""Contact details taken out of text in any writing; scores, dates, numbers, versions and product
names left as written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.moderation.contacts import (
    FILE_EXTENSIONS,
    LINK_HOSTS,
    PRODUCTS,
    SPELLED_TLDS,
    TLDS,
    UNITS,
    WORD_TLDS,
    read_tlds,
    strip_contacts,
)

PHONES = [
    # Other separators.
    ("call 555.123.4567 now", "call now"),
    ("call 555 / 123 / 4567 now", "call now"),
    ("打 138_1234_5678 找我", "打 找我"),
    ("手机 138·1234·5678", "手机"),
    ("我的号 138 - 1234 - 5678 谢谢", "我的号 谢谢"),
    ("phone 5551234 ok", "phone ok"),  # 7 digits after a cue
    ("座机 010-12345678 欢迎", "座机 欢迎"),  # trunk 0 and an area code
    ("ring 020 7946 0958 later", "ring later"),
    ("+86 138 1234 5678 加我", "加我"),
    ("8613812345678谢谢", "谢谢"),
    ("5551234567 is my number", "is my number"),
    ("13812345678 13987654321 找我", "找我"),  # two numbers a space apart
    ("加我13812345678 2次", "加我 2次"),  # a count after the number stays
    # Digits spelled out.
    ("call five five five one two three four five six seven now", "call now"),
    ("my number is five-five-five, one-two-three, four-five-six-seven ok", "my number is ok"),
    ("text me eight oh one, five five five, two three nine four", "text me"),
    ("电话一三八一二三四五六七八谢谢", "电话 谢谢"),
    ("一三八一二三四五六七八", ""),
    ("加我壹叁捌壹贰叁肆伍陆柒捌", "加我"),
    ("幺三八 幺二三四 五六七八 谢谢", "谢谢"),
    ("號碼 一三八〇〇〇〇〇〇〇〇 謝謝", "號碼 謝謝"),
    ("零一零 一二三四五六七八 欢迎", "欢迎"),
    ("138一二三四5678 找我", "找我"),  # mixed writings
    ("❶❸❽ ➀➁➂➃ ➄➅➆➇ 找我", "找我"),  # dingbat digits, which NFKC keeps
]

IDS = [
    ("加我微信abc123好吗", "加我 好吗"),
    ("微信：wxid_abc123 谢谢", "谢谢"),
    ("威信 abcdef88 来", "来"),
    ("薇信号: cool_guy 私聊", "私聊"),
    ("V信 13812345678", ""),
    ("vx: abc_123", ""),
    ("wx abc12345 thanks", "thanks"),
    ("weixin: abcdefg", ""),
    ("my wechat is abc123", "my"),
    ("加v abc123 有惊喜", "有惊喜"),
    ("➕v abc123 有惊喜", "有惊喜"),
    ("+vx abc123 有惊喜", "有惊喜"),
    ("QQ 12345678 来玩", "来玩"),
    ("qq号：123456789", ""),
    ("加我QQ12345678", "加我"),
    ("扣扣 一二三四五六七八九 谢谢", "谢谢"),
    ("企鹅 987654321 找我", "找我"),
    ("QQ群 12345678 欢迎", "欢迎"),
    ("add my LINE ID: coolguy88", "add my"),
    ("line: abc_123 please", "please"),
    ("whatsapp +44 7911 123456 now", "now"),
    ("WhatsApp: 447911123456", ""),
    ("telegram @spam_bot ok", "ok"),
    ("tg: @cheapcoins", ""),
    ("电报 @cheapcoins 找我", "找我"),
    ("discord: coolguy#1234", ""),
    ("add me on discord coolguy#1234 later", "add me on later"),
    ("join discord.gg/abcd", "join"),
    ("snapchat: cool.gal99", ""),
    ("add me on snap: coolgal", "add me on"),
    ("add me on snap xyz123", "add me on"),
    ("hmu on ig cool_gal", "hmu on"),
    ("follow me on ig @cool.gal", "follow me on"),
    ("add me @coolgal", "add me"),
    ("dm me @coolgal for a deal", "dm me for a deal"),
    ("加我 @coolgal", "加我"),
    ("私信我 @cheap_followers", "私信我"),
    ("加微：abc123 送福利", "送福利"),
    ("私聊@coolgal", "私聊"),
]

LINKS = [
    # Other top-level domains, the whole IANA list.
    ("visit example.xyz now", "visit now"),
    ("cheap skins at skins.shop today", "cheap skins at today"),
    ("go to free-robux.online", "go to"),
    ("bet at lucky.casino", "bet at"),
    ("see example.rocks and example.ninja", "see and"),
    ("my site spam.co.uk", "my site"),
    ("看 163.com 新闻", "看 新闻"),
    ("t.me for the group", "for the group"),
    ("youtu.be/abc123 watch", "watch"),
    ("visit mysite.net now", "visit now"),  # while ASP.NET is a product
    ("play at game.io now", "play at now"),  # while Socket.IO is a library
    ("see spam.so/x", "see"),  # a word TLD with a path
    ("file at host.py/download", "file at"),  # a file extension with a path
    ("asp.net/core docs", "docs"),  # a product with a path is a page
    ("example.com:8080 is up", "is up"),
    # Mixed case.
    ("visit ExAmPlE.CoM now", "visit now"),
    ("visit Example.Com now", "visit now"),
    ("visit EXAMPLE.COM now", "visit now"),
    ("go Spam.Shop now", "go now"),
    # Other spellings of the dot.
    ("visit example d0t com now", "visit now"),
    ("visit example [dot] com now", "visit now"),
    ("visit example (dot) com now", "visit now"),
    ("visit example {.} com now", "visit now"),
    ("visit example . com now", "visit now"),
    ("加我example點com好友", "加我 好友"),
    ("加我example。cn好友", "加我 好友"),
    ("visit example dotcom now", "visit now"),
    ("visit exampledotcom now", "visit now"),
    ("visit example dot c o m now", "visit now"),
    ("visit example DOT NET now", "visit now"),
    ("join t dot me / spamgroup now", "join now"),
    # E-mail written with "at".
    ("mail name at gmail dot com please", "mail please"),
    ("mail name at gmail.com please", "mail please"),
    ("mail name [at] example [dot] com please", "mail please"),
    ("mail name(at)example.com please", "mail please"),
    ("邮箱abc艾特qq.com联系", "邮箱 联系"),
    ("邮箱 abc 艾特 qq 点 com 联系", "邮箱 联系"),
    ("mail name @ example . com please", "mail please"),
    ("hxxps://spam.example/x ok", "ok"),
    ("https ://spam.com ok", "ok"),
    ("visit spam.c0m now", "visit now"),
    ("discord.gg for the server", "for the server"),
]

KEPT = [
    # Scores, years, dates, times.
    "what a game, 3-1!",
    "it ended 2:0",
    "score 14:88 at halftime",
    "比分3比1",
    "scores 3-1 2-0 4-2 1-1 today",
    "in 2024 we won",
    "on 2024-05-01 at 20:30",
    "on 2024/05/01 20:30 we go live",
    "01/05/2024 was fun",
    "from 1999-2024 it ran",
    "stream at 20:30 tonight",
    "call me on 2024-05-01",
    # Numbers and prices.
    "1337 points",
    "12345678人观看",
    "第138期",
    "价格¥1380",
    "1,234,567 views",
    "1.234.567 views",
    "2000000000 views",
    "pi is 3.14159265",
    "I have one two three four five six seven eight cats",  # counting
    "一二三四五六七八九十",
    "five five five five five five five",
    "one more game",
    "三三两两",
    "issue#1234 is fixed",
    "@streamer nice play",
    # Versions and products.
    "v1.2.3 is out",
    "Python 3.11 is fast",
    "Node.js and Vue.js",
    "ASP.NET rocks",
    ".NET 8 is out",
    "I use Socket.IO",
    "VB.NET is old",
    "OBS 29.0.2 crashed",
    "edit config.toml",
    "open index.html",
    "run file.py",
    "setup.py and main.rs",
    "see README.md",
    "clip.mov and pack.zip",
    "Main.java",
    "e.g. this, i.e. that",
    "Mr.Smith is here",
    "said.No way",
    "ok.so what",
    "yes.it works",
    "great stream.Live now",
    "self.name = x",
    "app.run() now",
    "obj.data is empty",
    "df.info() first",
    "yay.party time",
    "lol.life is hard",
    "location.host is set",
    "U.S.A.",
    "3.5GB free",
    "7.1ch audio",
    "3.5mm jack",
    "2.5kg weight",
    "ok。 me too",
    "明天8点live见",
    "example dot company",
    "is it.so?",
    "meet me at home",
    "look at that",
    "oh snap that was close",
    "the line is long",
    "my discord is down",
    "snapchat is fun",
    "follow me on insta for more",
    "oh snap that was close",
    "有微信吗",
    "用微信支付",
    "QQ音乐",
    "wow.Fun",
    "lol that was insane.gg",
    "v1.5x speed",
    "src/main.rs",
]


def _check(text: str, remaining: str) -> None:
    cleaned, removed = strip_contacts(text)
    assert cleaned == remaining, removed
    assert removed and all(piece in text for piece in removed)


@pytest.mark.parametrize("text, remaining", PHONES)
def test_phone_numbers_go_in_any_writing(text, remaining):
    _check(text, remaining)


@pytest.mark.parametrize("text, remaining", IDS)
def test_messenger_ids_go_with_their_cue(text, remaining):
    _check(text, remaining)


@pytest.mark.parametrize("text, remaining", LINKS)
def test_links_and_emails_go_in_any_spelling(text, remaining):
    _check(text, remaining)


@pytest.mark.parametrize("text", KEPT)
def test_scores_dates_numbers_and_product_names_stay_as_written(text):
    assert strip_contacts(text) == (text, ())


def test_removed_pieces_come_in_order():
    text = "mail a@b.com, call 555-123-4567, visit example.xyz"
    assert strip_contacts(text) == ("mail , call , visit", ("a@b.com", "555-123-4567", "example.xyz"))


def test_whitespace_collapses_without_contacts():
    assert strip_contacts("  hello   there ") == ("hello there", ())


def test_every_listed_exception_is_a_real_top_level_domain():
    for listed in (WORD_TLDS, FILE_EXTENSIONS, UNITS, SPELLED_TLDS):
        assert listed <= TLDS, listed - TLDS
    assert {host.rsplit(".", 1)[1] for host in PRODUCTS | LINK_HOSTS} <= TLDS


def test_the_tld_file_holds_the_iana_list():
    assert {"com", "xyz", "casino", "ninja", "zw", "io", "net"} <= TLDS
    assert not {"html", "toml", "js", "exe", ""} & TLDS
    assert all(tld.isascii() and tld.isalpha() for tld in TLDS)
    assert len(TLDS) > 1200


def test_tld_files_skip_comments_and_blank_lines(tmp_path):
    path = tmp_path / "tlds.txt"
    path.write_text("# source\n\nCOM\n xyz \n", encoding="utf-8")
    assert read_tlds(path) == {"com", "xyz"}


_PIECES = st.sampled_from(
    [" ", ".", "dot", " dot ", "(dot)", "点", "。", "@", "at", "艾特", "+", "-", "/", ":", "#", "com", "io",
     "NET", "微信", "qq", "vx", "加v", "telegram", "add me", "一", "五", "five", "oh", "0", "1", "138",
     "2024", "(", ")", "www", "http://", "a", "Z", "é", "好"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(st.text(max_size=12), _PIECES), max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=_TEXT)
def test_stripping_never_raises_nor_lengthens_the_text(text):
    cleaned, removed = strip_contacts(text)
    assert len(cleaned) <= len(text)
    assert all(piece in text for piece in removed)
