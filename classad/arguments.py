"""HTCondor's V2 argument syntax, the one splitter every part uses.

V2 text (the ``Arguments`` attribute, ``argsToList``, the entries of a V2
``Environment``) separates tokens by white space; ``'...'`` groups, and
``''`` inside a quoted run is one literal quote (condor_arglist.cpp).
The ClassAd built-ins and the grid's job runner must split identically --
a job's argv must be what ``argsToList(Arguments)`` shows the user -- so
there is one implementation, here, in the package that imports nothing of
ours; each caller words its own error (a built-in gives ERROR, the grid
holds the job with a reason).
"""

from __future__ import annotations

__all__ = ["ARG_SPACE", "UnbalancedQuote", "split_v2"]

ARG_SPACE = " \t\n\r"


class UnbalancedQuote(ValueError):
    """A single quote opens a run that never closes; ``offset`` is where it opens."""

    def __init__(self, text: str, offset: int) -> None:
        super().__init__(f"unbalanced single quote at offset {offset} in {text!r}")
        self.offset = offset


def split_v2(text: str) -> list[str]:
    """The arguments of V2 *text*; raises :class:`UnbalancedQuote`."""
    out: list[str] = []
    buf: list[str] = []
    token = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            opened = i
            token = True
            i += 1
            while True:
                if i >= n:
                    raise UnbalancedQuote(text, opened)
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        buf.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
        elif ch in ARG_SPACE:
            i += 1
            if token:
                out.append("".join(buf))
                buf, token = [], False
        else:
            token = True
            buf.append(ch)
            i += 1
    if token:
        out.append("".join(buf))
    return out
