"""Logging: journald priority prefixes when stderr is the journal, plain text otherwise, and no
biometric data (arrays, bytes, number vectors) in any log line."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.config.schema import LoggingConfig
from edge.system.logsetup import BiometricGuard, setup_logging, stderr_is_journal, syslog_priority


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(BiometricGuard())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _capture(record_args: tuple[object, ...], msg: object = "value %s", **extra: object) -> str:
    """The formatted message, plus repr of any extra attributes, as a handler would see them."""
    handler = _Keep()
    log = logging.getLogger("test.guard")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning(msg, *record_args, extra=extra or None)
    finally:
        log.removeHandler(handler)
    (record,) = handler.records
    return " ".join([record.getMessage(), *(repr(getattr(record, k)) for k in extra)])


def test_guard_redacts_arrays_bytes_and_vectors() -> None:
    rng = np.random.default_rng(1)
    embedding = rng.standard_normal(128).astype(np.float32)
    frame = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
    out = _capture((embedding,))
    assert out == "value <redacted array shape=(128,)>"
    assert "redacted array" in _capture((frame,))
    assert "redacted 6 bytes" in _capture((b"\xff\xd8\xff\xe0JF",))
    assert "redacted 128 numbers" in _capture((embedding.tolist(),))
    assert "redacted" in _capture((), msg=embedding)
    formatted = _capture((), msg=f"emb {embedding.tolist()}")  # formatted before logging
    assert "redacted numbers" in formatted and str(embedding.tolist()[5])[:6] not in formatted
    extra_out = _capture((), msg="crop", crop=frame)
    assert extra_out == "crop '<redacted array shape=(4, 4, 3)>'"


def test_guard_keeps_ordinary_values() -> None:
    out = _capture((np.float32(0.71), "BA117", 3), msg="score %.2f flight %s frames %d")
    assert out.startswith("score 0.71 flight BA117 frames 3")
    assert "numbers" not in _capture((list(range(5)),))


def test_priorities() -> None:
    assert [syslog_priority(lv) for lv in (10, 20, 30, 40, 50)] == [7, 6, 4, 3, 2]


def test_prefixes_when_stderr_is_the_journal_stream(tmp_path: Path, restore_root: None) -> None:
    path = tmp_path / "stream"
    with path.open("w+") as stream:
        st = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert stderr_is_journal(env, stream)
        setup_logging(LoggingConfig(level="DEBUG"), env=env, stream=stream)
        log = logging.getLogger("gate")
        log.info("ready")
        log.warning("camera degraded")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("frame loop failed")
        log.debug("emb %s", np.ones(128, np.float32))
        stream.flush()
        lines = path.read_text().splitlines()
    assert lines[0] == "<6>gate: ready" and lines[1] == "<4>gate: camera degraded"
    assert lines[2] == "<3>gate: frame loop failed"
    traceback_lines = [ln for ln in lines[3:] if not ln.startswith("<7>")]
    assert traceback_lines and all(ln.startswith("<3>") for ln in traceback_lines)  # one entry per line
    assert lines[-1].startswith("<7>gate: emb <redacted array")


def test_plain_text_outside_systemd(restore_root: None) -> None:
    stream = io.StringIO()
    assert not stderr_is_journal({"JOURNAL_STREAM": "1:2"}, stream)  # no fileno: not the journal
    setup_logging(LoggingConfig(level="INFO"), env={}, stream=stream)
    setup_logging(LoggingConfig(level="WARNING"), env={}, stream=stream)  # live change: one handler
    logging.getLogger("gate").warning("hello")
    logging.getLogger("gate").info("hidden")
    text = stream.getvalue()
    assert text.count("hello") == 1 and "hidden" not in text and not text.startswith("<")
