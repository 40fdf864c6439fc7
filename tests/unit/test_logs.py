"""The log formatters: the fields of a JSON line, the run bound by the engine, and redaction of every line."""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.logs import JsonFormatter, Scrubber, TextFormatter, configure_logging, make_handler, secret_values
from bot.settings import Settings
from runner import log_context
from storage.redact import REDACTED

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAcanarykeybody\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
SIGNING_SECRET = "0123456789abcdef0123456789abcdef"  # no pattern would know it for a secret


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("runner.engine", logging.WARNING, __file__, 1, message, args, exc_info)


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    handler = make_handler("json", secrets=[SIGNING_SECRET], stream=stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_a_json_line_has_time_level_logger_and_message() -> None:
    line = json.loads(JsonFormatter().format(_record("run %s failed: %s", "r-abcde", "no answer")))
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "WARNING" and line["logger"] == "runner.engine"
    assert line["message"] == "run r-abcde failed: no answer"
    assert line["time"].endswith("+00:00") and "T" in line["time"]


def test_the_run_bound_by_the_engine_is_on_each_line_and_only_while_it_runs(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture

    def step() -> None:
        log_context.bind(run_id="r-abcde", cluster="lab", procedure="backup", step="snapshot")
        logger.info("taking the snapshot")

    contextvars.copy_context().run(step)
    logger.info("between runs")
    during, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert during["run_id"] == "r-abcde" and during["cluster"] == "lab"
    assert during["procedure"] == "backup" and during["step"] == "snapshot"
    assert "run_id" not in after and "cluster" not in after
    with pytest.raises(TypeError, match="unknown log field"):
        log_context.bind(user="alice")


def test_messages_and_tracebacks_are_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.warning("kubeconfig says token: sha256~abcdefghijklmnopqrstuvwxyz and key %s", PEM)
    try:
        raise RuntimeError(f"Slack refused xoxb-1234-5678-abcdef; signing secret {SIGNING_SECRET}")
    except RuntimeError:
        logger.exception("relay failed")
    text = stream.getvalue()
    for secret in ("sha256~abcdefghij", "canarykeybody", "xoxb-1234", SIGNING_SECRET):
        assert secret not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["message"].count(REDACTED) == 2
    assert "RuntimeError" in second["exception"] and REDACTED in second["exception"]


def test_the_text_format_is_redacted_too_and_names_the_run() -> None:
    formatter = TextFormatter([SIGNING_SECRET])

    def format_in_run() -> str:
        log_context.bind(run_id="r-abcde", cluster="lab")
        return formatter.format(_record("secret=%s bearer Bearer abcdefghijklmnop", SIGNING_SECRET))

    text = contextvars.copy_context().run(format_in_run)
    assert "WARNING runner.engine: secret=" in text and "[run_id=r-abcde cluster=lab]" in text
    assert SIGNING_SECRET not in text and "abcdefghijklmnop" not in text


def test_the_secrets_of_the_settings_are_scrubbed_by_value() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr("xoxb-from-settings-0000"),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_app_token=SecretStr("short"),
        database_url="postgresql+psycopg://etcdops:pg%2Fpassw0rd-4242@db:5432/etcdops",
    )
    values = secret_values(settings)
    assert set(values) == {"xoxb-from-settings-0000", SIGNING_SECRET, "short", "pg/passw0rd-4242"}
    scrub = Scrubber(values)
    assert scrub(f"a {SIGNING_SECRET} b") == f"a {REDACTED} b"
    assert scrub("a short word") == "a short word", "a secret too short to be told from words is left"
    assert SIGNING_SECRET not in repr(settings) and SIGNING_SECRET not in str(settings.model_dump())


def test_configure_logging_sends_everything_through_one_formatter() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    try:
        configure_logging("json", secrets=[SIGNING_SECRET], stream=stream)
        # a library's logger, not one a test set a level on (as Bolt does on its apps' loggers)
        logging.getLogger("some_library.client").info("connected with %s", SIGNING_SECRET)
        logging.getLogger("noisy").debug("not at INFO")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.captureWarnings(False)
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == f"connected with {REDACTED}"
