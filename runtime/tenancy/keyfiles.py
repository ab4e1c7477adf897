"""Secrets at rest: keys are kept as sha256 hashes in the database, and the few a server makes
for its operator (the default tenant's key, the operator key) in 0600 files of its data dir."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_private(path: Path, text: str) -> None:
    """`text` in `path`, readable by this user only (0600), replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_private(path: Path) -> str | None:
    """The first line of `path`, or None when there is no such file or it is empty."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
