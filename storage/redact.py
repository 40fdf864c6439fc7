"""Take secrets out of free text before it is kept or shown: notes, step errors, exported timelines.

A person pasting a kubeconfig or an ``etcdctl`` command line into a note at 3 a.m. must not have the
credential end up in the timeline, in Slack or in a postmortem document. Redaction is pattern-based and
errs on the side of hiding too much: a hidden word costs a reader a moment, a leaked key costs a
rotation. It lives in storage (and needs nothing but :mod:`re`) so every layer can use it.

Each rule keeps what tells the reader *what* was there (``password=``, ``Bearer``, the user of a URL)
and replaces only the secret with :data:`REDACTED`. Applying :func:`redact` twice changes nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable

REDACTED = "«redacted»"

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]{1,64}-----"  # any PEM label: keys, certificates, CSRs
    r"(?:.*?-----END [A-Z0-9 ]{1,64}-----|.*\Z)",  # to its END line, or to the end of a cut-off text
    re.DOTALL,
)
# Base64 of "-----BEGIN": a PEM inside a kubeconfig (client-key-data) or a Secret's data.
_PEM_BASE64 = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=]*")
_SLACK_TOKEN = re.compile(r"\bxox[abposre]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+")
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")  # service-account tokens
_OPENSHIFT_TOKEN = re.compile(r"\bsha256~[A-Za-z0-9_-]{20,}")  # `oc whoami -t`
_AUTH_HEADER = re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(?=@)", re.IGNORECASE)
_SECRET_WORDS = r"(?:token|passw(?:or)?d|pwd|secret|api[_-]?key|access[_-]?key|credentials?)"  # noqa: S105 - names, not a value
# `password=x`, `--token x`, `aws_secret_access_key = x`, `"client_secret": "x"`, `token: x` (YAML)
_KEY_VALUE = re.compile(
    rf"((?<![\w.-])[\w.-]*{_SECRET_WORDS}[\w.-]*[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"',;&}}\]]+)",
    re.IGNORECASE,
)
_FLAG_VALUE = re.compile(rf"(--[\w-]*{_SECRET_WORDS}[\w-]*\s+)([^\s-][^\s]*)", re.IGNORECASE)
# A Kubernetes Secret's values: `"data": {"k": "v"}` in JSON, an indented block under `data:` in YAML.
_JSON_DATA = re.compile(r"(\"(?:data|stringData)\"\s*:\s*\{)([^{}]*)(\})")
_JSON_STRING_VALUE = re.compile(r"(\"[^\"]*\"\s*:\s*)\"[^\"]*\"")
_YAML_DATA = re.compile(r"^(?P<indent>[ \t]*)(?:data|stringData):[ \t]*$")
_YAML_ENTRY = re.compile(r"^(?P<key>[ \t]*[\w.-]+:[ \t]*)(?P<value>\S.*)$")


def _keep_key(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def _json_data(match: re.Match[str]) -> str:
    inner = _JSON_STRING_VALUE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', match.group(2))
    return f"{match.group(1)}{inner}{match.group(3)}"


def _yaml_data(text: str) -> str:
    """Redact every value indented under a ``data:``/``stringData:`` line."""
    lines = text.split("\n")
    block_indent: int | None = None
    for i, line in enumerate(lines):
        if block_indent is not None:
            indent = len(line) - len(line.lstrip(" \t"))
            if line.strip() and indent > block_indent:
                lines[i] = _YAML_ENTRY.sub(lambda m: f"{m.group('key')}{REDACTED}", line)
                continue
            if line.strip():
                block_indent = None
        opened = _YAML_DATA.match(line)
        if opened:
            block_indent = len(opened.group("indent"))
    return "\n".join(lines)


RULES: tuple[Callable[[str], str], ...] = (
    lambda text: _PEM.sub(REDACTED, text),
    lambda text: _PEM_BASE64.sub(REDACTED, text),
    lambda text: _SLACK_TOKEN.sub(REDACTED, text),
    lambda text: _AWS_ACCESS_KEY.sub(REDACTED, text),
    lambda text: _JWT.sub(REDACTED, text),
    lambda text: _OPENSHIFT_TOKEN.sub(REDACTED, text),
    lambda text: _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text),
    lambda text: _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED, text),
    lambda text: _JSON_DATA.sub(_json_data, text),
    _yaml_data,
    lambda text: _FLAG_VALUE.sub(lambda m: m.group(1) + REDACTED, text),
    lambda text: _KEY_VALUE.sub(_keep_key, text),
)


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by :data:`REDACTED`."""
    for rule in RULES:
        text = rule(text)
    return text


def was_redacted(text: str) -> bool:
    """Whether :func:`redact` would change ``text`` (to tell a person their note held a secret)."""
    return redact(text) != text
