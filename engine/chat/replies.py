"""How an answer reads when posted back in chat: addressed to the viewer, and cut at a word to fit
the platform's longest message."""

from __future__ import annotations

from engine.chat.message import ChatMessage

ELLIPSIS = "…"


def reply_line(message: ChatMessage, answer: str) -> str:
    """ "@user answer" (a YouTube handle already starts with its "@")."""
    return f"{message.user if message.user.startswith('@') else '@' + message.user} {answer}"


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: cut after the last whole word that fits, and "…" to show
    the cut (a text without spaces, Chinese say, is cut anywhere)."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    cut = head.rfind(" ")
    if text[len(head)] != " " and cut > 0:  # the cut falls inside a word: leave that word out
        head = head[:cut]
    return head.rstrip() + ELLIPSIS
