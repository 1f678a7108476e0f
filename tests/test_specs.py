"""Specifying tests: properties the design promises, checked end to end.

* Zero-shot transfer works: an emotion never seen in training is ranked well above chance
  through its embedding (docs/design.md, "Protocols"), on generated data whose labels follow
  the emotion embeddings.
* A truncated input file is one ``DataFormatError`` line that names the file
  (docs/design.md, "Formats and label orders"). The other formats have this test next to
  their loader (``test_truncated_*`` in ``test_data_*.py``); ``.csd`` files have it here.
"""

from __future__ import annotations

import numpy as np
import pytest

from emotrans.config import RunConfig
from emotrans.data.csd_align import convert_csd
from emotrans.data.synthetic_csd import write_synthetic_csd
from emotrans.errors import DataFormatError, EmotransError
from emotrans.training.pipeline import train_run
from helpers import EMB

# -- zero-shot transfer on planted data ---------------------------------------------------------

# Measured with these settings (fear held out, generated CMU-MOSEI at 10% size): unseen AUC
# 0.80 for seed 0 (0.81 and 0.73 for data and training seeds 1 and 2), generator ceiling 0.94.
# Mean pooling and a larger learning rate let the tiny encoders learn within 8 epochs; the
# reference "last" pooling stays near chance at this size.
ZSL = dict(
    embeddings=EMB,
    zsl=["fear"],
    epochs=8,
    early_stop=8,
    batch_size=32,
    lr=5e-3,
    pooling="mean",
    layers=1,
    hidden_audio=32,
    hidden_vision=16,
    seed=0,
)


@pytest.mark.slow
def test_an_emotion_never_seen_in_training_is_ranked_well_above_chance(tmp_path):
    from emotrans.data import generate
    from emotrans.data.synthetic import write_synthetic, zero_shot_ceiling
    from emotrans.embeddings import load_source

    data = write_synthetic(
        tmp_path / "mosei", dataset="mosei", format="native", scale=0.1, seed=0, embeddings=EMB
    )
    dataset, oracle = generate("mosei", scale=0.1, seed=0, embeddings=EMB)
    fear = dataset.emotions.index("fear")
    vectors = np.asarray(load_source(EMB).embed(dataset.emotions))
    test = dataset["test"]
    ceiling = zero_shot_ceiling(test.labels, oracle["test"]["logits"], vectors)[fear]
    assert ceiling > 0.85  # the planted signal makes transfer possible

    result = train_run(RunConfig(data=str(data), **ZSL), tmp_path / "run")

    unseen = result.metrics["zsl"]["unseen_metrics"]
    assert unseen["n"] == test.n  # scored on the full test split
    assert unseen["per_emotion"]["fear"]["auc"] > 0.65
    assert result.metrics["zsl"]["seen_metrics"]["average"]["auc"] > 0.65


# -- truncated .csd files -------------------------------------------------------------------------


@pytest.fixture
def csd_files(tmp_path):
    return write_synthetic_csd(tmp_path / "csd", videos=6, seed=0, seconds=8)


@pytest.mark.parametrize("which", ["text", "audio", "labels"])
@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_csd_file_is_one_line_naming_the_file(csd_files, tmp_path, which, keep):
    target = csd_files[which]
    data = target.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataFormatError) as info:
        convert_csd(
            csd_files["text"],
            csd_files["labels"],
            csd_files["folds"],
            audio=csd_files["audio"],
            vision=csd_files["vision"],
        )
    message = str(info.value)
    assert isinstance(info.value, EmotransError)
    assert "\n" not in message
    assert target.name in message
