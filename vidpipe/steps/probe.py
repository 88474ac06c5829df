"""probe: what the input is (size, rotation, rate, frames, audio) and its content hash,
which roots every cache key. Not cached: it is what proves the file is still the same
file. The decoding lives in :mod:`vidpipe.media.probe`."""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.errors import ProbeError
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
        info = probe(work.path)
        if info.hdr.startswith("Dolby Vision") and info.hdr.endswith("(base: none)"):
            # profile 5: the picture is in Dolby's IPTPQc2, shown right only through its RPU
            raise ProbeError(
                f"{info.path}: {info.hdr.split(' (')[0]} has no standard base layer (its picture is "
                "coded in Dolby's own colour space, which only a Dolby Vision decoder shows right): "
                "vidpipe cannot convert it; export it as HDR10, HLG or SDR and run that"
            )
        return info


STEP = Probe()
