"""Whether an utterance names the co-host. Whisper spells a name the way it sounds ("Nova" may come
back as "Noah", "Nover", "nova,"), so a word counts when it is close enough to a name, by spelling
or by a rough sound code."""

from __future__ import annotations

import difflib
import re

SPELLING_RATIO = 0.75


def _sound(word: str) -> str:
    """A coarse sound code: vowels and h/w/y dropped after the first letter, doubled letters merged,
    a trailing 'r' or 'h' (as in "Nover", "Novah") ignored."""
    word = re.sub(r"[^a-z]", "", word.lower())
    if not word:
        return ""
    word = re.sub(r"(.)\1+", r"\1", word).rstrip("rh") or word[0]
    return word[0] + re.sub(r"[aeiouhwy]", "", word[1:])


class WakeNames:
    def __init__(self, names: list[str]) -> None:
        self.names = [n.strip().lower() for n in names if n.strip()]

    def named(self, text: str) -> bool:
        words = re.findall(r"[\w']+", text.lower())
        for name in self.names:
            parts = name.split()
            for i in range(len(words) - len(parts) + 1):
                candidate = " ".join(words[i : i + len(parts)])
                if candidate == name or difflib.SequenceMatcher(None, candidate, name).ratio() >= SPELLING_RATIO:
                    return True
                if len(parts) == 1 and len(name) >= 3 and _sound(candidate) == _sound(name):
                    return True
        return False
