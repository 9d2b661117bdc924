"""Logging for production: JSON lines on stdout, and secrets redacted from every record.

``JsonFormatter`` writes one JSON object per line (timestamp, level, logger, message and any
``extra=`` fields such as the request middleware's ``request_id``/``user``/``path``/``status``/
``duration_ms``), which log shippers ingest without parsing rules. ``RedactSecretsFilter`` is
attached to the handler, so it sees records from every logger (Django's, gunicorn's, ours) and
replaces API tokens, ``Authorization`` header values, passwords and similar before anything
is formatted. See docs/operations.md "Logs" and docs/security.md.
"""

import datetime
import json
import logging
import re

REDACTED = "[REDACTED]"

#: Values after these words are secrets (``Authorization: Token k.s``, ``password=…``, ``"secret": "…"``).
_KEYED = re.compile(
    r"""(?ix)
    (?P<key>authorization|proxy-authorization|http_authorization|cookie|x-api-key|
        password|passwd|secret|secret_key|api_token_pepper|token|sessionid|csrftoken|csrfmiddlewaretoken)
    (?P<sep>["']?\s*[:=]\s*["']?)
    (?P<value>(?:(?:token|bearer|basic)\s+)?[^\s"',;&}]+)
    """
)
#: API token plaintexts (``<12 lowercase/digit key>.<43 url-safe chars>``, cases/services/tokens.py) anywhere.
_API_TOKEN = re.compile(r"\b[a-z0-9]{12}\.[A-Za-z0-9_-]{32,}")
#: Bare ``Token …``/``Bearer …`` credentials.
_SCHEME = re.compile(r"(?i)\b(token|bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}")
#: PostgreSQL/other URLs with a password: postgres://user:secret@host
_URL_PASSWORD = re.compile(r"(?P<prefix>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")

_STANDARD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[REDACTED]``."""
    if not text:
        return text
    text = _KEYED.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)
    text = _API_TOKEN.sub(REDACTED, text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group('prefix')}{REDACTED}@", text)


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if _KEYED.fullmatch(f"{k}=x") else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record in place: the formatted message, exception text and string extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log it as given rather than lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and key != "request":
                setattr(record, key, _redact_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra`` fields become top-level keys (non-JSON values as strings)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_") or key in ("request", "server_time"):
                continue
            entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)
