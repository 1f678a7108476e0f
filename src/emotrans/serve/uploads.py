"""Receiving an upload: a multipart form streamed to a private folder in chunks (never held
whole in memory, refused with 413 as soon as it passes the size limit), and the container
checks that come before any decoding (the bytes' magic numbers, not the file name).

Nothing here imports the web framework: the functions take the request's chunks.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from emotrans.serve.problems import RequestError

SNIFF_BYTES = 64
"""How many leading bytes :func:`sniff_container` looks at."""

MAX_FIELD_BYTES = 64 * 1024
"""Largest text field of a form (emotion names, transcript)."""

DECLARED_TYPES = ("video/", "audio/", "application/octet-stream", "application/mp4")
"""Content types a clip's part may declare (or none): a browser names a video ``video/...``."""

CONTAINERS = (
    "MP4/MOV (ISO BMFF)",
    "Matroska/WebM",
    "AVI",
    "WAV",
    "FLAC",
    "MP3",
    "Ogg",
    "MPEG-PS/TS",
    "AAC (ADTS)",
)
"""What :func:`sniff_container` recognises, as shown in a 415 message."""

_SAFE_NAME = re.compile(r"[^\w .()+,-]")


@dataclass
class UploadedFile:
    """A file part written to disk: ``path`` (in the request's private folder), the name the
    client gave (``filename``, made safe to show), its declared ``content_type`` and ``size``
    in bytes."""

    path: Path
    filename: str
    content_type: str
    size: int = 0


@dataclass
class Form:
    """A parsed multipart form: its text ``fields`` and its ``files`` by field name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


def safe_name(name: str, default: str = "upload") -> str:
    """A client's file name as it may be shown back: the last path part, printable, at most
    80 characters."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    base = _SAFE_NAME.sub("_", base)[:80]
    return base or default


def sniff_container(head: bytes) -> str | None:
    """The media container that ``head`` (a file's first :data:`SNIFF_BYTES` bytes) starts,
    one of :data:`CONTAINERS`, or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "MP4/MOV (ISO BMFF)"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "MP4/MOV (ISO BMFF)"  # QuickTime files without an ftyp box
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska/WebM"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith((b"RIFF", b"RF64")) and head[8:12] == b"WAVE":
        return "WAV"
    if head.startswith(b"fLaC"):
        return "FLAC"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE6 == 0xE2):
        return "MP3"  # an ID3 tag, or an MPEG-1/2 layer III frame sync
    if head.startswith(b"OggS"):
        return "Ogg"
    if head.startswith(b"\x00\x00\x01\xba") or (len(head) > 188 and head[0] == head[188] == 0x47):
        return "MPEG-PS/TS"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "AAC (ADTS)"
    return None


def looks_like_text(head: bytes) -> bool:
    """Whether ``head`` is plain text (UTF-8 without control bytes other than whitespace)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the window is still text
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(c.isprintable() or c in "\t\r\n\f" for c in text)


def check_clip(upload: UploadedFile) -> str:
    """The container of an uploaded clip, after the checks that need no decoder.

    Raises
    ------
    RequestError : 400 for an empty file; 415 for a declared content type that is not media,
        or bytes that start no known container (a text file named .mp4 says so)
    """
    name = upload.filename
    if upload.size == 0:
        raise RequestError(400, f"{name}: empty file (0 bytes)")
    declared = upload.content_type.split(";")[0].strip().lower()
    if declared and not declared.startswith(DECLARED_TYPES):
        raise RequestError(
            415,
            f"{name}: content type {declared} is not audio or video (send the clip as "
            "video/*, audio/* or application/octet-stream)",
        )
    with upload.path.open("rb") as f:
        head = f.read(max(SNIFF_BYTES, 189))
    container = sniff_container(head)
    if container is None:
        said = Path(name).suffix.lower()
        what = "plain text" if looks_like_text(head) else "no known media container"
        named = f" despite its {said} name" if said else ""
        raise RequestError(
            415,
            f"{name}: the file is {what}{named}; send a video or audio clip "
            f"({', '.join(CONTAINERS)})",
        )
    return container


class _FormWriter:
    """The callbacks of python-multipart's streaming parser: text fields kept (bounded), file
    parts written to ``folder`` as they arrive."""

    def __init__(self, folder: Path, max_field: int) -> None:
        self.folder = folder
        self.max_field = max_field
        self.form = Form()
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""
        self._name: str | None = None
        self._file: BinaryIO | None = None
        self._upload: UploadedFile | None = None
        self._text: bytearray | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        key = self._field.decode("latin-1").strip().lower()
        self._headers[key] = self._value.decode("utf-8", "replace").strip()
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", ""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise RequestError(400, "a form part without a name")
        if name in self.form.fields or name in self.form.files:
            raise RequestError(400, f"the form field {name!r} is given twice")
        self._name = name
        filename = options.get(b"filename")
        if filename is None:
            self._text = bytearray()
            return
        index = len(self.form.files)
        path = self.folder / f"upload{index}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._upload = UploadedFile(
            path,
            safe_name(filename.decode("utf-8", "replace")),
            self._headers.get("content-type", ""),
        )

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None and self._upload is not None:
            self._file.write(data[start:end])
            self._upload.size += end - start
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > self.max_field:
                raise RequestError(
                    413, f"the form field {self._name!r} is longer than {self.max_field} bytes"
                )

    def _end(self) -> None:
        assert self._name is not None
        if self._file is not None and self._upload is not None:
            self._file.close()
            self.form.files[self._name] = self._upload
        elif self._text is not None:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")
        self._file, self._upload, self._text, self._name = None, None, None, None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def boundary_of(content_type: str) -> bytes:
    """The multipart boundary of a request's Content-Type; 415 for anything but
    multipart/form-data."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        shown = kind.decode("latin-1") or "none"
        raise RequestError(
            415,
            f"content type {shown}: send the clip as multipart/form-data (a file field "
            "'clip', text fields 'emotions' and 'transcript')",
        )
    return options[b"boundary"]


async def receive_form(
    chunks: AsyncIterator[bytes],
    content_type: str,
    folder: Path,
    max_bytes: int,
    *,
    max_field: int = MAX_FIELD_BYTES,
) -> Form:
    """Parse a multipart/form-data body as it streams in, writing file parts into ``folder``.

    Parameters
    ----------
    chunks : the body, chunk by chunk (e.g. Starlette's ``request.stream()``)
    content_type : the request's Content-Type header (with the boundary)
    folder : a private folder for the file parts (``upload0``, ``upload1``, ...; the caller
        removes it)
    max_bytes : the body's size limit: 413 as soon as more has arrived
    max_field : the size limit of one text field

    Returns
    -------
    Form

    Raises
    ------
    RequestError : 413 past a limit, 415 for a body that is not multipart/form-data, 400 for
        a malformed one
    """
    writer = _FormWriter(folder, max_field)
    parser = MultipartParser(boundary_of(content_type), writer.callbacks())
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise RequestError(
                    413, f"the upload is larger than the limit of {max_bytes / 2**20:g} MiB"
                )
            try:
                parser.write(chunk)
            except RequestError:
                raise
            except Exception as exc:  # python-multipart's parse errors
                raise RequestError(400, f"malformed multipart body ({exc})") from None
        try:
            parser.finalize()
        except Exception as exc:
            raise RequestError(400, f"malformed multipart body ({exc})") from None
    finally:
        writer.close()
    return writer.form
