"""A user's mistake ends in one line on stderr and the exit code its kind says."""

from __future__ import annotations

import pytest

from engine.errors import CohostError, UsageError, report


@pytest.mark.parametrize(
    ("error", "code"), [(CohostError("no face found in p.png"), 1), (UsageError("--fps must be 1-120"), 2)]
)
def test_report_prints_one_line_and_gives_the_errors_exit_code(error, code, capsys):
    assert report(error, "cohost: error") == code
    out, err = capsys.readouterr()
    assert out == "" and err == f"cohost: error: {error}\n"
