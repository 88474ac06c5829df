"""Code versions for cache keys: a hash of the source of the modules a step runs,
so editing a step's code invalidates exactly that step's cached outputs."""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache

import vidpipe
from vidpipe.hashing import digest


#: what every RGB frame means (decoding, colour conversion): part of every step's key
PIXELS = ("vidpipe.media.reader", "vidpipe.media.colour", "vidpipe.media.tonemap")


@lru_cache(maxsize=None)
def code_version(*modules: str) -> str:
    sources = [inspect.getsource(importlib.import_module(m)) for m in (*modules, *PIXELS)]
    return digest(vidpipe.__version__, *sources)[:16]
