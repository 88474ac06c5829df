"""A run, prepared once (:func:`prepare`): which files to process, each output's name,
each video's plan, and whether an output is already complete for the same input and
settings (so a rerun skips it: with the same key the join would have, never a second
copy of it). The CLI and the flows read the same preparation (:func:`prepared`)."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vidpipe import steps
from vidpipe.config import JobSpec, default_name
from vidpipe.errors import ModelNotAvailable, ProbeError, VidpipeError
from vidpipe.hashing import file_identity
from vidpipe.media import background
from vidpipe.media.encode import read_source, source_id
from vidpipe.media.still import made_by_vidpipe as still_made_by_vidpipe
from vidpipe.models import store
from vidpipe.pipeline import VideoPlan, models, plan_video
from vidpipe.steps.base import TAG_PREFIX
from vidpipe.steps.export_alpha import read_tag
from vidpipe.steps.probe import ProbeWork
from vidpipe.steps.split import SplitWork

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}


def find_videos(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus everything with a video suffix inside named folders
    (recursively, sorted, hidden names skipped): a folder or a broken link with such a
    name is listed too, so the run can say why it is not a video (:func:`not_a_file`).
    A file reached twice (named twice, or named and inside a named folder) is listed once."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(
                f
                for f in p.rglob("*")
                if f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".") and not made_by_vidpipe(f)
            )
        else:
            found.append(p)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(_real(p), p)
    return list(unique.values())


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:  # a link loop: itself
        return path.absolute()


def unusable_name(path: Path) -> str | None:
    """Why ``path``'s name cannot be carried through a run (job parameters and records are
    UTF-8 text), or None. The name is shown with its odd bytes escaped."""
    try:
        str(path).encode("utf-8")
        return None
    except UnicodeEncodeError:
        return f"{shown_path(path)}: the file name is not valid UTF-8 (an odd byte is shown as \\xNN); rename the file"


def shown_path(path: Path) -> str:
    """``path`` as text, a byte that is not UTF-8 written as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _vidpipe_still(path: Path) -> bool:
    """``path`` is a before/after still vidpipe wrote: it holds no name of its own (its video's output does)."""
    return path.name.endswith("_compare.jpg") and still_made_by_vidpipe(path)


def made_by_vidpipe(path: Path) -> bool:
    """A delivered file vidpipe made (it carries its tag): in a folder sweep it is an output,
    never an input (an output folder that is also the input folder is not swept twice)."""
    if not path.is_file():
        return False
    tag = read_tag(path)
    return bool(tag) and tag.startswith(TAG_PREFIX)


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be a video file (a folder, a broken link), or None."""
    if path.is_symlink() and not path.exists():
        return f"{path}: broken link (it points to {os.readlink(path)}, which does not exist)"
    if path.is_dir():
        return f"{path}: is a folder, not a video file"
    return None


def output_names(
    sources: list[str | Path], output_dir: str | Path, listing: tuple[Path, ...] | None = None
) -> dict[Path, str]:
    """The output file name of each input (README, "Output names"). Every output records
    the input that made it (a hash of its path, :func:`~vidpipe.media.encode.source_id`):

    1. an input that already has an output in ``output_dir`` keeps that name (a rerun never
       renames, whatever else is in the run);
    2. a name taken by another input's output is never used (nothing is overwritten);
    3. otherwise ``<stem>_final.mp4``; inputs of one run sharing a stem get
       ``<stem>-<ext>_final.mp4`` where the extension tells them apart, else (or when that
       is taken too) ``<stem>-<8 hex of the input's full path>_final.mp4``.

    Names are compared case-insensitively (macOS and Windows disks). ``listing``: what
    is in ``output_dir`` (:func:`_listing`), when the caller has listed it."""
    paths = [Path(s) for s in sources]
    folder = Path(output_dir)
    listing = _listing(folder) if listing is None else listing
    made = _outputs_by_source(listing)
    # anything there that is not an output of these inputs stays (a still vidpipe made is its video's)
    present = {f.name.casefold() for f in listing if not _vidpipe_still(f)}
    names: dict[Path, str] = {}
    mine = {source_id(p): p for p in paths}
    taken = {name.casefold() for name, sid in made.items() if sid not in mine}
    for name, sid in sorted(made.items()):
        p = mine.get(sid)
        if p is not None and (p not in names or name == default_name(p)):
            names[p] = name
    taken |= {n.casefold() for n in names.values()}
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in paths:
        groups[default_name(p).casefold()].append(p)
    for p in sorted(p for p in paths if p not in names):
        group = groups[default_name(p).casefold()]
        exts = Counter(q.suffix.lower() for q in group)
        ext = p.suffix.lower().lstrip(".")
        candidates = [default_name(p)] if len(group) == 1 else []
        if ext and exts[p.suffix.lower()] == 1:
            candidates.append(f"{p.stem}-{ext}_final.mp4")
        candidates += [_hashed(p, 8), _hashed(p, 16)]
        more = (f"{p.stem}-{source_id(p)[:16]}-{n}_final.mp4" for n in itertools.count(2))
        names[p] = next(
            c for c in itertools.chain(candidates, more) if c.casefold() not in taken and not _family(c) & present
        )
        taken.add(names[p].casefold())
    return names


def _names(name: str) -> list[str]:
    """The files an output called ``name`` makes: itself, the alpha exports and the still beside it."""
    stem = name.removesuffix(".mp4")
    return [
        name,
        f"{stem}_alpha.mov",
        f"{stem}_alpha.webm",
        f"{stem}_alpha",
        f"{stem.removesuffix('_final')}_compare.jpg",
    ]


def _family(name: str) -> set[str]:
    return {n.casefold() for n in _names(name)}


def why_named(source: Path, name: str, output_dir: str | Path) -> str:
    """Why ``source``'s output is not called ``<stem>_final.mp4`` ("" when it is)."""
    default = default_name(source)
    if name == default:
        return ""
    folder = Path(output_dir)
    there = [n for n in _names(default) if (folder / n).exists() and not _vidpipe_still(folder / n)]
    if there and not read_source(folder / default):  # no output of vidpipe's holds the name
        return f"named {name}: {there[0]} is already in {output_dir}, and vidpipe did not make it"
    return f"named {name}: another input also makes {default}"


def _hashed(p: Path, digits: int) -> str:
    return f"{p.stem}-{source_id(p)[:digits]}_final.mp4"  # the same hash the output records


def _listing(folder: Path) -> tuple[Path, ...]:
    """What is in ``folder`` (nothing when it does not exist yet)."""
    try:
        return tuple(sorted(folder.iterdir())) if folder.is_dir() else ()
    except OSError:
        return ()


def _outputs_by_source(listing: tuple[Path, ...]) -> dict[str, str]:
    """Delivered videos among ``listing`` that record their input: name -> source id."""
    found = {}
    for f in listing:
        sid = read_source(f) if f.name.endswith("_final.mp4") and f.is_file() else None
        if sid:
            found[f.name] = sid
    return found


@dataclass
class Video:
    """One input of a run, and once prepared (:meth:`Batch.ready`), its plan. ``skip``: why
    it is not a video file (a folder, a broken link); ``failure``: why it cannot be made
    (an unreadable input, a model that cannot be had), said when the run reaches it."""

    source: Path
    output: Path | None = None
    renamed: str = ""
    plan: VideoPlan | None = None
    skip: str = ""
    failure: VidpipeError | None = None
    identity: tuple = ()  # the input file's identity when it was probed
    prepared: bool = False

    @property
    def error(self) -> str:
        return str(self.failure) if self.failure is not None else ""

    @property
    def shown(self) -> str:
        """The input's path as text (a byte that is not UTF-8 written as \\xNN)."""
        return shown_path(self.source)

    @property
    def current(self) -> bool:
        """Its outputs exist and carry the tags of exactly this plan (the join's key covers
        the input's content, every setting, model file and code): a rerun skips it."""
        return self.plan is not None and carries(self.plan)

    def unchanged(self) -> bool:
        """The input is still the file that was prepared."""
        try:
            return bool(self.identity) and file_identity(self.source) == self.identity
        except OSError:
            return False


@dataclass
class Batch:
    """A run over ``inputs`` into ``out`` with ``spec``: the background checked, the output
    folder listed once and every output named, before any video starts; each video is
    prepared once, when it is first needed (:meth:`ready`). The CLI and the flows read the
    same batch (:func:`using`); nothing re-derives it."""

    spec: JobSpec
    inputs: tuple[str, ...]
    out: Path
    videos: list[Video] = field(default_factory=list)
    listing: tuple[Path, ...] = ()  # what was in ``out``
    _models: dict = field(default_factory=dict, repr=False)  # model name -> None (resolved) or its failure
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def video(self, source: str | Path) -> Video | None:
        return next((v for v in self.videos if v.source == Path(source)), None)

    def ready(self, video: Video, *, again: bool = False) -> Video:
        """``video``, prepared: probed, split, its models resolved, planned, the first time
        it is asked for (``again``: once more, for an input that changed since)."""
        with self._lock:
            if video.skip or (video.prepared and not again):
                return video
            video.plan, video.failure, video.identity = None, None, ()
            _prepare(video, self.spec, self._resolve)
            return video

    def _resolve(self, specs: list) -> None:
        """Each model file once per run: a download that failed is not tried again for the next video."""
        for spec in dict.fromkeys(specs):
            if spec.name not in self._models:
                try:
                    store.resolve([spec])
                    self._models[spec.name] = None
                except ModelNotAvailable as e:
                    self._models[spec.name] = e
            if self._models[spec.name] is not None:
                raise self._models[spec.name]

    @property
    def all_current(self) -> bool:
        """Every video's output is complete for these settings (preparing videos until one is not)."""
        return bool(self.videos) and all(self.ready(v).current for v in self.videos)


def carries(plan: VideoPlan) -> bool:
    """Every delivered file of ``plan`` exists and carries the plan's tag."""
    return all(Path(path).is_file() and read_tag(Path(path)) == tag for path, tag in plan.tags().items())


def check(spec: JobSpec) -> None:
    """What a job's settings name outside themselves (the background file), checked before
    any video starts: one clear error. A file is read once per version of it."""
    if spec.background != "none":
        background.check(spec.background)


def prepare(spec: JobSpec, inputs: list[str | Path], out: str | Path) -> Batch:
    """A run: check the background, find the videos, list ``out`` once and name every
    output. Videos are prepared as they are reached (:meth:`Batch.ready`)."""
    check(spec)
    out = Path(out)
    found = find_videos(list(inputs))
    skip = {v: not_a_file(v) for v in found}
    refuse = {v: unusable_name(v) for v in found if skip[v] is None}
    files = [v for v, why in refuse.items() if why is None]
    listing = _listing(out)
    names = output_names(files, out, listing)
    batch = Batch(spec, tuple(map(str, inputs)), out, listing=listing)
    for src in found:
        if skip[src] is not None:
            batch.videos.append(Video(src, skip=skip[src], prepared=True))
        elif refuse[src] is not None:  # refused by name; the others go on
            batch.videos.append(Video(src, failure=ProbeError(refuse[src]), prepared=True))
        else:
            batch.videos.append(Video(src, out / names[src], why_named(src, names[src], out)))
    return batch


def prepare_video(source: str | Path, output: str | Path, spec: JobSpec, renamed: str = "") -> Video:
    """One video on its own (a run started from the UI or the API): see :func:`_prepare`."""
    video = Video(Path(source), Path(output), renamed)
    _prepare(video, spec, store.resolve)
    return video


def _prepare(video: Video, spec: JobSpec, resolve) -> None:
    """Probe and split the input, resolve the model files its steps load (found, else
    downloaded, with progress) and plan every unit: after this, nothing opens a network
    connection or decides anything again for this video."""
    source = video.source
    try:
        try:
            before = file_identity(source)
        except OSError:
            before = None  # the probe says why, in its own words
        info = steps.get("probe").run(ProbeWork(str(source)))
        video.identity = file_identity(source)
        if video.identity != before:
            raise ProbeError(
                f"{source}: changed while it was read (still being copied?); run again when it is complete"
            )
        resolve(models(spec, info))
        split = steps.get("split")
        video.plan = plan_video(info, split.run(SplitWork(info, split.configure(spec, info))), spec, video.output)
    except VidpipeError as e:
        video.failure = e
    except OSError as e:  # the input is unreadable or gone
        video.failure = ProbeError(f"{source}: {e.strerror or e}")
    finally:
        video.prepared = True


_prepared: dict[tuple, list] = {}  # run key -> [batch, how many blocks use it]
_prepared_lock = threading.Lock()


def _batch_key(spec: JobSpec, inputs, out) -> tuple:
    return spec.model_dump_json(), tuple(map(str, inputs)), str(Path(out).resolve())


@contextlib.contextmanager
def using(batch: Batch) -> Iterator[Batch]:
    """Within this block, :func:`prepared` hands ``batch`` (and its videos) to whoever
    asks for the same run: the CLI prepares, the flows it starts take it as it is."""
    key = _batch_key(batch.spec, batch.inputs, batch.out)
    with _prepared_lock:
        entry = _prepared.get(key)
        if entry is not None and entry[0] is batch:
            entry[1] += 1
        else:
            _prepared[key] = [batch, 1]
    try:
        yield batch
    finally:
        with _prepared_lock:
            entry = _prepared.get(key)
            if entry is not None and entry[0] is batch:
                entry[1] -= 1
                if entry[1] == 0:
                    del _prepared[key]


def prepared(spec: JobSpec, inputs, out) -> Batch:
    """The batch of this run: the one in use (:func:`using`), else prepared now."""
    with _prepared_lock:
        entry = _prepared.get(_batch_key(spec, inputs, out))
    return entry[0] if entry is not None else prepare(spec, inputs, out)


def prepared_video(source: str | Path, output: str | Path, spec: JobSpec) -> Video:
    """One video of a batch in use, if it is that same file with the same output and
    settings; else prepared now (a run started on its own: the UI, the API)."""
    with _prepared_lock:
        batches = [entry[0] for entry in _prepared.values()]
    for batch in batches:
        video = batch.video(source)
        if video is None or batch.spec != spec or video.output != Path(output):
            continue
        batch.ready(video)
        if video.failure is not None or video.unchanged():
            return video
        return batch.ready(video, again=True)
    return prepare_video(source, output, spec)


def segments_kept(batch: Batch) -> tuple[int, int]:
    """(finished, all) segments of the first per-segment step, over the videos the run
    reached and did not finish: what a rerun takes from the cache."""
    from vidpipe import telemetry

    kept = total = 0
    for video in batch.videos:
        plan = video.plan
        if plan is None or not plan.segment_steps or video.current:
            continue
        units = plan.of(plan.segment_steps[0])
        kept += sum(1 for u in units if u.plan is not None and telemetry.finished(u.plan.out))
        total += len(units)
    return kept, total
