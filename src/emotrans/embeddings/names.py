"""How emotion names map onto the tokens of a static vocabulary (word-vector files, dicts).

A name is looked up as given, then lower-cased, then capitalised. A multi-word name
("not sure", "not_sure") that is not itself in the vocabulary is the mean of its words'
vectors, each word looked up the same way. Whether a name with spaces is looked up whole
first depends on the source: mapping files may have phrase keys, word-vector files do not.

Resolution works on partial knowledge, so a streaming reader can stop early and a cache can
answer alone: each token is *found* (a vector is known), *absent* (known not to be in the
vocabulary), or *unknown* (not decided yet). A name is decided once the outcome cannot change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from emotrans.errors import EmbeddingError

_WORD_SPLIT = re.compile(r"[\s_]+")
_UNKNOWN = object()


class Everything:
    """A container holding everything: "every token not found is absent" (complete vocabulary)."""

    def __contains__(self, item: object) -> bool:
        return True


def case_variants(token: str) -> list[str]:
    """The forms of ``token`` tried, in order: as given, lower-case, capitalised."""
    out: list[str] = []
    for form in (token, token.lower(), token.capitalize()):
        if form not in out:
            out.append(form)
    return out


def name_words(name: str) -> list[str]:
    """The words of a name, split on whitespace and underscores."""
    return [w for w in _WORD_SPLIT.split(name) if w]


def _tries_whole(name: str, whole_phrases: bool) -> bool:
    # A single token ("anger", "not_sure") is always tried whole; a name with spaces only
    # where the vocabulary can hold phrases.
    return whole_phrases or not any(c.isspace() for c in name)


def wanted_tokens(names: Iterable[str], whole_phrases: bool) -> set[str]:
    """Every vocabulary token that resolving ``names`` may need."""
    wanted: set[str] = set()
    for name in names:
        words = name_words(name)
        if _tries_whole(name, whole_phrases):
            wanted.update(case_variants(name))
        if len(words) > 1:
            for word in words:
                wanted.update(case_variants(word))
    return wanted


def _lookup(
    token: str, found: Mapping[str, np.ndarray], absent: Container[str]
) -> np.ndarray | None | object:
    """The vector of the first case variant found; None when all are absent; else _UNKNOWN."""
    for form in case_variants(token):
        if form in found:
            return found[form]
        if form not in absent:
            return _UNKNOWN
    return None


@dataclass
class Resolution:
    """Outcome of resolving names against what is known of a vocabulary.

    Attributes
    ----------
    rows : list of (ndarray of shape (d,) or None)
        One per name; None where the name is missing or undecided.
    missing : dict
        Name -> the words of it that are not in the vocabulary (the name itself for one word).
    undecided : bool
        Some name depends on a token whose presence is not known yet.
    """

    rows: list[np.ndarray | None] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    undecided: bool = False

    def matrix(self) -> np.ndarray:
        """The rows stacked: ndarray of shape (K, d), float32. Only when nothing is missing."""
        return np.stack(self.rows).astype(np.float32, copy=False)


def resolve(
    names: Sequence[str],
    found: Mapping[str, np.ndarray],
    absent: Container[str],
    whole_phrases: bool,
) -> Resolution:
    """Resolve ``names`` given the tokens ``found`` (token -> vector) and known ``absent``."""
    res = Resolution()
    for name in names:
        words = name_words(name)
        row: np.ndarray | None = None
        if _tries_whole(name, whole_phrases):
            hit = _lookup(name, found, absent)
            if hit is _UNKNOWN:
                res.undecided = True
                res.rows.append(None)
                continue
            row = hit  # type: ignore[assignment]
        if row is None and len(words) > 1:
            vectors, lacking, waiting = [], [], False
            for word in words:
                hit = _lookup(word, found, absent)
                if hit is _UNKNOWN:
                    waiting = True
                elif hit is None:
                    lacking.append(word)
                else:
                    vectors.append(hit)
            if waiting:
                res.undecided = True
            elif lacking:
                res.missing[name] = lacking
            else:
                row = np.mean(np.stack(vectors), axis=0)  # (n_words, d) -> (d,)
        elif row is None:
            res.missing[name] = [name]
        res.rows.append(None if row is None else np.asarray(row, dtype=np.float32))
    return res


def close_spellings(word: str, vocabulary: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` vocabulary tokens spelled like ``word`` (case-insensitive), best first."""
    by_lower: dict[str, str] = {}
    for token in vocabulary:
        by_lower.setdefault(token.lower(), token)
    target = word.lower()
    by_lower.pop(target, None)
    matches = difflib.get_close_matches(target, list(by_lower), n=n, cutoff=0.75)
    return [by_lower[m] for m in matches]


def unknown_names_error(
    where: str, missing: Mapping[str, list[str]], suggestions: Mapping[str, list[str]]
) -> EmbeddingError:
    """One-line error listing every missing name, with close spellings where known.

    ``suggestions`` maps a lower-cased word to its close spellings.
    """
    parts = []
    for name, words in missing.items():
        for word in words:
            text = f"'{word}'" if word == name else f"'{word}' (in '{name}')"
            close = suggestions.get(word.lower())
            if close:
                text += " - close: " + ", ".join(close)
            parts.append(text)
    count = sum(len(w) for w in missing.values())
    noun = "word" if count == 1 else "words"
    return EmbeddingError(f"{where}: {count} unknown {noun}: " + "; ".join(parts))
