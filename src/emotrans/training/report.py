"""Human-readable tables of metrics (Markdown), for report.md and the terminal.

Per-emotion tables for every emotion dataset; the multi-label accuracies only for multi-label
data; the predicted class's accuracy, weighted and macro F1 and confusion matrix only for
single-label data.
"""

from __future__ import annotations

import math
from typing import Any

from emotrans.metrics import METRIC_KEYS, SENTIMENT_CONVENTIONS, SENTIMENT_KEYS

METRIC_TITLES = {"wacc": "weighted acc", "f1": "F1", "auc": "AUC", "acc": "accuracy"}
SENTIMENT_TITLES = {
    "mae": "MAE",
    "corr": "Pearson r",
    "acc7": "Acc-7",
    "acc2_nonneg": "Acc-2 (neg/non-neg)",
    "f1_nonneg": "F1 (neg/non-neg)",
    "acc2_nonzero": "Acc-2 (neg/pos, non-zero)",
    "f1_nonzero": "F1 (neg/pos, non-zero)",
}
"""Column titles of the sentiment metrics; each Acc-2 and F1 names its convention."""


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def sentiment_table(m: dict[str, Any], title_col: str = "task") -> str:
    """Markdown table of a split's sentiment metrics (one row), and the two conventions."""
    values = m["sentiment"]
    head = [title_col, *(SENTIMENT_TITLES[k] for k in SENTIMENT_KEYS), "samples"]
    cells = ["sentiment", *(fmt(values.get(k)) for k in SENTIMENT_KEYS)]
    cells.append(f"{m.get('n', '')} ({m.get('n_nonzero', '')} non-zero)")
    conventions = m.get("conventions") or SENTIMENT_CONVENTIONS
    return "\n".join(
        [
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
            "| " + " | ".join(cells) + " |",
            "",
            f"neg/non-neg: {conventions['nonneg']}; neg/pos, non-zero: "
            f"{conventions['nonzero']}. MAE: lower is better. Acc-7: scores rounded to the "
            "integers -3..3.",
        ]
    )


def metrics_table(m: dict[str, Any], title_col: str = "emotion", positives: bool = True) -> str:
    """Markdown table: one row per emotion plus the average row (the sentiment table for the
    metrics of a sentiment split)."""
    if "sentiment" in m:
        return sentiment_table(m)
    head = [title_col, *(METRIC_TITLES[k] for k in METRIC_KEYS)]
    if positives and "positives" in m:
        head.append("positives")
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    for name, row in m["per_emotion"].items():
        cells = [name, *(fmt(row.get(k)) for k in METRIC_KEYS)]
        if positives and "positives" in m:
            cells.append(f"{m['positives'].get(name, '')} / {m.get('n', '')}")
        lines.append("| " + " | ".join(cells) + " |")
    avg = ["**average**", *(f"**{fmt(m['average'].get(k))}**" for k in METRIC_KEYS)]
    if positives and "positives" in m:
        avg.append("")
    lines.append("| " + " | ".join(avg) + " |")
    return "\n".join(lines)


def multilabel_line(m: dict[str, Any]) -> str:
    ml = m.get("multilabel") or {}
    if not ml:
        return ""
    return (
        f"Multi-label accuracy: strict {fmt(ml.get('strict'))}, subset {fmt(ml.get('subset'))}, "
        f"intersect {fmt(ml.get('intersect'))}."
    )


ARGMAX_TITLES = {"accuracy": "accuracy", "weighted_f1": "weighted F1", "macro_f1": "macro F1"}
"""Column titles of the single-label (predicted class) figures."""


def argmax_table(m: dict[str, Any], confusion: bool = True) -> str:
    """Markdown for single-label metrics: accuracy, weighted F1 and macro F1 of the predicted
    class (and of the raw logits' argmax when the run corrects a shift), the decision rule,
    and the confusion matrix (rows = truth, columns = predicted); "" without them."""
    am = m.get("argmax")
    if not am:
        return ""
    head = ["predicted class", *ARGMAX_TITLES.values()]
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * len(ARGMAX_TITLES),
        "| decision | " + " | ".join(fmt(am.get(k)) for k in ARGMAX_TITLES) + " |",
    ]
    raw = m.get("argmax_raw")
    if raw:
        lines.append(
            "| argmax of raw logits | " + " | ".join(fmt(raw.get(k)) for k in ARGMAX_TITLES) + " |"
        )
    lines += ["", f"Decision: {am.get('decision', 'argmax of the logits')}."]
    if confusion and am.get("confusion") is not None:
        names = list(am["emotions"])
        lines += [
            "",
            "Confusion matrix (rows: true emotion, columns: predicted):",
            "",
            "| true / predicted | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for name, row in zip(names, am["confusion"]):
            lines.append(f"| {name} | " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def render_run_report(metrics: dict[str, Any], config: dict[str, Any]) -> str:
    """The report.md of a run directory."""
    out = [
        f"# {metrics['model']} on {metrics['dataset']} ({metrics['modalities']})",
        "",
        f"Data: `{config.get('data', '')}`; embeddings: `{config.get('embeddings', '')}`; "
        f"seed {config.get('seed')}.",
        f"Model selection: best validation {metrics.get('select_metric', 'wacc')} "
        f"(epoch {metrics['best_epoch']} of {metrics.get('epochs_run', '?')}); test metrics at "
        "that epoch. The test split is never used for selection.",
        "",
    ]
    for split in ("test", "valid"):
        if split in metrics["splits"]:
            m = metrics["splits"][split]
            out += [f"## {split}", "", metrics_table(m), "", multilabel_line(m), ""]
            if m.get("argmax"):
                out += [argmax_table(m), ""]
    if "oracle" in metrics:
        out += [
            "## Generator oracle (synthetic data)",
            "",
            "The data generator's own planted scores, the best achievable on this data:",
            "",
            metrics_table(metrics["oracle"]["test"]),
            "",
        ]
    zsl = metrics.get("zsl")
    if zsl:
        out += [
            f"## Zero-shot: unseen {', '.join(zsl['unseen'])}",
            "",
            metrics_table(zsl["unseen_metrics"]),
            "",
            "Seen emotions on the same (full) test split:",
            "",
            metrics_table(zsl["seen_metrics"]),
            "",
        ]
    fsl = metrics.get("fsl")
    if fsl:
        out += [f"## Few-shot: {fsl['target']} ({fsl['mode']}, {fsl['shots']} positives kept)", ""]
        rows = [
            "| | target wacc | target AUC | seen avg wacc | seen avg AUC |",
            "|---|---:|---:|---:|---:|",
        ]
        for stage in ("before", "after"):
            if stage in fsl:
                s = fsl[stage]
                rows.append(
                    f"| {stage} | {fmt(s['target']['wacc'])} | {fmt(s['target']['auc'])} | "
                    f"{fmt(s['seen_average']['wacc'])} | {fmt(s['seen_average']['auc'])} |"
                )
        out += rows + [""]
        if "forgetting" in fsl:
            out += [f"Forgetting (seen average wacc before - after): {fmt(fsl['forgetting'])}", ""]
    return "\n".join(out).rstrip() + "\n"
