"""From raw media to datasets: decoding, feature extractors, word timing, raw dataset layouts.

media -> extractors -> (aligned to words) -> Dataset. Heavy libraries (opensmile, mediapipe,
the face classifier, pocketsphinx, the sentence model) are imported only by the extractor that
needs them, so ``import emotrans.media`` stays light. They come with the ``media`` extra:
``pip install "emotrans[media]"``.
"""
