"""Make attacker-controlled text inert in Slack ``mrkdwn``.

Finding fields (user names, tags, user agents, bucket names) are attacker data. Slack's mrkdwn turns
``<!channel>``, ``<!here>``, ``<@U123>``, ``<!subteam^S1>`` and ``<https://evil|click>`` into
mentions and links, and it only knows three escapes: ``&amp;`` ``&lt;`` ``&gt;``
(https://api.slack.com/reference/surfaces/formatting#escaping). Escaping those three makes every
control sequence print as text. Bare ``@channel`` is only parsed with ``link_names``/``parse=full``,
which responder never sets; still, a zero-width joiner after ``@`` keeps it inert in any client.
A backtick becomes ``ˋ`` so a value cannot close a code span we put it in; ``*_~`` can at most
make a value bold or italic, which injects nothing, so names stay readable as they are.
"""

from __future__ import annotations

import re
import unicodedata

_AT_KEYWORD = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)
ZWJ = "\u2060"  # word joiner: invisible, breaks the keyword for Slack's parser


def _printable(text: str) -> str:
    """Drop control and bidi-override characters (a right-to-left override can disguise a name)."""
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf") else "\ufffd"
                   for ch in text)


def mrkdwn(value: object, limit: int = 300) -> str:
    """Escape a value for a mrkdwn field, one line, truncated to ``limit`` characters."""
    text = "" if value is None else str(value)
    text = _printable(text).replace("\n", " ").replace("\t", " ")
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _AT_KEYWORD.sub("@" + ZWJ, text).replace("`", "\u02cb")


def plain(value: object, limit: int = 150) -> str:
    """Text for ``plain_text`` objects (headers, button labels): no markup is parsed there, only trimmed."""
    text = _printable("" if value is None else str(value)).replace("\n", " ")
    text = _AT_KEYWORD.sub("@" + ZWJ, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(value: object, limit: int = 2500) -> str:
    """A preformatted block of escaped text (before/after state); backticks cannot end it early."""
    text = "" if value is None else str(value)
    text = _printable(text.replace("\t", " ")) if text else ""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "\u02cb")
    text = _AT_KEYWORD.sub("@" + ZWJ, text)
    return f"```{text}```"
