"""`cohost bench moderation`: recall on unsafe chat, pass rate on normal chat, and time per message.

Each line of a corpus runs through TextFilter.clean_input, as every chat message does before it
may be asked; a line counts as blocked when its verdict is (refused, or a contact detail was taken
out). Figures are per language and per category. The corpus is TSV, one message a line:
`expect<TAB>lang<TAB>text[<TAB>category...]`, expect `block` or `pass`, further columns ignored,
`#` lines comments. Time per message is measured with the process on one core, after a warm-up
pass over the whole corpus.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import save_json
from engine.cli_args import CliParser
from engine.config import load_config
from engine.errors import UsageError
from engine.moderation.text import TextFilter, Verdict

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "moderation" / "dev.tsv"
TARGETS = {"recall": 0.95, "pass_rate": 0.98, "ms_p50": 5.0}  # issue 8: English and Chinese each
EXPECTS = ("block", "pass")
UNCATEGORISED = "-"


@dataclass(frozen=True)
class Line:
    number: int  # in the file, from 1
    expect: str  # "block" or "pass"
    lang: str
    text: str
    category: str


@dataclass(frozen=True)
class Outcome:
    line: Line
    verdict: Verdict

    @property
    def hit(self) -> bool:
        return self.verdict.blocked == (self.line.expect == "block")

    @property
    def why(self) -> str:
        """What the filter did with the line, in a few words."""
        if self.verdict.removed:
            return "removed " + ", ".join(repr(r) for r in self.verdict.removed)
        return self.verdict.reason or "passed"


def read_corpus(path: Path) -> list[Line]:
    """The corpus's lines; a missing file or a malformed line is a UsageError naming it."""
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read corpus {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise UsageError(f"corpus {path} is not UTF-8 text") from None
    lines = []
    # Split on newlines only: a message may hold other line breaks (U+2028) as an evasion.
    for number, raw in enumerate(content.split("\n"), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        columns = raw.split("\t")
        if len(columns) < 3:
            raise UsageError(f"{path}:{number}: expected expect<TAB>lang<TAB>text, got {len(columns)} column(s)")
        expect, lang, text = (c.strip() for c in columns[:3])
        if expect not in EXPECTS:
            raise UsageError(f"{path}:{number}: expect must be 'block' or 'pass', got {expect!r}")
        if not lang or not text:
            raise UsageError(f"{path}:{number}: empty {'lang' if not lang else 'text'}")
        category = columns[3].strip() if len(columns) > 3 and columns[3].strip() else UNCATEGORISED
        lines.append(Line(number, expect, lang, text, category))
    if not lines:
        raise UsageError(f"corpus {path} holds no lines")
    return lines


@contextmanager
def one_core() -> Iterator[int | None]:
    """This thread (and the threads it starts) on one core, as the per-message target is set; the
    core's number, or None where affinity cannot be set."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    allowed = os.sched_getaffinity(0)
    core = min(allowed)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, allowed)


def _rate(outcomes: list[Outcome]) -> float:
    return round(sum(o.hit for o in outcomes) / len(outcomes), 4)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def score(outcomes: list[Outcome]) -> dict[str, Any]:
    """Recall on block lines and pass rate on pass lines, per language and per category."""
    groups: dict[tuple[str, str, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.line.lang, o.line.expect, o.line.category), []).append(o)
    categories = [
        {"lang": lang, "category": category, "expect": expect, "n": len(group), "rate": _rate(group)}
        for (lang, expect, category), group in sorted(groups.items())
    ]
    languages = {}
    for lang in sorted({o.line.lang for o in outcomes}):
        totals: dict[str, Any] = {}
        for expect, figure in (("block", "recall"), ("pass", "pass_rate")):
            group = [o for o in outcomes if o.line.lang == lang and o.line.expect == expect]
            totals[f"n_{expect}"] = len(group)
            totals[figure] = _rate(group) if group else None
        totals["meets_targets"] = all(totals[f] is None or totals[f] >= TARGETS[f] for f in ("recall", "pass_rate"))
        languages[lang] = totals
    return {"languages": languages, "categories": categories}


def run(corpus: Path, config_path: Path | None) -> dict[str, Any]:
    lines = read_corpus(corpus)
    moderation = load_config(config_path).moderation
    with one_core() as core:
        began = time.perf_counter()
        text_filter = TextFilter(moderation)
        setup_s = time.perf_counter() - began
        outcomes = [Outcome(line, text_filter.clean_input(line.text)) for line in lines]  # also the warm-up
        times_ms = []
        for line in lines:
            start = time.perf_counter_ns()
            text_filter.clean_input(line.text)
            times_ms.append((time.perf_counter_ns() - start) / 1e6)
    misses = [
        {"line": o.line.number, "lang": o.line.lang, "category": o.line.category, "expect": o.line.expect,
         "verdict": o.why, "text": o.line.text}
        for o in outcomes if not o.hit
    ]  # fmt: skip
    return {
        "benchmark": "moderation",
        "corpus": str(corpus),
        "lines": len(lines),
        "core": core,
        "filter_setup_s": round(setup_s, 3),
        "ms_per_message": {
            "p50": round(statistics.median(times_ms), 4),
            "p95": round(_percentile(times_ms, 0.95), 4),
            "max": round(max(times_ms), 4),
        },
        "targets": TARGETS,
        **score(outcomes),
        "misses": misses,
    }


def _fraction(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.3f}"


def print_report(report: dict[str, Any], verbose: bool) -> None:
    print(f"corpus {report['corpus']}: {report['lines']} lines; filter set up in {report['filter_setup_s']:.3f} s")
    print(f"{'lang':<5} {'category':<22} {'expect':<6} {'n':>4} {'rate':>6}  (block: recall; pass: pass rate)")
    for c in report["categories"]:
        print(f"{c['lang']:<5} {c['category']:<22} {c['expect']:<6} {c['n']:>4} {c['rate']:>6.3f}")
    print(f"{'lang':<5} {'block':>5} {'recall':>6} {'pass':>5} {'pass rate':>9}  "
          f"targets: recall >= {TARGETS['recall']}, pass rate >= {TARGETS['pass_rate']}")  # fmt: skip
    for lang, t in report["languages"].items():
        verdict = "meets targets" if t["meets_targets"] else "BELOW TARGET"
        print(f"{lang:<5} {t['n_block']:>5} {_fraction(t['recall']):>6} {t['n_pass']:>5} "
              f"{_fraction(t['pass_rate']):>9}  {verdict}")  # fmt: skip
    ms = report["ms_per_message"]
    core = "one core" if report["core"] is not None else "unpinned (no sched_setaffinity)"
    print(f"ms/message: p50 {ms['p50']:.3f}, p95 {ms['p95']:.3f}, max {ms['max']:.3f} on {core} "
          f"(target p50 <= {TARGETS['ms_p50']:.0f})")  # fmt: skip
    print(f"misses: {len(report['misses'])}" + ("" if verbose or not report["misses"] else " (--misses lists them)"))
    if verbose:
        for m in report["misses"]:
            where = f"line {m['line']} [{m['lang']} {m['category']}]"
            print(f"  {where} expected {m['expect']}, {m['verdict']}: {m['text']}")


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench moderation", description=__doc__.splitlines()[0])
    corpus_help = "TSV: expect<TAB>lang<TAB>text[<TAB>category] (default: tests/data/moderation/dev.tsv)"
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, metavar="FILE", help=corpus_help)
    parser.add_argument("--misses", "--verbose", action="store_true", dest="misses",
                        help="list every miss with its line number and the verdict")  # fmt: skip
    parser.add_argument("--config", type=Path, metavar="FILE")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    report = run(args.corpus, args.config)
    print_report(report, args.misses)
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
