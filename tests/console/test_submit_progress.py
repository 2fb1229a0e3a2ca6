"""`qmf submit`'s progress line for big descriptions: a bar while the job
ads are made, then the time spent waiting for the agent; only on a
terminal, only for big submissions, and always cleared at the end."""

from __future__ import annotations

import io
import time

from console.cli_jobs import SubmitProgress
from console.submit import Submit


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_big_submission_shows_a_bar_then_the_wait_and_clears_the_line() -> None:
    term = Terminal()
    with SubmitProgress(term, 2000) as progress:
        progress.made(500)
        progress.made(1500)
        progress.made(2000)          # all made: the request is in flight
        time.sleep(0.5)
    text = term.getvalue()
    assert "making job ads [#######" in text and "500/2000" in text and "1500/2000" in text
    assert "queueing 2000 jobs at the agent..." in text
    assert text.endswith("\r\x1b[K")


def test_nothing_is_shown_off_a_terminal_or_for_a_small_submission() -> None:
    plain = io.StringIO()
    with SubmitProgress(plain, 5000) as progress:
        progress.made(5000)
    small = Terminal()
    with SubmitProgress(small, 10) as progress:
        progress.made(10)
    assert plain.getvalue() == "" and small.getvalue() == ""


def test_making_a_descriptions_ads_reports_every_500_jobs_and_the_end() -> None:
    seen: list[int] = []
    Submit("executable = /bin/true\narguments = $(Process)\nqueue 1200\n").submit_ads(progress=seen.append)
    assert seen == [500, 1000, 1200]
