"""How ``etcdops serve`` logs: one JSON object per line (or plain text), every line redacted.

Each line carries the time (UTC), level, logger and message, and — while the runner executes a run —
its ``run_id``, ``cluster``, ``procedure`` and ``step`` (bound by the engine, :mod:`runner.log_context`),
so a log search for one run finds everything it did.

Whatever a line says goes through :func:`storage.redact.redact` (tokens, PEM blocks, keys, passwords in
URLs) and has the process's own secrets — every ``SecretStr`` setting, such as the signing secret, which
no pattern would recognise — replaced by their exact value, exception tracebacks included.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable
from typing import IO, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

from runner import log_context
from storage.redact import REDACTED, redact

LogFormat = Literal["json", "text"]
MIN_SECRET_LENGTH = 8  # shorter "secrets" (a test's "x") would blank out ordinary words
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def secret_values(settings: BaseModel) -> list[str]:
    """The values of every ``SecretStr`` field of the settings (the tokens and the signing secret), and
    the password of every ``*_url`` field (``DATABASE_URL``'s)."""
    found = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
        elif name.endswith("_url") and isinstance(value, str):
            try:
                password = urlsplit(value).password
            except ValueError:  # not a URL after all (a port that is not a number): nothing to take
                password = None
            if password:
                found.append(unquote(password))
    return found


class Scrubber:
    """Redacts a text: the exact secrets it was given first, then every secret-looking pattern."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return redact(text)


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "message": ..., "run_id": ..., "cluster": ...}``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.scrub = Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.scrub(record.getMessage()),
        }
        line.update(log_context.current())
        if record.exc_info:
            line["exception"] = self.scrub(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = self.scrub(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the run's fields in brackets and the same redaction."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self.scrub = Scrubber(secrets)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        bound = log_context.current()
        if bound:
            text += " [" + " ".join(f"{key}={value}" for key, value in bound.items()) + "]"
        return text

    def format(self, record: logging.LogRecord) -> str:
        return self.scrub(super().format(record))


def make_handler(
    fmt: LogFormat = "json", *, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    return handler


def configure_logging(
    fmt: LogFormat = "json",
    *,
    secrets: Iterable[str] = (),
    level: int = logging.INFO,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every log record of the process, at ``level`` and above, through one formatting handler."""
    handler = make_handler(fmt, secrets=secrets, stream=stream)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # warnings are log lines too, and are redacted like them
    return handler
