"""Checks a config section against its dataclass's field types and a table of rules, once, at load.

A value the co-host cannot use is reported before anything starts, as one line that names the file,
the section and the key, instead of failing later deep inside a stage (fps = 0 used to load and then
divide by zero in the A/V clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from engine.errors import CohostError


class ConfigError(CohostError):
    """A config file holds a value the co-host cannot use. Exit code 2, like a wrong command line:
    both are the user's own words, fixed by editing them."""

    exit_code = 2


@dataclass(frozen=True)
class Rule:
    """What a value must be beyond its type. `text` completes "must be a whole number ..."."""

    text: str
    allows: Callable[[Any], bool]


def over(low: float) -> Rule:
    return Rule(f"over {low}", lambda v: v > low)


def at_least(low: float) -> Rule:
    return Rule(f"at least {low}", lambda v: v >= low)


def from_to(low: float, high: float) -> Rule:
    return Rule(f"from {low} to {high}", lambda v: low <= v <= high)


def _parsed(hint: Any) -> bool:
    """A field type parsed from a TOML string at load (it has `from_toml` and `described`)."""
    return isinstance(hint, type) and hasattr(hint, "from_toml")


def _describe(hint: Any) -> str:
    if _parsed(hint):
        return hint.described
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(f'"{choice}"' for choice in get_args(hint))
    if get_origin(hint) is list:
        return "a list"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[hint]


def _fits(value: Any, hint: Any) -> bool:
    if _parsed(hint):
        try:
            hint.from_toml(value)
        except (TypeError, ValueError, AttributeError):
            return False
        return True
    if get_origin(hint) is Literal:
        return type(value) is str and value in get_args(hint)
    if hint is float:  # TOML writes 12 for 12.0
        return type(value) in (int, float)
    return type(value) is hint  # not isinstance: true is not a whole number


def _problem(value: Any, hint: Any, rule: Rule | None) -> str | None:
    """Why `value` cannot be a field of type `hint` ("must be a whole number over 0, got 0"), or None."""
    if get_origin(hint) is list:
        if not isinstance(value, list):
            return f"must be a list, got {value!r}"
        (entry,) = get_args(hint)
        for item in value:
            if not _fits(item, entry):
                return f"entries must be {_describe(entry)}, got {item!r}"
    elif not _fits(value, hint):
        return f"must be {_describe(hint)}, got {value!r}"
    if rule is not None and not rule.allows(value):
        return f"must be {_describe(hint)} {rule.text}, got {value!r}"
    return None


def check_section(
    section: str,
    cls: type,
    values: Mapping[str, Any],
    rules: Mapping[tuple[str, str], Rule],
    origin: Callable[[str], Path],
) -> dict[str, Any]:
    """The values of [section] as its fields hold them (a colour parsed, say). Raises ConfigError for
    the first value that its field type or its rule refuses; `origin(key)` is the file it came from."""
    hints = get_type_hints(cls)
    checked = {}
    for key, value in values.items():
        problem = _problem(value, hints[key], rules.get((section, key)))
        if problem:
            raise ConfigError(f"{origin(key)}: [{section}] {key} {problem}")
        checked[key] = hints[key].from_toml(value) if _parsed(hints[key]) else value
    return checked
