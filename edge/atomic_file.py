"""The one atomic file writer: the config store's last-known-good file and the model files use it.

Standard library only and importing nothing of edge, so that both edge.config and edge.inference
can depend on it without depending on each other (the architecture contracts in pyproject.toml
keep it at the bottom layer, beside the core); it is also cheap to import in the child process
that derives the runtime model copies.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE = 0o600  # state files: the default, since what the daemon writes may be sensitive
PUBLIC = 0o644  # model files: readable by other users, as the package manager would install them


def atomic_write(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``data`` so that a crash or power cut leaves the old or the new content.

    Temp file in the same directory (a rename is only atomic within one filesystem), fsync, rename,
    then fsync of the directory so the rename itself survives a power cut. The file gets ``mode``
    before any byte is written, so it is never readable more widely than intended.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
