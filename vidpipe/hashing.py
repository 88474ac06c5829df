"""Content hashes for cache keys, streamed (videos can be gigabytes) and memoized on
the file's identity (device, inode, size, mtime), so a re-run does not re-read inputs."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

_CHUNK = 8 << 20
_lock = threading.Lock()
_memo: dict[tuple, str] = {}


def file_identity(path: Path) -> tuple:
    """What changes when a file is replaced or rewritten: path, device, inode, size, mtime."""
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes, read in 8 MiB chunks."""
    path = Path(path)
    ident = file_identity(path)
    with _lock:
        if ident in _memo:
            return _memo[ident]
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _lock:
        _memo[ident] = digest
    return digest


def digest(*parts: object) -> str:
    """A stable sha256 of JSON-encodable parts (dicts are key-sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
