"""Writing a synthetic dataset: its files through the format's ``write`` (see
:mod:`emotrans.data.formats`), the oracle, the settings and the emotion vectors, moved into
place together.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from emotrans.atomic import staged_folder, write_text_atomic
from emotrans.data.formats import Format, get_format, writable_formats
from emotrans.data.synthetic.build import Synthetic, clean, synthesize
from emotrans.data.synthetic.oracle import write_oracle
from emotrans.data.synthetic.sampling import id_parts
from emotrans.data.synthetic.specs import DatasetSpec, get_spec
from emotrans.errors import ConfigError

log = logging.getLogger(__name__)


def write_synthetic(
    out_dir: str | Path,
    dataset: str = "mosei",
    format: str = "native",
    scale: float = 1.0,
    seed: int = 0,
    embeddings: str = "default",
) -> Path:
    """Generate a dataset and write it to ``out_dir`` in ``format``.

    Besides the data files, writes ``oracle.npz`` (``<split>_logits`` (N, K) float32,
    ``<split>_ids`` (N,) str, ``emotions``), ``synthetic.json`` (every setting and the
    oracle's weighted accuracies) and ``emotion_vectors.json`` (the raw vectors of the reference
    vocabulary, so ``dict:OUT/emotion_vectors.json`` rebuilds the same world).

    Every file is first written (atomically) into a hidden sibling folder and moved in only
    when all of them are complete: if anything fails, ``out_dir`` is as it was. ``out_dir``
    must be empty or a previous synthetic output (whose files are replaced).

    Returns
    -------
    ``out_dir`` as a :class:`Path`.
    """
    spec = get_spec(dataset)
    writable = [f.name for f in writable_formats()]
    try:
        fmt = get_format(format).name
    except ConfigError:
        fmt = ""
    if fmt not in writable:
        raise ConfigError(f"unknown format {format!r} (use {', '.join(writable)})") from None
    if fmt not in spec.formats:
        raise ConfigError(
            f"dataset {spec.name} cannot be written as {fmt} (use {', '.join(spec.formats)})"
        )
    out = Path(out_dir).absolute()
    previous = _previous_files(out)
    synthetic = synthesize(spec.name, scale, seed, embeddings, aligned=fmt != "mult-noalign")
    synthetic.settings["format"] = fmt
    # Stage every file in a hidden sibling folder, then move them in: a failure leaves
    # ``out`` as it was.
    with staged_folder(out) as stage:
        names = write_data(stage, spec, get_format(fmt), synthetic)
        write_oracle(stage / "oracle.npz", synthetic.oracle)
        vectors = {n: [float(v) for v in vec] for n, vec in synthetic.world.vectors.items()}
        write_text_atomic(stage / "emotion_vectors.json", json.dumps(vectors) + "\n")
        names += ["oracle.npz", "emotion_vectors.json", "synthetic.json"]
        synthetic.settings["files"] = names
        write_text_atomic(stage / "synthetic.json", json.dumps(synthetic.settings, indent=2) + "\n")
        out.mkdir(exist_ok=True)
        for name in previous - set(names):
            (out / name).unlink(missing_ok=True)
        for name in names:
            os.replace(stage / name, out / name)
    log.info("wrote synthetic %s (%s) to %s", spec.name, fmt, out)
    return out


def _previous_files(out: Path) -> set[str]:
    """Files of an earlier synthetic output in ``out`` (replaced); refuse other content."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return set()
    meta = out / "synthetic.json"
    if meta.is_file():
        try:
            files = set(json.loads(meta.read_text(encoding="utf-8")).get("files", []))
        except (OSError, ValueError):
            files = set()
        if entries <= files | {"synthetic.json"}:
            return files | {"synthetic.json"}
    raise ConfigError(f"{out}: directory is not empty; choose a new --out or remove it first")


def write_data(out: Path, spec: DatasetSpec, fmt: Format, synthetic: Synthetic) -> list[str]:
    """Write the data files of ``fmt`` into ``out`` with the format's writer; return their
    names. Features go as generated (audio -inf included, as COVAREP files have it) unless
    the format only stores finite values; sentiment ids go as MulT's (N, 3) id parts."""
    raw = clean(synthetic.raw) if fmt.finite_only else synthetic.raw
    assert fmt.write is not None
    options = {}
    if spec.kind == "sentiment" and fmt.name in ("mult", "mult-noalign"):
        options["id_parts"] = {
            split: id_parts(spec, split, part.lengths["text"]) for split, part in raw.splits.items()
        }
    return [p.name for p in fmt.write(raw, out, **options)]
