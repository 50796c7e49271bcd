"""Development and test SMTP sink: accepts every message and relays none.

Each message received is stored as ``<UTC timestamp>-<uuid>.eml`` in one directory (written to a temporary
file, then renamed, so readers never see half a message), with the SMTP envelope added as ``X-MailFrom`` and
``X-RcptTo`` headers because Bcc recipients appear nowhere else. People open the files in a mail client;
tests read them with :func:`read_messages`. Neither TLS nor AUTH is required; any AUTH offered succeeds, so a
configuration with ``MAIL_USERNAME`` set works against the sink unchanged.

    python -m atomicseats.smtp_sink --host 127.0.0.1 --port 8025 --dir .state/mail

Stops on SIGTERM or SIGINT. ``--port 0`` picks a free port, reported in the "listening on" log line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import logging
import os
import signal
import tempfile
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("atomicseats.smtp_sink")


def store_message(directory: Path, content: bytes, mail_from: str | None, rcpt_tos: list[str]) -> Path:
    """Write one message atomically into ``directory`` and return its path."""
    eol = "\r\n" if b"\r\n" in content else "\n"
    envelope = f"X-MailFrom: {mail_from or '<>'}{eol}X-RcptTo: {', '.join(rcpt_tos)}{eol}".encode()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = directory / f"{stamp}-{uuid.uuid4().hex}.eml"
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(envelope + content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return final


def read_messages(directory: str | os.PathLike[str]) -> list[EmailMessage]:
    """Every stored message, oldest first (sorted by file name); an empty list if the directory is missing."""
    path = Path(directory)
    if not path.is_dir():
        return []
    messages: list[EmailMessage] = []
    for file in sorted(path.glob("*.eml"), key=lambda p: p.name):
        with file.open("rb") as fh:
            message = email.message_from_binary_file(fh, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


class EmlDirectoryHandler:
    """aiosmtpd handler that stores each message's DATA in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        path = await asyncio.to_thread(
            store_message, self.directory, content, envelope.mail_from, list(envelope.rcpt_tos)
        )
        log.info("stored %s (from %s to %s)", path.name, envelope.mail_from, ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _accept_any_login(*_args: Any) -> AuthResult:
    return AuthResult(success=True)


async def serve(host: str, port: int, directory: Path) -> None:
    """Run the sink until SIGTERM or SIGINT."""
    directory.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = EmlDirectoryHandler(directory)
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="atomicseats-smtp-sink",  # also avoids socket.getfqdn(), slow without DNS
            auth_require_tls=False,
            authenticator=_accept_any_login,
            loop=loop,
        ),
        host,
        port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    log.info("listening on %s:%d, storing messages in %s", bound[0], bound[1], directory.resolve())
    await stop.wait()
    server.close()
    # From Python 3.12 this waits for open client connections too: do not let an idle one block shutdown.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=5)
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink that stores every message as an .eml file.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", default=".state/mail", help="directory for the .eml files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    asyncio.run(serve(args.host, args.port, Path(args.dir)))


if __name__ == "__main__":
    main()
