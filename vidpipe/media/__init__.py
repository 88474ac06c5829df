"""Media I/O on PyAV (in-process FFmpeg): probe, split, the frame loop, join."""
