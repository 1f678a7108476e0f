"""Static word vectors from GloVe, word2vec and fastText files, read streaming.

Formats (recognised from the content, whatever the spec prefix says):

- text without header, one ``word v1 ... vd`` per line (GloVe);
- text with a ``count dim`` header line (word2vec text, fastText ``.vec``);
- word2vec binary: the same header, then per word ``word<space>`` and d little-endian
  float32 values, optionally followed by a newline;
- any of them gzip-compressed (recognised by the gzip magic bytes).

fastText ``.bin`` model files are refused with a pointer to the ``.vec`` file.

The file is read in large chunks and only lines whose first token is wanted are parsed, so
memory stays flat whatever the file size and the speed is close to the read speed. Reading
stops as soon as every name is settled (the form as given was found); a name needing a
fallback form or a missing name needs the whole file. While reading, a bounded sample of
tokens spelled like the wanted words is kept to suggest close spellings for missing ones.
Extracted vectors are cached on disk (:mod:`emotrans.embeddings.cache`).

Integrity checks apply to the header and to every line that is parsed: a wanted line with the
wrong number of values, a non-numeric or non-finite value, a truncated binary record, a
truncated gzip stream, or (after a complete scan) fewer lines than the header announces.
Lines that are skipped are not parsed, hence not checked.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrans.embeddings.base import EmbeddingSource, SourceKind, clean_names
from emotrans.embeddings.cache import CacheEntry, VectorCache, default_cache_dir
from emotrans.embeddings.names import (
    close_spellings,
    resolve,
    unknown_names_error,
    wanted_tokens,
)
from emotrans.errors import EmbeddingError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20  # 1 MiB per read: fits in CPU caches, measured fastest
MAX_LINE_BYTES = 1 << 20
"""The longest text line read (1 MiB): a GloVe line is a word and 300 numbers (about 3 KB);
a longer line is refused rather than buffered. Also caps a binary record (4 x dim bytes)."""
MAX_DIM = MAX_LINE_BYTES // 4
"""The largest vector dimension a header may announce (262,144; real files have 25 to 1,000)."""
_SNIFF_BYTES = 1 << 16
_SUGGEST_CAP = 20_000  # tokens kept per initial letter for close-spelling suggestions
_FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
_GZIP_MAGIC = b"\x1f\x8b"
_CONTROL = bytes(range(0, 9)) + bytes(range(14, 32))
_DEFAULT = object()


@dataclass(frozen=True)
class FileFormat:
    """What the first bytes of a word-vector file say about it.

    Attributes
    ----------
    dim : int
        Vector length d.
    count : int or None
        Number of words announced by the header; None without header.
    header : bool
        Whether the first line is a ``count dim`` header.
    binary : bool
        word2vec binary records after the header.
    gz : bool
        gzip-compressed.
    """

    dim: int
    count: int | None
    header: bool
    binary: bool
    gz: bool


def _open_stream(path: Path, gz: bool) -> io.BufferedIOBase:
    if gz:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb", buffering=0)  # type: ignore[return-value]


def _is_gz(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise EmbeddingError(f"{path}: cannot read ({exc})") from None
    if magic == _FASTTEXT_MAGIC:
        raise EmbeddingError(
            f"{path}: a fastText binary model (.bin) is not supported; "
            "use its word-vector text file (.vec) with fasttext:PATH"
        )
    return magic[:2] == _GZIP_MAGIC


def _read_head(path: Path, gz: bool, size: int) -> bytes:
    try:
        with _open_stream(path, gz) as fh:
            return fh.read(size)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise EmbeddingError(f"{path}: truncated or corrupt gzip stream ({exc})") from None
    except OSError as exc:
        raise EmbeddingError(f"{path}: cannot read ({exc})") from None


def sniff_format(path: Path) -> FileFormat:
    """Recognise the format of a word-vector file from its first bytes.

    Raises
    ------
    EmbeddingError
        Empty file, fastText binary model, or a first line that is neither a header nor
        ``word v1 ... vd``.
    """
    gz = _is_gz(path)
    head = _read_head(path, gz, _SNIFF_BYTES)
    if not head.strip():
        raise EmbeddingError(f"{path}: empty file, no word vectors")
    if b"\n" not in head and len(head) == _SNIFF_BYTES:  # a long first line: read up to the cap
        head = _read_head(path, gz, MAX_LINE_BYTES + 1)
        if b"\n" not in head and len(head) > MAX_LINE_BYTES:
            raise EmbeddingError(
                f"{path}: line 1: longer than {MAX_LINE_BYTES >> 20} MiB (not a word-vector "
                "file, or a corrupt one)"
            )
    nl = head.find(b"\n")
    first = head if nl < 0 else head[:nl]
    fields = first.split()
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
        if max(len(fields[0]), len(fields[1])) > 18:  # int() refuses over 4,300 digits
            raise EmbeddingError(f"{path}: line 1: header announces an implausible size")
        count, dim = int(fields[0]), int(fields[1])
        if not 1 <= dim <= MAX_DIM:
            raise EmbeddingError(
                f"{path}: line 1: header announces dimension {dim} (expected 1 to {MAX_DIM:,}; "
                "corrupt header?)"
            )
        after = head[nl + 1 : nl + 1 + 4096] if nl >= 0 else b""
        binary = any(b in _CONTROL for b in after)
        return FileFormat(dim=dim, count=count, header=True, binary=binary, gz=gz)
    if len(fields) < 2:
        raise EmbeddingError(
            f"{path}: line 1 is not 'word v1 v2 ...' nor a 'count dim' header "
            "(not a word-vector text file?)"
        )
    try:
        [float(v) for v in fields[1:]]
    except ValueError:
        raise EmbeddingError(
            f"{path}: line 1 is not 'word v1 v2 ...' nor a 'count dim' header "
            "(not a word-vector text file?)"
        ) from None
    if len(fields) - 1 > MAX_DIM:
        raise EmbeddingError(
            f"{path}: line 1 has {len(fields) - 1:,} values, more than {MAX_DIM:,} (not a "
            "word-vector file?)"
        )
    return FileFormat(dim=len(fields) - 1, count=None, header=False, binary=False, gz=gz)


class _Scanner:
    """State of one pass over a file looking for ``wanted`` tokens."""

    def __init__(self, path: Path, fmt: FileFormat, wanted: set[str], settled) -> None:
        self.path = path
        self.fmt = fmt
        self.dim = fmt.dim
        self.wanted = {t.encode("utf-8"): t for t in wanted}
        # first space-separated piece of each wanted token: the cheap test on every line
        self.first_pieces = {b.split(b" ")[0] for b in self.wanted}
        self.found: dict[str, np.ndarray] = {}
        self.settled = settled  # callable(found) -> bool: every name is decided
        self.lines_done = 0  # complete lines (text) or records (binary) before the region
        # Suggestion sample: initial byte -> (allowed byte lengths, tokens kept).
        self.buckets: dict[int, tuple[set[int], list[bytes]]] = {}
        for token in wanted:
            low = token.lower().encode("utf-8")
            if not low:
                continue
            bucket = self.buckets.get(low[0])
            if bucket is None:
                bucket = (set(), [])
                self.buckets[low[0]] = bucket
                if 97 <= low[0] <= 122:  # ASCII letter: the upper-case initial shares the list
                    self.buckets[low[0] - 32] = bucket
            bucket[0].update(range(max(1, len(low) - 2), len(low) + 3))

    # -- errors ---------------------------------------------------------------------------

    def _fail(self, where: str, problem: str) -> EmbeddingError:
        return EmbeddingError(f"{self.path}: {where}: {problem}")

    def _line_too_long(self) -> EmbeddingError:
        line = self.lines_done + 1
        return self._fail(
            f"line {line}",
            f"longer than {MAX_LINE_BYTES >> 20} MiB (a word-vector line is a word and at "
            "most a few thousand numbers: not a word-vector file, or a corrupt one)",
        )

    # -- text -----------------------------------------------------------------------------

    def _take_line(self, data: bytes, start: int, pos: int, nl: int) -> bool:
        """Parse the line data[pos:nl] whose first piece is wanted; True when all settled."""
        dim = self.dim
        fields = data[pos:nl].rstrip().split(b" ")
        values = len(fields) - 1
        first = fields[0]
        if values == dim:
            token = first
        elif values > dim and b" ".join(fields[: len(fields) - dim]) in self.wanted:
            token = b" ".join(fields[: len(fields) - dim])  # GloVe 840B tokens with spaces
        elif first in self.wanted:
            lineno = self.lines_done + data.count(b"\n", start, pos) + 1
            source = "the header" if self.fmt.header else "line 1"
            raise self._fail(
                f"line {lineno}",
                f"'{first.decode('utf-8', 'replace')}' has {values} values but {source} says "
                f"{dim} (truncated or garbled line, or inconsistent dimensions)",
            )
        else:
            return False  # a line starting like a wanted phrase; not wanted itself
        name = self.wanted.get(token)
        if name is None or name in self.found:
            return False  # first occurrence wins
        try:
            with np.errstate(over="ignore"):  # beyond float32: inf, refused by _keep
                vector = np.array(fields[len(fields) - dim :], dtype=np.float32)  # (d,)
        except ValueError:
            lineno = self.lines_done + data.count(b"\n", start, pos) + 1
            raise self._fail(
                f"line {lineno}", f"non-numeric value in the vector of '{name}' (garbled line)"
            ) from None
        return self._keep(name, vector, lambda: self.lines_done + data.count(b"\n", start, pos))

    def _keep(self, name: str, vector: np.ndarray, where) -> bool:
        if not np.all(np.isfinite(vector)):
            kind = "record" if self.fmt.binary else "line"
            raise self._fail(f"{kind} {where() + 1}", f"non-finite value in the vector of '{name}'")
        self.found[name] = vector
        return self.settled(self.found)

    def text_region(self, data: bytes, start: int, end: int) -> bool:
        """Scan the complete lines in data[start:end]; True when all names are settled."""
        find = data.find
        first_pieces = self.first_pieces
        buckets = self.buckets
        cap = _SUGGEST_CAP
        pos = start
        lines = 0
        while pos < end:
            lines += 1
            nl = find(b"\n", pos, end)
            sp = find(b" ", pos, nl)
            if sp < 0:
                sp = nl
            piece = data[pos:sp]
            if piece in first_pieces and self._take_line(data, start, pos, nl):
                return True
            if buckets and sp > pos:
                bucket = buckets.get(data[pos])
                if bucket is not None and sp - pos in bucket[0]:
                    if len(bucket[1]) < cap:
                        bucket[1].append(piece)
            pos = nl + 1
        self.lines_done += lines
        return False

    def scan_text(self, fh: io.BufferedIOBase) -> bool:
        """Scan a text file from its start; True when stopped early (all settled).

        Time is linear in the file's size and memory stays at a few chunks: the pieces of a
        line longer than a chunk are kept in a list (joined once), and a line longer than
        :data:`MAX_LINE_BYTES` is an error as soon as the cap is passed.
        """
        pending: list[bytes] = []  # the pieces of the line not ended yet
        pending_bytes = 0
        header_pending = self.fmt.header
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            first_nl = chunk.find(b"\n")
            if first_nl < 0:
                pending.append(chunk)  # a line longer than a chunk
                pending_bytes += len(chunk)
                if pending_bytes > MAX_LINE_BYTES:
                    raise self._line_too_long()
                continue
            if pending_bytes + first_nl > MAX_LINE_BYTES:
                raise self._line_too_long()
            start = first_nl + 1
            pending.append(chunk[:start])
            line = b"".join(pending)
            if header_pending:
                header_pending = False
                self.lines_done = 1
            elif self.text_region(line, 0, len(line)):
                return True
            last = chunk.rfind(b"\n") + 1
            if self.text_region(chunk, start, last):
                return True
            pending = [chunk[last:]]
            pending_bytes = len(chunk) - last
        tail = b"".join(pending)
        if tail.strip() and not header_pending:
            tail += b"\n"  # last line without newline
            if self.text_region(tail, 0, len(tail)):
                return True
        data_lines = max(self.lines_done - 1, 0) if self.fmt.header else self.lines_done
        if self.fmt.count is not None and data_lines < self.fmt.count:
            raise self._fail(
                "end of file",
                f"the header announces {self.fmt.count} words but the file has "
                f"{data_lines} lines after it (truncated file?)",
            )
        return False

    # -- binary ---------------------------------------------------------------------------

    def scan_binary(self, fh: io.BufferedIOBase) -> bool:
        """Scan a word2vec binary file from its start; True when stopped early."""
        dim = self.dim
        size = 4 * dim
        wanted = self.wanted
        buckets = self.buckets
        cap = _SUGGEST_CAP
        buf = fh.read(CHUNK_BYTES)
        while b"\n" not in buf:  # the header line, however small the chunks
            more = fh.read(CHUNK_BYTES)
            if not more:
                raise self._fail("line 1", "no end of the header line")
            if len(buf) > MAX_LINE_BYTES:
                raise self._line_too_long()
            buf += more
        pos = buf.find(b"\n") + 1
        record = 0
        count = self.fmt.count or 0
        while record < count:
            if pos < len(buf) and buf[pos] in (10, 13):  # newline after the previous vector
                pos += 1
                continue
            sp = buf.find(b" ", pos, pos + 4096)
            if sp < 0 and len(buf) - pos >= 4096:
                raise self._fail(
                    f"record {record + 1}", "no word followed by a space (garbled binary file)"
                )
            if sp < 0 or sp + 1 + size > len(buf):
                more = fh.read(CHUNK_BYTES)
                if not more:
                    raise self._fail(
                        f"record {record + 1}",
                        f"file ends inside a record; the header announces {count} words "
                        f"(truncated file?)",
                    )
                buf = buf[pos:] + more
                pos = 0
                continue
            token = buf[pos:sp]
            name = wanted.get(token)
            if name is not None and name not in self.found:
                vector = np.frombuffer(buf, dtype="<f4", count=dim, offset=sp + 1)
                if self._keep(name, vector.astype(np.float32), lambda r=record: r):
                    return True
            if buckets and sp > pos:
                bucket = buckets.get(buf[pos])
                if bucket is not None and sp - pos in bucket[0] and len(bucket[1]) < cap:
                    bucket[1].append(token)
            pos = sp + 1 + size
            record += 1
        return False

    def scan(self) -> bool:
        """Scan the file; True when stopped early. Converts stream errors to EmbeddingError."""
        try:
            with _open_stream(self.path, self.fmt.gz) as fh:
                if self.fmt.binary:
                    return self.scan_binary(fh)
                return self.scan_text(fh)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise EmbeddingError(f"{self.path}: truncated or corrupt gzip stream ({exc})") from None
        except OSError as exc:
            raise EmbeddingError(f"{self.path}: cannot read ({exc})") from None

    def suggestions(self, words: Sequence[str]) -> dict[str, list[str]]:
        """Close spellings of each word among the sampled tokens (lower-cased word -> list)."""
        out: dict[str, list[str]] = {}
        for word in words:
            low = word.lower()
            encoded = low.encode("utf-8")
            bucket = self.buckets.get(encoded[0]) if encoded else None
            if bucket is None:
                continue
            near = [
                t.decode("utf-8", "replace") for t in bucket[1] if abs(len(t) - len(encoded)) <= 2
            ]
            out[low] = close_spellings(low, near)
        return out


class WordVectorSource(EmbeddingSource):
    """Vectors from a GloVe / word2vec / fastText file, extracted on demand and cached.

    Parameters
    ----------
    path : str or Path
        The vector file (optionally gzipped).
    spec : str, optional
        Spec string to report; defaults to ``glove:PATH``.
    cache_dir : Path or None, optional
        Cache folder; None disables caching; default ``$EMOTRANS_CACHE`` or
        ``~/.cache/emotrans/embeddings``.
    """

    def __init__(self, path: str | Path, spec: str | None = None, cache_dir=_DEFAULT) -> None:
        self.path = Path(path).expanduser()
        self.spec = spec or f"glove:{path}"
        if not self.path.exists():
            raise EmbeddingError(f"{self.path}: no such file (embedding source {self.spec})")
        if not self.path.is_file():
            raise EmbeddingError(f"{self.path}: not a file (embedding source {self.spec})")
        self._cache_root = default_cache_dir() if cache_dir is _DEFAULT else cache_dir
        self._format: FileFormat | None = None

    def _cache(self) -> VectorCache:
        try:
            return VectorCache(self.path, self._cache_root)
        except OSError as exc:
            raise EmbeddingError(f"{self.path}: cannot read ({exc})") from None

    @property
    def format(self) -> FileFormat:
        """The file's format (reads its first bytes once)."""
        if self._format is None:
            self._format = sniff_format(self.path)
        return self._format

    @property
    def dim(self) -> int:
        entry = self._cache().load()
        return entry.dim if entry.dim else self.format.dim

    def embed(self, names: Sequence[str]) -> np.ndarray:
        names = clean_names(names)
        cache = self._cache()
        entry = cache.load()
        if not names:
            return np.zeros((0, entry.dim or self.format.dim), np.float32)
        res = resolve(names, entry.found, entry.absent, whole_phrases=False)
        if res.undecided:
            entry = self._extract(names, entry)
            cache.save(entry)
            res = resolve(names, entry.found, entry.absent, whole_phrases=False)
        else:
            log.info("%s: %d names from the cache", self.path, len(names))
        if res.missing:
            raise unknown_names_error(str(self.path), res.missing, entry.suggestions)
        return res.matrix()  # (K, d)

    def _extract(self, names: list[str], entry: CacheEntry) -> CacheEntry:
        fmt = self.format
        if entry.dim and entry.dim != fmt.dim:
            entry = CacheEntry()
        wanted = wanted_tokens(names, whole_phrases=False)

        def settled(found: dict[str, np.ndarray]) -> bool:
            return not resolve(names, found, (), whole_phrases=False).undecided

        log.info("%s: reading for %d tokens", self.path, len(wanted))
        scanner = _Scanner(self.path, fmt, wanted, settled)
        stopped_early = scanner.scan()
        entry.dim = fmt.dim
        entry.found.update(scanner.found)
        if not stopped_early:
            entry.absent.update(wanted - scanner.found.keys())
            res = resolve(names, entry.found, entry.absent, whole_phrases=False)
            lacking = {w for words in res.missing.values() for w in words}
            entry.suggestions.update(scanner.suggestions(sorted(lacking)))
        return entry


KIND = SourceKind(
    prefixes=("glove", "word2vec", "fasttext"),
    forms=("glove:PATH", "word2vec:PATH", "fasttext:PATH"),
    build=lambda prefix, arg, spec, allow_pickle: WordVectorSource(arg, spec=spec),
)
"""Word-vector files; the three prefixes share one reader that recognises the format."""
