"""Raw dataset layouts: one module per release layout, listed in :mod:`.registry`.

A layout reads a folder (or a CSV manifest) as it was released and yields its clips with their
split, transcript, word timing (when the release has it) and labels, in the dataset's own
emotion names and order. :mod:`emotrans.media.pipeline` turns them into a native dataset.
"""
