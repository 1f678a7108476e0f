"""Synthetic datasets with a planted signal, in every supported file format.

The package, by job: :mod:`.world` (emotion vectors, affect codes, modality mixing),
:mod:`.specs` (the datasets' sizes and label kinds, label orders read from the formats),
:mod:`.sampling` (latent affect, labels, features of one split), :mod:`.oracle` (the
Bayes-optimal scores, ``oracle.npz``, the zero-shot ceiling), :mod:`.build` (a dataset in
memory) and :mod:`.writing` (files through each format's ``write``).

The generator writes data of the real sizes and shapes (CMU-MOSEI emotion, IEMOCAP-4,
IEMOCAP-9, CMU-MOSEI sentiment) whose labels depend on the features through the emotion
embeddings, so that supervised learning and zero-shot transfer are both possible, and it
records its own Bayes-optimal scores (the *oracle*) so that the best achievable metrics are
known.

The world
---------
A *world* depends only on the seed and the embedding source, never on the dataset, so that
IEMOCAP-4 data and IEMOCAP-9 extras generated with the same seed and source share it:

* emotion vectors ``e_k`` for the reference vocabulary :data:`REFERENCE_VOCABULARY` (every
  emotion name of every dataset) come from the embedding source, unit-normalised;
* an affect projection ``Q`` (d x r, r = :data:`AFFECT_RANK`: the top-r principal
  directions of those vectors, turned by a seeded random rotation) gives each emotion a code
  ``c_k = e_k Q``, a fixed linear map of its vector, scaled to unit norm;
* a random mixing matrix ``M_m`` (r x D_m) per modality maps the affect space to features.

Samples
-------
Each sample has a latent affect ``z ~ N(0, I_r)`` and emotion scores ``s_k = z . c_k``.

* Multi-label (``mosei``): ``y_k = 1[s_k + SIGMA_Y eps_k > theta_k]`` with ``theta_k`` set so
  that the prevalence matches CMU-MOSEI's training rates; oracle
  ``p_k = Phi((s_k - theta_k) / SIGMA_Y)``. Intensities (h5 layout) are 1/3 .. 3 in thirds,
  growing with the margin, for positives, and 0 for negatives.
* Single-label (``iemocap``, ``iemocap9``): ``y = argmax_k(s_k / TAU + b_k + Gumbel)`` with
  biases ``b_k`` fitted to the real class proportions; oracle ``softmax(s / TAU + b)``.
* Sentiment (``mosei-senti``): ``score = clip(1.5 (z . w + SIGMA_Y eps), -3, 3)`` with
  ``w`` the unit direction of ``c_happy - c_sad``; label ``score > 0``; oracle
  ``Phi(z . w / SIGMA_Y)``.

Features: at each valid step t, ``x_m[t] = a_t (z M_m) + NOISE[m] * N(0, I)`` with
``a_t ~ 1 + 0.2 N(0, 1)``; text carries the most information, audio and vision less but
enough on their own. Valid lengths are T (with probability 0.4) or uniform between T/2 and T,
with left zero padding; about 0.5 % of valid audio frames get -inf in column 0 (as COVAREP's
F0 does).

The oracle is stored as a logit adjusted by the training split's ``log(neg/pos)`` per
emotion, so that ``sigmoid(logit) > 0.5`` is its balanced decision (what a model trained with
BCE and ``pos_weight = neg/pos`` learns to approximate).

Sizes: the real split sizes times ``scale``, rounded half up, at least 8 per split.

Calibration (``benchmarks/check_synthetic_signal.py --embeddings default``, full CMU-MOSEI
size, test split): the oracle's average weighted accuracy is 0.80; a logistic regression on
each sample's mean features (all modalities) reaches 0.79 (about 1 point less), text alone
0.80, audio alone 0.71, vision alone 0.70; the zero-shot ceiling (:func:`zero_shot_ceiling`)
is 0.80 ROC AUC on average over the six emotions.
"""

from __future__ import annotations

from emotrans.data.synthetic.build import GENERATOR_VERSION, Synthetic, clean, generate, synthesize
from emotrans.data.synthetic.oracle import oracle_logits, zero_shot_ceiling
from emotrans.data.synthetic.sampling import (
    AMPLITUDE_SD,
    AUDIO_NEG_INF_RATE,
    FULL_LENGTH_RATE,
    INTENSITY_STEP,
    NOISE,
    SENTIMENT_SCALE,
    SIGMA_Y,
    TAU,
    draw_labels,
    label_params,
)
from emotrans.data.synthetic.specs import SPECS, DatasetSpec, get_spec, split_sizes
from emotrans.data.synthetic.world import (
    AFFECT_RANK,
    DIMS,
    REFERENCE_VOCABULARY,
    World,
    affect_projection,
    make_world,
)
from emotrans.data.synthetic.writing import write_synthetic

__all__ = [
    "AFFECT_RANK",
    "AMPLITUDE_SD",
    "AUDIO_NEG_INF_RATE",
    "DIMS",
    "FULL_LENGTH_RATE",
    "GENERATOR_VERSION",
    "INTENSITY_STEP",
    "NOISE",
    "REFERENCE_VOCABULARY",
    "SENTIMENT_SCALE",
    "SIGMA_Y",
    "SPECS",
    "TAU",
    "DatasetSpec",
    "Synthetic",
    "World",
    "affect_projection",
    "clean",
    "draw_labels",
    "generate",
    "get_spec",
    "label_params",
    "make_world",
    "oracle_logits",
    "split_sizes",
    "synthesize",
    "write_synthetic",
    "zero_shot_ceiling",
]
