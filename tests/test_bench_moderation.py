import json
from pathlib import Path

import pytest

from bench.moderation import DEFAULT_CORPUS, read_corpus
from engine.app.cli import main

CORPORA = DEFAULT_CORPUS.parent

# Lines whatever filter layers land must agree on: a plain swear word is blocked, a greeting passes.
# Each language has one deliberate miss, so the figures below are not all 1.0.
CORPUS = """\
# a comment, then a blank line

block\ten\tyou are a fucking idiot\ten-plain\tan extra column
block\ten\tgood morning chat\ten-plain
pass\ten\thello everyone, nice stream\tpass-chat
   # an indented comment
block\tzh\t操你妈\tzh-plain
pass\tzh\t大家好\tzh-pass-chat
pass\tzh\t傻逼主播\tzh-pass-chat
pass\ten\tthanks for the raid
"""


def _bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, *options: str) -> tuple[int, str, str]:
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text(content, encoding="utf-8")
    code = main(["bench", "moderation", "--corpus", str(corpus), *options])
    out, err = capsys.readouterr()
    return code, out, err


def test_bench_gives_recall_and_pass_rate_per_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _bench(tmp_path, capsys, CORPUS, "--json", str(tmp_path / "m.json"))
    assert code == 0
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["lines"] == 7
    assert report["languages"]["en"] == {"n_block": 2, "recall": 0.5, "n_pass": 2, "pass_rate": 1.0,
                                         "meets_targets": False}  # fmt: skip
    assert report["languages"]["zh"] == {"n_block": 1, "recall": 1.0, "n_pass": 2, "pass_rate": 0.5,
                                         "meets_targets": False}  # fmt: skip
    assert [m["line"] for m in report["misses"]] == [4, 9]
    assert report["ms_per_message"]["p50"] > 0
    assert "en        2  0.500     2     1.000  BELOW TARGET" in out


def test_bench_groups_lines_by_category(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bench(tmp_path, capsys, CORPUS, "--json", str(tmp_path / "m.json"))
    report = json.loads((tmp_path / "m.json").read_text())
    categories = {(c["lang"], c["category"]): (c["n"], c["rate"]) for c in report["categories"]}
    # The extra column after the category is ignored; a line without a category is counted as "-".
    assert categories == {
        ("en", "en-plain"): (2, 0.5),
        ("en", "pass-chat"): (1, 1.0),
        ("en", "-"): (1, 1.0),
        ("zh", "zh-plain"): (1, 1.0),
        ("zh", "zh-pass-chat"): (2, 0.5),
    }


def test_misses_lists_each_miss_with_its_line_and_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _bench(tmp_path, capsys, CORPUS, "--misses")
    assert code == 0
    assert "line 4 [en en-plain] expected block, passed: good morning chat" in out
    # The reason is the filter's own word, which its layers may change.
    assert "line 9 [zh zh-pass-chat] expected pass, " in out and out.rstrip().endswith(": 傻逼主播")


@pytest.mark.parametrize(
    ("line", "says"),
    [("block\ten", "expected expect<TAB>lang<TAB>text, got 2 column(s)"),
     ("maybe\ten\thello", "expect must be 'block' or 'pass', got 'maybe'"),
     ("pass\t\thello", "empty lang")],
)  # fmt: skip
def test_a_bad_line_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, says: str
) -> None:
    code, out, err = _bench(tmp_path, capsys, f"# header\npass\ten\thello\n{line}\n")
    assert code == 2
    assert err.count("\n") == 1
    assert f"corpus.tsv:3: {says}" in err
    assert out == ""


def test_a_missing_corpus_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "moderation", "--corpus", str(tmp_path / "nope.tsv")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert "cannot read corpus" in err and "nope.tsv" in err


def test_a_corpus_of_only_comments_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _bench(tmp_path, capsys, "# nothing here\n\n")
    assert code == 2
    assert "holds no lines" in err


def test_the_project_corpora_cover_both_languages_and_share_no_line() -> None:
    corpora = [read_corpus(CORPORA / f"{name}.tsv") for name in ("dev", "holdout", "holdout2", "holdout3")]
    quadrants = {(lang, expect) for lang in ("en", "zh") for expect in ("block", "pass")}
    for corpus in corpora:
        assert {(line.lang, line.expect) for line in corpus} == quadrants
        assert {(line.lang, line.category) for line in corpus} == {(line.lang, line.category) for line in corpora[0]}
    texts = [{line.text for line in corpus} for corpus in corpora]
    assert sum(map(len, texts)) == len(set().union(*texts))
