"""Bilibili's WBI request signature on the examples published in bilibili-API-collect's
docs/misc/sign/wbi.md (the current page and its June 2023 revision)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from engine.chat.bilibili_wbi import MIXIN_KEY_ENC_TAB, mixin_key, mixin_key_from_nav, sign

IMG_KEY, SUB_KEY = "7cd084941338484aae1ad9425b84077c", "4932caff0ff746eab6f01bf08b70ac45"
KEY = "ea1db124af3c7062474693fa704f4ff8"  # the mixin key the docs derive from those two


def test_mixin_table_is_a_permutation_of_the_64_key_characters() -> None:
    assert sorted(MIXIN_KEY_ENC_TAB) == list(range(64))


@pytest.mark.parametrize(("img_key", "sub_key", "expected"), [
    (IMG_KEY, SUB_KEY, KEY),
    ("653657f524a547ac981ded72ea172057", "6e4909c702f846728e64f6007736a338", "72136226c6a73669787ee4fd02a74c27"),
])  # fmt: skip
def test_mixin_key_matches_the_documented_examples(img_key: str, sub_key: str, expected: str) -> None:
    assert mixin_key(img_key, sub_key) == expected


def test_sign_matches_the_documented_example() -> None:
    assert sign({"foo": "114", "bar": "514", "zab": 1919810}, KEY, wts=1702204169) == {
        "foo": "114",
        "bar": "514",
        "zab": "1919810",
        "wts": "1702204169",
        "w_rid": "8f6f2b5b3d485fe1886cec6a0be8c5d4",
    }


def test_sign_matches_the_earlier_documented_example() -> None:
    signed = sign({"foo": "114", "bar": "514", "zab": 1919810}, "72136226c6a73669787ee4fd02a74c27", wts=1684746387)
    assert signed["w_rid"] == "90efcab09403023875b8516f07e9f9de"


def test_sign_encodes_like_encode_uri_component() -> None:
    # The docs' encoding example: upper-case escapes, %20 for a space (not +).
    signed = sign({"foo": "one one four", "bar": "五一四", "baz": 1919810}, KEY, wts=1)
    query = "bar=%E4%BA%94%E4%B8%80%E5%9B%9B&baz=1919810&foo=one%20one%20four&wts=1"
    assert signed["w_rid"] == hashlib.md5((query + KEY).encode()).hexdigest()


def test_sign_strips_the_characters_bilibili_drops() -> None:
    signed = sign({"q": "it's (a) star*!"}, KEY, wts=1)
    assert signed["q"] == "its a star"
    assert signed["w_rid"] == hashlib.md5(("q=its%20a%20star&wts=1" + KEY).encode()).hexdigest()


def test_mixin_key_comes_from_a_signed_out_nav_reply() -> None:
    # The docs' nav reply for a visitor: code -101, and the keys all the same.
    body = json.loads((Path(__file__).parent / "data" / "bilibili" / "nav_anonymous.json").read_text(encoding="utf-8"))
    assert body["code"] == -101 and mixin_key_from_nav(body) == KEY


@pytest.mark.parametrize("body", [
    None, [], {"code": -101}, {"data": None}, {"data": {"wbi_img": {"img_url": 5, "sub_url": 5}}},
    {"data": {"wbi_img": {"img_url": f"https://i0.hdslb.com/bfs/wbi/{IMG_KEY}.png"}}},
    {"data": {"wbi_img": {"img_url": "https://i0.hdslb.com/bfs/wbi/short.png", "sub_url": "x/abc.png"}}},
])  # fmt: skip
def test_nav_reply_without_usable_keys_gives_none(body: Any) -> None:
    assert mixin_key_from_nav(body) is None
