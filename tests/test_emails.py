"""The email on the wire: written under the classic policy, it reads exactly as Flask-Mail's own would."""

from __future__ import annotations

import email
import email.policy

import pytest
from flask_mail import Message

from atomicseats.emails import WireMessage

SUBJECTS = {
    "ascii": "Booking ABC123 confirmed: Concert",
    "ascii-long": "Booking ABC123 confirmed: "
    + "A very long event name that needs more than one line to be written " * 2,
    "latin": "Booking ABC123 confirmed: Ünïcødé Ëvent",
    "latin-long": "Booking ABC123 confirmed: Ünïcødé Ëvent with a long name that must fold over more lines — sûrement",
    "cjk-long": "予約 ABC123 が確定しました: " + "東京ドームの夜 " * 6,
}


def _pair(subject: str) -> tuple[bytes, bytes]:
    fields = {
        "subject": subject,
        "recipients": ["buyer@example.com"],
        "body": "Your booking ABC123 is confirmed.\nRow A, seat 12 — £50.00\n",
        "html": "<p>Your booking <b>ABC123</b> is confirmed.</p><p>Row A, seat 12 — £50.00</p>",
        "extra_headers": {"X-Request-Id": "trace-1"},
        "date": 1_800_000_000,
    }
    ours, theirs = WireMessage(**fields), Message(**fields)
    ours.msgId = theirs.msgId
    return ours.as_bytes(), theirs.as_bytes()


def _read(raw: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Headers as a reader decodes them (multipart boundaries are random), and every leaf part's type and text."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = [(name, str(value)) for name, value in message.items() if name != "Content-Type"]
    parts = [(part.get_content_type(), part.get_content()) for part in message.walk() if not part.is_multipart()]
    return headers, parts


@pytest.mark.parametrize("subject", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_a_reader_sees_the_same_email_as_flask_mail_writes(ctx, subject: str) -> None:
    ours, theirs = _pair(subject)
    assert _read(ours) == _read(theirs)
    assert dict(_read(ours)[0])["Subject"] == subject


@pytest.mark.parametrize("subject", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_the_wire_form_has_crlf_line_ends_and_short_header_lines(ctx, subject: str) -> None:
    ours, _ = _pair(subject)
    assert b"\n" not in ours.replace(b"\r\n", b"")
    head = ours.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
