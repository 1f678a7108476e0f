"""``emotrans predict``: open-vocabulary emotion prediction with a trained run."""

from __future__ import annotations

import argparse

from emotrans.atomic import atomic_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict any emotion names with a trained run",
        description="Score samples for any emotion names the run's embedding source knows "
        "(also names never seen in training) and write one CSV row per sample: id, one "
        "probability column per emotion, and the predicted set.",
    )
    p.add_argument("run_dir", help="a finished run directory")
    p.add_argument(
        "--input", required=True, help="dataset path (any supported format) or .npz of arrays"
    )
    p.add_argument("--format", default="auto", help="input dataset format (default: detect)")
    p.add_argument("--split", default="test", help="split of a dataset input (default: test)")
    p.add_argument("--emotions", help="comma-separated emotion names (default: the trained ones)")
    p.add_argument("--threshold", type=float, help="decision threshold (default: the run's)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from emotrans.recognizer import Recognizer, load_input  # deferred: imports torch

    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()] if args.emotions else None
    recognizer = Recognizer.load(args.run_dir)
    data = load_input(args.input, args.format)
    frame = recognizer.predict(data, emotions=emotions, threshold=args.threshold, split=args.split)
    with atomic_path(args.out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")
    print(f"{len(frame)} predictions for {', '.join(frame.columns[1:-1])} written to {args.out}")
    return 0
