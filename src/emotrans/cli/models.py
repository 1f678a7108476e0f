"""``emotrans models``: the models, their sizes on CMU-MOSEI shapes, one line each."""

from __future__ import annotations

import argparse
import json

MOSEI_DIMS = {"text": 300, "audio": 74, "vision": 35}
MOSEI_EMOTIONS = ["anger", "disgust", "fear", "happy", "sad", "surprise"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the models with their parameter counts",
        description="List every model with its trainable parameter count on CMU-MOSEI shapes "
        "(text 300-d, audio 74-d, vision 35-d, 6 emotions, all three modalities, default "
        "settings, 384-d default emotion embeddings) and a one-line description.",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_models)


def model_table(embedding_dim: int = 384) -> list[dict[str, object]]:
    import numpy as np

    from emotrans.config import RunConfig
    from emotrans.models.registry import build_model, model_class, model_names

    rows = []
    for name in model_names():
        cls = model_class(name)
        model = build_model(RunConfig(model=name), MOSEI_DIMS, embedding_dim)
        vectors = (
            np.zeros((len(MOSEI_EMOTIONS), embedding_dim), np.float32)
            if cls.uses_embeddings
            else None
        )
        model.set_emotions(MOSEI_EMOTIONS, vectors)
        rows.append(
            {"model": name, "parameters": model.num_parameters(), "description": cls.description}
        )
    return rows


def _models(args: argparse.Namespace) -> int:
    rows = model_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':<{width}}  {'parameters':>10}  description")
    for r in rows:
        print(f"{r['model']:<{width}}  {r['parameters']:>10,}  {r['description']}")
    return 0
