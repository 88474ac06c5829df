"""probe: what the input is (size, rotation, rate, frames, audio) and its content hash,
which roots every cache key. Not cached: it is what proves the file is still the same
file. The decoding lives in :mod:`vidpipe.media.probe`."""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.media.probe import MediaInfo, probe
from vidpipe.steps.base import Needs, Step


@dataclass(frozen=True)
class ProbeWork:
    path: str

    @property
    def label(self) -> str:
        return self.path


class Probe(Step):
    name = "probe"
    needs = Needs(cached=False)

    def run(self, work: ProbeWork, plan=None, on_frame=None) -> MediaInfo:
        return probe(work.path)


STEP = Probe()
