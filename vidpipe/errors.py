"""One root error; each subclass also inherits the builtin that fits, so callers can
catch at the level they understand. Messages name the file and say what to do."""

from __future__ import annotations


def one_line(e: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, for errors from libraries shown to the user."""
    text = " ".join(str(e).split()) or "no message"
    return f"{type(e).__name__}: {text[:limit]}"


class VidpipeError(Exception):
    """Root of every error vidpipe raises on purpose."""

    #: bad input is never retried; transient errors may be
    transient = False


class ProbeError(VidpipeError, ValueError):
    """The file is not a decodable video (empty, truncated, not media, audio only...)."""


class MediaError(VidpipeError, RuntimeError):
    """Decoding or encoding failed in the middle of a job."""


class SyncError(MediaError):
    """The joined output disagrees with the input (frames, duration or audio)."""


class ConfigError(VidpipeError, ValueError):
    """A setting is out of range or inconsistent."""


class ModelNotAvailable(VidpipeError, FileNotFoundError):
    """A model file cannot be found, and cannot be fetched here."""


class OutputError(VidpipeError, OSError):
    """The output folder cannot be written."""


class StepFailed(VidpipeError, RuntimeError):
    """A library a step runs (ncnn, ONNX Runtime, torch, FFmpeg) raised something
    vidpipe did not expect: one line naming the file, the step and the library's words."""


class Interrupted(VidpipeError):
    """The user asked to stop (Ctrl-C, SIGTERM): raised between frames, never retried."""


class OutOfMemory(VidpipeError, MemoryError):
    """A backend ran out of (GPU) memory on one forward pass; retry with smaller tiles."""

    transient = True
