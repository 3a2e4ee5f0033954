"""Attacker text must print as text in Slack: no mentions, links or broken code spans."""

from __future__ import annotations

from responder.slack.escape import ZWJ, code, mrkdwn, plain


def test_control_sequences_are_inert() -> None:
    hostile = "<!channel> <!here|here> <@U123> <!subteam^S1> <https://evil.example|click me> a&b"
    out = mrkdwn(hostile)
    assert "<" not in out and ">" not in out
    assert out.startswith("&lt;!channel&gt;") and "a&amp;b" in out
    assert "&amp;lt;" not in mrkdwn("&lt;")[:4] or mrkdwn("&lt;") == "&amp;lt;"  # escaped once, literally


def test_bare_keywords_broken_and_lines_joined() -> None:
    out = mrkdwn("hi @channel and @Here\nnext\tline")
    assert "@channel" not in out and f"@{ZWJ}channel" in out and f"@{ZWJ}Here" in out
    assert "\n" not in out and "\t" not in out
    assert "@channel" not in plain("@channel")


def test_bidi_and_control_characters_replaced() -> None:
    assert "\u202e" not in mrkdwn("admin\u202egnp.exe") and "\x00" not in mrkdwn("a\x00b")


def test_truncation_and_none() -> None:
    assert mrkdwn(None) == ""
    assert len(mrkdwn("x" * 1000, 50)) == 50
    assert mrkdwn("<" * 10, 5) == "&lt;" * 4 + "…"  # truncated before escaping: no half entity


def test_code_block_cannot_be_closed() -> None:
    out = code("```<!channel>```")
    assert out.startswith("```") and out.endswith("```") and out.count("```") == 2
    assert "<!channel>" not in out
