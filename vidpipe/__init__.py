"""vidpipe: an open video-enhancement pipeline (the engine; never imports Prefect)."""

__version__ = "0.1.0"
