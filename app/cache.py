"""``vidpipe cache`` and ``vidpipe cache prune``: what the work folder keeps per video and
step, and freeing it (see ``vidpipe.intermediates``)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

import typer

from vidpipe import intermediates
from vidpipe.errors import VidpipeError
from vidpipe.paths import work_dir


def rows() -> list[dict]:
    """Per video and step: segment files, bytes and last use."""
    grouped: dict[tuple[str, str], list] = defaultdict(list)
    for e in intermediates.entries():
        grouped[(e.video, e.step)].append(e)
    return [
        {
            "video": video,
            "source": intermediates.source_of(video),
            "step": step,
            "files": len(items),
            "bytes": sum(e.size for e in items),
            "last_used": max(e.used for e in items),
        }
        for (video, step), items in sorted(grouped.items(), key=lambda kv: -max(e.used for e in kv[1]))
    ]


def video_ids(path: Path) -> list[str]:
    """The work folders made from ``path``: its content hash, every folder made from that
    input (a video that is gone, or has changed since), or the id ``vidpipe cache`` shows."""
    listed = {r["video"]: r["source"] for r in rows()}
    found = set()
    if path.is_file():
        from vidpipe.hashing import file_sha256

        found.add(file_sha256(path)[:16])
    resolved = str(path.resolve())
    found |= {video for video, source in listed.items() if source == resolved}
    prefix = [video for video in listed if len(str(path)) >= 4 and video.startswith(str(path))]
    if len(prefix) == 1:
        found.add(prefix[0])
    if not found:
        raise VidpipeError(f"{path}: no such file, and no intermediates were made from it")
    return sorted(found)


def register(app: typer.Typer, err, fail) -> None:
    cache_app = typer.Typer(help="What the work folder keeps (per video and step), and freeing it.")
    app.add_typer(cache_app, name="cache")

    @cache_app.callback(invoke_without_command=True)
    def show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """List the intermediates kept per video and step, with sizes and last use."""
        if ctx.invoked_subcommand:
            return
        listed = rows()
        held = sum(r["bytes"] for r in listed)
        if as_json:
            print(
                json.dumps(
                    {"work_dir": str(work_dir()), "cap_bytes": intermediates.cap(held), "rows": listed}, indent=2
                )
            )
            return
        fmt = intermediates.fmt_bytes
        files = sum(r["files"] for r in listed)
        print(f"{work_dir()}: {fmt(held)} in {files} segment files, under {intermediates.cap_text(held)}")
        if not listed:
            return
        print(f"{'video (id)':44} {'step':14} {'segments':>8} {'size':>9}  last used")
        previous = None
        for r in listed:
            name = "" if r["video"] == previous else f"{Path(r['source']).name or '?'} ({r['video']})"
            previous = r["video"]
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["last_used"]))
            print(f"{_cut(name, 44):44} {r['step']:14} {r['files']:8d} {fmt(r['bytes']):>9}  {when}")

    @cache_app.command("prune")
    def prune(
        older_than: Optional[str] = typer.Option(
            None, "--older-than", help="Only files unused for this long: 7d, 12h, 30m."
        ),
        video: Optional[Path] = typer.Option(
            None, "--video", help="Only this video's files (its path, or the id listed)."
        ),
    ) -> None:
        """Remove kept intermediates (all, or the filtered ones); a running job's are kept.
        Delivered files are never touched; a later run recomputes what it needs."""
        try:
            age = intermediates.parse_age(older_than) if older_than else None
            which = video_ids(video) if video else [None]
        except VidpipeError as e:
            fail(str(e))
        freed = intermediates.Freed()
        for one in which:
            freed += intermediates.prune(age, one)
        busy = (
            f"; kept {intermediates.fmt_bytes(freed.busy_bytes)} in {freed.busy_files} files a running job holds"
            if freed.busy_files
            else ""
        )
        err.print(f"freed {intermediates.fmt_bytes(freed.bytes)} in {freed.files} segment files{busy}", highlight=False)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
