"""``emotrans models``: every registered model, its size on CMU-MOSEI shapes, its settings.

Everything shown comes from the registry and the models' ``Settings`` dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import numpy as np

from emotrans.config import RunConfig, default_of
from emotrans.models.registry import build_model, model_class, model_names

MOSEI_DIMS = {"text": 300, "audio": 74, "vision": 35}
MOSEI_EMOTIONS = ["anger", "disgust", "fear", "happy", "sad", "surprise"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the models with their parameter counts and settings",
        description="List every model with a one-line description, its trainable parameter "
        "count on CMU-MOSEI shapes (text 300-d, audio 74-d, vision 35-d, 6 emotions, all three "
        "modalities, default settings, 384-d default emotion embeddings) and its settings "
        "(flags of `emotrans train`, keys of config and grid files).",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print each model's settings (default, help, choices, valid range) as JSON",
    )
    p.set_defaults(func=_models)


def model_table(embedding_dim: int = 384) -> list[dict[str, Any]]:
    """One row per registered model: name, parameters, description, settings (name ->
    default, help, choices, valid range)."""
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
            {
                "model": name,
                "parameters": model.num_parameters(),
                "description": cls.description,
                "settings": {f.name: _describe(f) for f in dataclasses.fields(cls.Settings)},
            }
        )
    return rows


def _describe(f: dataclasses.Field) -> dict[str, Any]:
    valid = f.metadata.get("valid")
    choices = f.metadata.get("choices")
    return {
        "default": default_of(f),
        "help": f.metadata.get("help", ""),
        "choices": list(choices) if choices else None,
        "valid": str(valid) if valid is not None else None,
    }


def _models(args: argparse.Namespace) -> int:
    rows = model_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':<{width}}  {'parameters':>10}  description")
    for r in rows:
        print(f"{r['model']:<{width}}  {r['parameters']:>10,}  {r['description']}")
    for r in rows:
        print(f"\n{r['model']} settings (flag --NAME, key NAME in config and grid files):")
        settings = r["settings"]
        name_width = max((len(n) for n in settings), default=0)
        default_width = max((len(str(s["default"])) for s in settings.values()), default=0)
        for n, s in settings.items():
            if s["choices"]:
                allowed = f" (one of {', '.join(s['choices'])})"
            elif s["valid"]:
                allowed = f" (must be {s['valid']})"
            else:
                allowed = ""
            print(f"  {n:<{name_width}}  {s['default']!s:<{default_width}}  {s['help']}{allowed}")
    return 0
