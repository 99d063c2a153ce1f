"""Bilibili's WBI request signature (the w_rid and wts query fields its web API now demands).

Scheme as documented by bilibili-API-collect (docs/misc/sign/wbi.md): the nav API hands out two
daily keys disguised as image URLs; their file names, concatenated and shuffled by a fixed table,
give a 32-character mixin key. A request's parameters plus wts (unix seconds), sorted by name, with
!'()* removed from the values and encoded as JavaScript's encodeURIComponent would, are hashed with
MD5 together with that key: the hex digest is w_rid.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from engine.chat.http import json_field

MIXIN_KEY_ENC_TAB = (
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49,
    33, 9, 42, 19, 29, 28, 14, 39, 12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40,
    61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25, 54, 21, 56, 59, 6, 63, 57, 62, 11,
    36, 20, 34, 44, 52,
)  # fmt: skip
_KEY = re.compile(r"[0-9A-Za-z]{32}")
_STRIPPED = str.maketrans("", "", "!'()*")  # encodeURIComponent leaves these as they are; Bilibili drops them


def mixin_key(img_key: str, sub_key: str) -> str:
    raw = img_key + sub_key
    return "".join(raw[i] for i in MIXIN_KEY_ENC_TAB)[:32]


def mixin_key_from_nav(body: Any) -> str | None:
    """The mixin key from a nav reply's data.wbi_img (there even when not signed in, code -101);
    None when the reply has no usable keys."""
    keys = []
    for field in ("img_url", "sub_url"):
        url = json_field(body, "data", "wbi_img", field)
        stem = url.rsplit("/", 1)[-1].split(".", 1)[0] if isinstance(url, str) else ""
        if not _KEY.fullmatch(stem):
            return None
        keys.append(stem)
    return mixin_key(*keys)


def sign(params: Mapping[str, str | int], key: str, wts: int) -> dict[str, str]:
    """`params` with wts and w_rid added, as sent (values as strings, !'()* removed)."""
    signed = {name: str(value).translate(_STRIPPED) for name, value in {**params, "wts": wts}.items()}
    query = urlencode(sorted(signed.items()), quote_via=quote)  # %20 for a space, as in the browser
    signed["w_rid"] = hashlib.md5((query + key).encode()).hexdigest()
    return signed
