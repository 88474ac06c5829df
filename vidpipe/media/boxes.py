"""The few ISO-BMFF (MP4/MOV) boxes FFmpeg reads but PyAV does not show: found in the
``moov`` box, whose top-level position is found by walking box sizes (no full read)."""

from __future__ import annotations

from pathlib import Path

MOOV_LIMIT = 64 << 20


def moov(path: str | Path) -> bytes | None:
    """The body of the file's ``moov`` box (at most 64 MB), or None."""
    try:
        with open(path, "rb") as f:
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return None
                size, kind, header = int.from_bytes(head[:4], "big"), head[4:], 8
                if size == 1:
                    size, header = int.from_bytes(f.read(8), "big"), 16
                if kind == b"moov":
                    return f.read(min(size - header if size else MOOV_LIMIT, MOOV_LIMIT))
                if size == 0 or size < header:
                    return None
                f.seek(size - header, 1)
    except OSError:
        return None


def edit_lists(data: bytes) -> list[tuple[int, int]]:
    """Every ``elst`` entry in ``data`` as (segment duration, media time): media time -1
    is an empty edit; a positive one skips that much of the track's start."""
    out, at = [], data.find(b"elst")
    while 4 <= at <= len(data) - 12:
        version = data[at + 4]
        count = int.from_bytes(data[at + 8 : at + 12], "big")
        pos, width = at + 12, 8 if version == 1 else 4
        for _ in range(min(count, 1024)):
            duration = int.from_bytes(data[pos : pos + width], "big")
            media_time = int.from_bytes(data[pos + width : pos + 2 * width], "big", signed=True)
            out.append((duration, media_time))
            pos += 2 * width + 4
        at = data.find(b"elst", at + 4)
    return out
