"""``emotrans embed``: embed emotion names and print their cosine similarities."""

from __future__ import annotations

import argparse
import json

from emotrans.embeddings import cosine_matrix, load_source, spec_forms


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="embed emotion names and show their cosine similarities",
        description="Embed emotion names (words or quoted phrases) with an embedding source and "
        "print the table of their pairwise cosine similarities, e.g. to see whether "
        "'frustrated' sits near 'angry'. Sources: default (the embedded all-MiniLM-L6-v2 "
        "model, offline), " + ", ".join(f for f in spec_forms() if f != "default") + ".",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="emotion names or quoted phrases")
    p.add_argument(
        "--source", default="default", metavar="SPEC", help="embedding source (default: default)"
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow unpickling dict:.pt/.pkl files (can execute code; trusted files only)",
    )
    p.add_argument("--json", action="store_true", help="print {names, dim, source, cosine}")
    p.set_defaults(func=_embed)


def format_table(names: list[str], cosine) -> str:
    """Aligned cosine table: one row and one column per name, two decimals."""
    label = max(len(n) for n in names)
    widths = [max(len(n), 5) for n in names]
    lines = [" " * label + "".join(f"  {n:>{w}}" for n, w in zip(names, widths, strict=True))]
    for name, row in zip(names, cosine, strict=True):
        cells = "".join(f"  {v:>{w}.2f}" for v, w in zip(row, widths, strict=True))
        lines.append(f"{name:<{label}}{cells}")
    return "\n".join(lines)


def _embed(args: argparse.Namespace) -> int:
    source = load_source(args.source, allow_pickle=args.allow_pickle)
    vectors = source.embed(args.names)  # (K, d)
    names = [" ".join(n.split()) for n in args.names]
    cosine = cosine_matrix(vectors)  # (K, K)
    if args.json:
        out = {
            "names": names,
            "dim": int(vectors.shape[1]),
            "source": source.spec,
            "cosine": [[round(float(v), 6) for v in row] for row in cosine],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"source: {source.spec} ({vectors.shape[1]}-d)")
    print("cosine similarity")
    print(format_table(names, cosine))
    return 0
