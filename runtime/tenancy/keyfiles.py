"""Secrets at rest: keys are kept as sha256 hashes in the database, and the few a server makes
for its operator (the default tenant's key, the operator key) in 0600 files of its data dir."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_private(path: Path, text: str) -> None:
    """`text` in `path`, readable by this user only (0600), replaced atomically.

    The temporary file is a new one of its own (mkstemp: 0600, O_EXCL), so a file or symlink
    left at a fixed name is never written through, and two processes writing at once do not
    share one; it is flushed to disk before it replaces `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_private(path: Path) -> str | None:
    """The first line of `path`, or None when there is no such file or it is empty."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
