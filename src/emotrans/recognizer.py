"""Open-vocabulary prediction with a trained run: ``Recognizer.load(run_dir).predict(...)``.

The transferable model scores any emotion name its embedding source knows, including names it
was never trained on; baselines can only score the emotions they were trained on meaningfully
(new names get an untrained unit, which a warning points out).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data.dataset import Dataset, Split, lengths_from_padding, replace_nonfinite
from emotrans.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)


class Recognizer:
    """A trained emotion recogniser loaded from a run directory.

    Use :meth:`load`, then :meth:`predict` (a table) or :meth:`predict_proba` (an array).
    """

    def __init__(self, model, config, info: dict[str, Any], run_dir: Path) -> None:
        self.model = model
        self.config = config
        self.info = info
        self.run_dir = run_dir

    @classmethod
    def load(cls, run_dir: str | Path) -> Recognizer:
        from emotrans.training.pipeline import load_run

        model, config, info = load_run(run_dir)
        return cls(model, config, info, Path(run_dir))

    @property
    def trained_emotions(self) -> list[str]:
        return list(self.info["emotions"])

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.model.modalities)

    def _as_split(self, data: Dataset | Split | Mapping[str, Any], split: str) -> Split:
        if isinstance(data, Dataset):
            return data[split]
        if isinstance(data, Split):
            return data
        features, lengths = {}, {}
        for m in self.modalities:
            if m not in data:
                raise DataFormatError(
                    f"input: no {m!r} array (the model uses {', '.join(self.modalities)})"
                )
            x = np.array(data[m], dtype=np.float32)
            if x.ndim != 3:
                raise DataFormatError(f"input: {m} has shape {x.shape}, expected (N, T, D)")
            count = replace_nonfinite(x)
            if count:
                log.warning("input: %d non-finite %s values replaced by 0", count, m)
            features[m] = x
            given = data.get("lengths")
            lengths[m] = (
                np.asarray(given[m] if isinstance(given, Mapping) else given, dtype=np.int64)
                if given is not None
                else lengths_from_padding(x)
            )
        n = next(iter(features.values())).shape[0]
        ids = np.asarray(data.get("ids", np.arange(n))).astype(str)
        return Split(features=features, lengths=lengths, labels=np.zeros((n, 0), np.uint8), ids=ids)

    def _check_dims(self, s: Split) -> None:
        for m in self.modalities:
            if m not in s.features:
                raise DataFormatError(
                    f"input: no {m} features (the model uses {', '.join(self.modalities)})"
                )
            want = int(self.info["dims"][m])
            if s.features[m].shape[2] != want:
                raise DataFormatError(
                    f"input: {m} features are {s.features[m].shape[2]}-d but the model was trained on {want}-d"
                )

    def predict_proba(
        self,
        data: Dataset | Split | Mapping[str, Any],
        emotions: Sequence[str] | None = None,
        split: str = "test",
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Probabilities (N, K) of ``emotions`` (default: the trained ones), their names, ids."""
        from emotrans.training.batches import TensorSplit
        from emotrans.training.pipeline import emotion_vectors
        from emotrans.training.trainer import predict_logits, resolve_device, sigmoid

        names = list(emotions) if emotions else self.trained_emotions
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate emotion names in {names}")
        if not self.model.uses_embeddings:
            new = [n for n in names if n not in self.trained_emotions]
            if new:
                log.warning(
                    "%s has no embeddings: %s get untrained output units",
                    self.config.model,
                    ", ".join(new),
                )
        s = self._as_split(data, split)
        self._check_dims(s)
        vectors, _ = emotion_vectors(self.config, names, isolated=False)  # quick repeat queries
        self.model.set_emotions(names, vectors)
        logits = predict_logits(
            self.model,
            TensorSplit.from_split(s, self.modalities),
            256,
            resolve_device(self.config.device),
            self.config.precision,
        )
        return sigmoid(logits), names, s.ids

    def predict(
        self,
        data: Dataset | Split | Mapping[str, Any],
        emotions: Sequence[str] | None = None,
        threshold: float | None = None,
        split: str = "test",
        as_frame: bool = True,
    ):
        """A table with one row per sample: ``id``, a probability column per emotion, and
        ``predicted`` (the emotions whose probability exceeds ``threshold``, ';'-joined).

        Returns a pandas DataFrame, or with ``as_frame=False`` a NumPy structured array with the
        same named columns.
        """
        probs, names, ids = self.predict_proba(data, emotions, split)
        if threshold is None:
            trained_thr = self.info.get("thresholds")
            if trained_thr and names == self.trained_emotions:
                thr = np.asarray(trained_thr, dtype=np.float64)
            else:
                thr = np.full(len(names), self.config.threshold)
        else:
            if not 0 < threshold < 1:
                raise ConfigError(f"threshold = {threshold}: must be in (0, 1)")
            thr = np.full(len(names), threshold)
        decided = probs > thr  # (N, K)
        predicted = [";".join(n for n, d in zip(names, row) if d) for row in decided]
        if as_frame:
            import pandas as pd

            frame = pd.DataFrame(probs, columns=names)
            frame.insert(0, "id", ids)
            frame["predicted"] = predicted
            return frame
        dtype = [("id", "U64"), *((n, "f4") for n in names), ("predicted", "U256")]
        out = np.empty(len(ids), dtype=dtype)
        out["id"] = ids
        for k, n in enumerate(names):
            out[n] = probs[:, k]
        out["predicted"] = predicted
        return out


def load_input(path: str | Path, fmt: str = "auto") -> Dataset | dict[str, Any]:
    """A dataset (any supported format) or an ``.npz`` of arrays text/audio/vision[/ids]."""
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise DataFormatError(f"{path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{path}: not a readable .npz file ({exc})") from None
    from emotrans.data import load

    return load(str(path), format=fmt)
