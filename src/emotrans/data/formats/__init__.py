"""Dataset formats, one module each, and their registry.

======================== =========================================================================
module                   formats
======================== =========================================================================
:mod:`.mosei_h5`         ``mosei-h5``: CMU-MOSEI emotion, ``{text_*_emb,audio_*,video_*,ey_*}.h5``
:mod:`.mult_pickle`      ``mult``, ``mult-noalign``: MulT pickles ``*_data[_noalign].pkl``
:mod:`.iemocap9`         ``iemocap9``: IEMOCAP 9-emotion Python-2 pickles ``{text,covarep,...}_*.p``
:mod:`.native`           ``native``: one emotrans ``.h5`` file that round-trips a Dataset
:mod:`.y_h5`             ``y-h5``: ``{text_*_emb,audio_*,video_*}.h5`` + ``y_*.h5`` (sentiment, 3 classes)
:mod:`.mfn_xy`           ``mfn-xy``: MFN's CMU-MOSI ``X_*.h5`` / ``y_*.h5`` (concatenated features)
======================== =========================================================================

Each module declares a :class:`Format` (name, description, ``detect``, ``load``, ``write``,
``label_order``); :mod:`.registry` lists them. See docs/design.md, "Formats and label orders".
"""

from __future__ import annotations

from emotrans.data.formats.base import Format
from emotrans.data.formats.registry import (
    BUILTIN,
    FORMAT_NAMES,
    detect,
    formats,
    get_format,
    normalise_name,
    register_format,
    unregister_format,
    writable_formats,
)

__all__ = [
    "BUILTIN",
    "FORMAT_NAMES",
    "Format",
    "detect",
    "formats",
    "get_format",
    "normalise_name",
    "register_format",
    "unregister_format",
    "writable_formats",
]
