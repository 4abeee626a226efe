"""Logging for a service: journald with priorities, and a guard against biometric data in logs.

Where the log goes:
- systemd-python installed and journald wanted: ``systemd.journal.JournalHandler`` (structured);
- else, stderr connected to the journal (``JOURNAL_STREAM`` matches stderr): each line prefixed
  ``<N>`` with its syslog priority, which journald reads (SyslogLevelPrefix=yes, the default);
- else plain text on stderr (a developer's terminal).

:class:`BiometricGuard` sits on every handler: arrays, raw bytes and long runs of numbers (a
frame, a crop, an embedding) never reach a log line, whatever a caller passes.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import IO, Any

from edge.config.schema import LoggingConfig

# logging level -> syslog priority (sd-daemon(3))
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
_MAX_NUMBERS = 16  # a sequence of more numbers than this could be an embedding
_HANDLER_MARK = "_gate_edge_handler"
# A run of more than _MAX_NUMBERS numbers in an already formatted message (an f-string of an
# embedding). Numbers need a separator between them, so the pattern cannot backtrack badly.
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_RUN = re.compile(rf"(?:{_NUMBER}[\s,;\[\]()]+){{{_MAX_NUMBERS},}}{_NUMBER}")
# Attributes every LogRecord has; anything else came through `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def syslog_priority(levelno: int) -> int:
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


def _redaction(value: Any) -> str | None:
    """A placeholder if ``value`` may be biometric data, else None."""
    if hasattr(value, "__array_interface__") or type(value).__module__.startswith("numpy"):
        shape = getattr(value, "shape", None)
        if shape == ():  # numpy scalar: a score, harmless
            return None
        return f"<redacted array shape={shape}>"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<redacted {len(value)} bytes>"
    if (
        isinstance(value, (list, tuple))
        and len(value) > _MAX_NUMBERS
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return f"<redacted {len(value)} numbers>"
    return None


class BiometricGuard(logging.Filter):
    """Replaces arrays, byte payloads and number vectors in a record's message, args and extras.

    The record is kept (the event is still logged) with a placeholder instead of the data.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        placeholder = _redaction(record.msg)
        if placeholder is not None:
            record.msg, record.args = placeholder, None
        if isinstance(record.args, Mapping):
            record.args = {k: _redaction(v) or v for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redaction(v) or v for v in record.args)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                replacement = _redaction(value)
                if replacement is not None:
                    setattr(record, key, replacement)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        if _NUMBER_RUN.search(message):
            record.msg, record.args = _NUMBER_RUN.sub("<redacted numbers>", message), None
        return True


class PriorityPrefixFormatter(logging.Formatter):
    """Prefixes every line with ``<N>`` so journald keeps the priority of multi-line records."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in text.splitlines() or [""])


def stderr_is_journal(env: Mapping[str, str] | None = None, stream: IO[str] | None = None) -> bool:
    """True when stderr is the journal stream systemd connected (JOURNAL_STREAM=dev:inode)."""
    env = os.environ if env is None else env
    value = env.get("JOURNAL_STREAM", "")
    if ":" not in value:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        st = os.fstat(stream.fileno())
        dev, ino = (int(x) for x in value.split(":", 1))
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def _journal_handler() -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="gate-edge")
    return handler


def build_handler(
    cfg: LoggingConfig, env: Mapping[str, str] | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """The handler for this environment (see the module docstring), with the guard attached."""
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    to_journal = stderr_is_journal(env, stream) if cfg.journald is None else cfg.journald
    handler: logging.Handler | None = None
    if to_journal:
        handler = _journal_handler()
    if handler is None:
        handler = logging.StreamHandler(stream)
        if to_journal:
            # journald adds its own timestamp and unit name
            handler.setFormatter(PriorityPrefixFormatter("%(name)s: %(message)s"))
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(BiometricGuard())
    setattr(handler, _HANDLER_MARK, True)
    return handler


def setup_logging(
    cfg: LoggingConfig | None = None, env: Mapping[str, str] | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Install the handler on the root logger; idempotent (call again when `logging` changes live)."""
    cfg = cfg or LoggingConfig.model_validate({})
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    handler = build_handler(cfg, env, stream)
    root.addHandler(handler)
    root.setLevel(cfg.level)
    # paho logs every packet at DEBUG; keep it quieter than our own debug output.
    logging.getLogger("paho").setLevel(max(logging.INFO, root.level))
    return handler
