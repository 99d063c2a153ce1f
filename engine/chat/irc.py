"""IRC lines with IRCv3 message tags: parsing what a server sends and formatting what we send.

@badges=moderator/1;display-name=Ann :ann!ann@ann.tmi.twitch.tv PRIVMSG #chan :hello there
tags------------------------------- prefix----------------------- command params-----------
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# IRCv3 tag-value escapes: ";" " " "\" CR LF cannot appear raw in a tag value.
_TAG_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_TAG_UNESCAPES = {"\\:": ";", "\\s": " ", "\\\\": "\\", "\\r": "\r", "\\n": "\n"}


class IrcLineError(ValueError):
    """A line that is not IRC, or parameters that cannot be put on one line."""


@dataclass(frozen=True)
class IrcMessage:
    command: str  # upper case: "PRIVMSG", "PING", or a three-digit numeric ("001")
    params: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""  # "nick!user@host" or a server name; "" when the line had none

    @property
    def nick(self) -> str:
        """The sender's nick (or server name) from the prefix."""
        return self.prefix.split("!", 1)[0].split("@", 1)[0]

    @property
    def trailing(self) -> str:
        """The last parameter (the message text of a PRIVMSG), "" when there is none."""
        return self.params[-1] if self.params else ""


def unescape_tag_value(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        pair = value[i : i + 2]
        # An unknown escape stands for the character itself; a lone trailing "\" is dropped (IRCv3).
        out.append(_TAG_UNESCAPES.get(pair, pair[1:]))
        i += 2
    return "".join(out)


def escape_tag_value(value: str) -> str:
    return "".join(_TAG_ESCAPES.get(char, char) for char in value)


def parse_line(line: str) -> IrcMessage:
    """One line from a server (with or without its CR LF) as an IrcMessage; IrcLineError if malformed."""
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        for item in raw_tags.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag_value(value)
    rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
    head, sep, trailing = rest.partition(" :")
    words = [word for word in head.split(" ") if word]  # only " " separates: "\u2003" is text
    if not words or not words[0].isalnum():
        raise IrcLineError(f"not an IRC line (no command): {line[:80]!r}")
    params = words[1:] + ([trailing] if sep else [])
    return IrcMessage(command=words[0].upper(), params=tuple(params), tags=tags, prefix=prefix)


def format_line(command: str, *params: str, tags: Mapping[str, str] | None = None) -> str:
    """`command params...` as one line ending in CR LF. The last parameter goes after ":" when it
    needs to (spaces, empty, leading ":"); any other parameter that would need it is an error, as is
    a line break or NUL anywhere (it would end the line and smuggle in a second command)."""
    for param in (command, *params):
        if any(char in param for char in "\r\n\0"):
            raise IrcLineError(f"IRC parameter contains a line break or NUL: {param[:40]!r}")
    parts = [command]
    for i, param in enumerate(params):
        needs_colon = not param or " " in param or param.startswith(":")
        if needs_colon and i < len(params) - 1:
            raise IrcLineError(f"only the last IRC parameter may be empty or hold spaces: {param[:40]!r}")
        parts.append(":" + param if needs_colon else param)
    if tags:
        parts.insert(0, "@" + ";".join(f"{k}={escape_tag_value(v)}" if v else k for k, v in tags.items()))
    return " ".join(parts) + "\r\n"
