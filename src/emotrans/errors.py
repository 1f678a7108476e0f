"""Errors a user can act on.

Every error raised because of the user's input (a file, a flag, a name) derives from
:class:`EmotransError`; the CLI prints its message on one line and exits with status 2.
Anything else escaping the library is a bug.
"""

from __future__ import annotations


class EmotransError(Exception):
    """Base class of all user-facing errors."""


class DataFormatError(EmotransError):
    """A data file is missing, truncated, of the wrong format, or inconsistent.

    The message names the file and the problem, e.g.
    ``"ey_valid.h5: 3 label rows but 1871 samples in text_valid_emb.h5"``.
    """


class EmbeddingError(EmotransError):
    """An embedding source cannot be read, or does not know an emotion name."""


class ConfigError(EmotransError):
    """A setting, flag or configuration file is invalid."""


class RunDirError(EmotransError):
    """A run directory is missing, incomplete, or does not match the request."""


class MediaError(EmotransError):
    """A media file cannot be decoded, is empty or too long, or an extractor failed on it.

    The message names the file and the problem, e.g. ``"clip3.mp4: no audio stream"``.
    """
