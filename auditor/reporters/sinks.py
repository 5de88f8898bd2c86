"""Atomic writes: a report file is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from auditor.errors import ReporterError

_SLICE = 1 << 20


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    # In slices, so that the encoded copy of a large report never exists whole in memory.
    write_atomic_chunks(path, (text[start : start + _SLICE] for start in range(0, len(text), _SLICE)))


def write_atomic_chunks(path: Path, chunks: Iterable[str] | Iterable[bytes]) -> None:
    """Like `write_atomic`, for a report produced in pieces (text or UTF-8 bytes) as it is rendered."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ReporterError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ReporterError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:  # the renderer failed or was interrupted: no half-written report is left
        Path(temp).unlink(missing_ok=True)
        raise
