"""The grid report: ``results.md``, ``results.csv`` and ``results.tex`` (and ``plots/``).

Every number is a mean ± sample standard deviation (ddof=1) over the seeds that completed, test
split, at the epoch each run selected on its validation split. ``results.csv`` is the long
form (one row per cell, emotion and metric, see :func:`emotrans.experiments.aggregate.long_rows`);
``results.md`` and ``results.tex`` hold the same numbers as wide tables.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emotrans.atomic import write_text_atomic
from emotrans.experiments.aggregate import (
    ARGMAX,
    CSV_COLUMNS,
    METRIC_TITLES,
    METRICS,
    MULTILABEL,
    SENTIMENT_KEYS,
    CellResult,
    GridResults,
    Stat,
    collect,
    long_rows,
)
from emotrans.experiments.plots import emotion_order, make_plots
from emotrans.experiments.reference import Comparison, Reference, compare, load_reference

RESULTS_MD, RESULTS_CSV, RESULTS_TEX = "results.md", "results.csv", "results.tex"
PLOTS_DIR = "plots"


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote."""

    md: Path
    csv: Path
    tex: Path
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- a table, rendered as Markdown or LaTeX ----------------------------------------------------


@dataclass
class Table:
    """A caption, a header and rows of cell values (str, or :class:`Stat` for mean ± std)."""

    caption: str
    head: list[str]
    rows: list[list[Any]]
    bold_best: bool = False  # bold the highest mean of each Stat column
    note: str = ""

    def _best(self) -> dict[int, float]:
        best: dict[int, float] = {}
        if not self.bold_best or len(self.rows) < 2:
            return best
        for j in range(len(self.head)):
            means = [r[j].mean for r in self.rows if isinstance(r[j], Stat) and r[j].n]
            if len(means) >= 2:
                best[j] = max(means)
        return best

    def cells(
        self, fmt: Callable[[Stat, bool], str], plain: Callable[[Any], str]
    ) -> list[list[str]]:
        best = self._best()
        out = []
        for r in self.rows:
            row = []
            for j, v in enumerate(r):
                if isinstance(v, Stat):
                    row.append(fmt(v, j in best and v.n > 0 and v.mean == best[j]))
                else:
                    row.append(plain(v))
            out.append(row)
        return out


def _num(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _signed(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:+.{digits}f}"


def fmt_stat(s: Stat, digits: int = 3) -> str:
    """``0.672 ± 0.010``; ``± n/a`` with one seed; ``n/a`` without any value; ``*`` when some
    seeds gave no value."""
    if s.n == 0:
        return "n/a"
    text = f"{_num(s.mean, digits)} ± {_num(s.std, digits)}"
    return text + ("*" if s.partial else "")


def _md_stat(s: Stat, bold: bool) -> str:
    text = fmt_stat(s)
    return f"**{text}**" if bold else text


def _md_plain(v: Any) -> str:
    if isinstance(v, float):
        return _num(v)
    return str(v).replace("|", "\\|")


def render_md_table(t: Table) -> str:
    lines = [
        "| " + " | ".join(t.head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(t.head) - 1)) + "|",
    ]
    for row in t.cells(_md_stat, _md_plain):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_stat(s: Stat, bold: bool) -> str:
    if s.n == 0:
        return "n/a"
    mean = _num(s.mean)
    mean = rf"\mathbf{{{mean}}}" if bold else mean
    std = _num(s.std) if math.isfinite(s.std) else r"\text{n/a}"
    star = "^{*}" if s.partial else ""
    return f"${mean} \\pm {std}{star}$"


def _tex_plain(v: Any) -> str:
    if isinstance(v, float):
        return _num(v)
    return tex_escape(str(v))


def render_tex_table(t: Table, label: str) -> str:
    spec = "l" + "r" * (len(t.head) - 1)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        rf"\caption{{{tex_escape(t.caption)}}}",
        rf"\label{{tab:{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in t.head) + r" \\",
        r"\midrule",
    ]
    for row in t.cells(_tex_stat, _tex_plain):
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


# -- the tables ---------------------------------------------------------------------------------


def _seeds(c: CellResult) -> str:
    return f"{c.completed}/{c.expected}"


def _metric_order(results: GridResults) -> list[str]:
    first = [m for m in results.select_metrics() if m in METRICS]
    return first + [m for m in METRICS if m not in first]


def runs_table(results: GridResults) -> Table:
    rows = []
    for c in results.cells:
        rows.append(
            [
                c.name,
                c.model or "-",
                c.modalities or "-",
                c.protocol if c.completed else "-",
                _seeds(c),
                _num(c.stat("best_epoch").mean, 1),
                _num(c.stat("epochs_run").mean, 1),
                _num(c.stat("seconds").mean, 0),
            ]
        )
    return Table(
        "Cells and completed seeds",
        [
            "cell",
            "model",
            "modalities",
            "protocol",
            "seeds",
            "mean best epoch",
            "mean epochs run",
            "mean seconds",
        ],
        rows,
    )


def main_tables(results: GridResults) -> list[tuple[str, Table]]:
    """The test tables: per metric over the standard (emotion) cells, then the sentiment
    table over the sentiment cells."""
    tables = _emotion_tables(results)
    cells = results.by_protocol("sentiment")
    if cells:
        rows = [
            [c.name, *(c.stat("splits", "test", "sentiment", k) for k in SENTIMENT_KEYS), _seeds(c)]
            for c in cells
        ]
        caption = (
            "Test sentiment metrics (mean ± std over seeds; MAE lower is better). Acc-2 and F1 "
            "in both conventions: neg/non-neg, negative (< 0) vs non-negative (>= 0) on every "
            "sample; neg/pos, non-zero, negative vs positive without the samples labelled 0"
        )
        head = ["cell", *(METRIC_TITLES[k] for k in SENTIMENT_KEYS), "seeds"]
        tables.append(("sentiment", Table(caption, head, rows)))
    return tables


def _emotion_tables(results: GridResults) -> list[tuple[str, Table]]:
    """One table per metric over the standard cells: emotions x (mean ± std), the average.

    The emotions are in the grid's canonical order (:func:`emotion_order`, the plots' order),
    whatever order the runs list them in.
    """
    cells = results.by_protocol("standard")
    if not cells:
        return []
    present = {e for c in cells for e in c.emotions()}
    emotions = [e for e in emotion_order(results) if e in present]
    tables = []
    for metric in _metric_order(results):
        rows = []
        for c in cells:
            rows.append(
                [c.name]
                + [c.stat("splits", "test", "per_emotion", e, metric) for e in emotions]
                + [c.stat("splits", "test", "average", metric), _seeds(c)]
            )
        tables.append(
            (
                metric,
                Table(
                    f"Test {METRIC_TITLES[metric]} per emotion (mean ± std over seeds)",
                    ["cell", *emotions, "average", "seeds"],
                    rows,
                    bold_best=True,
                ),
            )
        )
    ml_cells = [c for c in cells if c.stat("splits", "test", "multilabel", "strict").n]
    if ml_cells:
        rows = [
            [c.name, *(c.stat("splits", "test", "multilabel", k) for k in MULTILABEL), _seeds(c)]
            for c in ml_cells
        ]
        tables.append(
            (
                "multilabel",
                Table(
                    "Test multi-label accuracies (strict: all emotions right; subset: predicted "
                    "set a non-empty subset of the truth; intersect: at least one true emotion "
                    "predicted)",
                    ["cell", "strict", "subset", "intersect", "seeds"],
                    rows,
                    bold_best=True,
                ),
            )
        )
    single_cells = [c for c in cells if c.stat("splits", "test", "argmax", "accuracy").n]
    if single_cells:
        rows = [
            [c.name, *(c.stat("splits", "test", "argmax", k) for k in ARGMAX), _seeds(c)]
            for c in single_cells
        ]
        tables.append(
            (
                "argmax",
                Table(
                    "Test figures of the predicted class on single-label data (the argmax "
                    "decision of each run's metrics.json)",
                    ["cell", "accuracy", "weighted F1", "macro F1", "seeds"],
                    rows,
                    bold_best=True,
                ),
            )
        )
    return tables


def zero_shot_table(results: GridResults) -> Table | None:
    cells = results.by_protocol("zsl")
    if not cells:
        return None
    rows = []
    for c in cells:
        for e in c.zsl_unseen():
            rows.append(
                [c.name, e]
                + [c.stat("zsl", "unseen_metrics", "per_emotion", e, k) for k in METRICS]
                + [
                    c.stat("zsl", "seen_metrics", "average", "wacc"),
                    c.stat("zsl", "seen_metrics", "average", "auc"),
                    _seeds(c),
                ]
            )
    return Table(
        "Zero-shot: the held-out emotion scored through its embedding on the full test split, "
        "and the seen emotions' average (mean ± std over seeds)",
        [
            "cell",
            "unseen",
            *(METRIC_TITLES[k] for k in METRICS),
            "seen avg wacc",
            "seen avg AUC",
            "seeds",
        ],
        rows,
    )


def _shots(s: Stat) -> str:
    return "n/a" if s.n == 0 else f"{s.mean:g}"


def few_shot_table(results: GridResults) -> Table | None:
    cells = results.by_protocol("fsl")
    if not cells:
        return None
    rows = []
    for c in cells:
        rows.append(
            [
                c.name,
                c.fsl_target(),
                c.fsl_mode(),
                _shots(c.stat("fsl", "shots")),
                c.stat("fsl", "before", "target", "wacc"),
                c.stat("fsl", "after", "target", "wacc"),
                c.stat("fsl", "before", "target", "auc"),
                c.stat("fsl", "after", "target", "auc"),
                c.stat("fsl", "before", "seen_average", "wacc"),
                c.stat("fsl", "after", "seen_average", "wacc"),
                c.stat("fsl", "forgetting"),
                _seeds(c),
            ]
        )
    return Table(
        "Few-shot: target emotion and seen emotions' average weighted accuracy before (the "
        "zero-shot run it starts from) and after adaptation; forgetting = seen average before - "
        "after (mean ± std over seeds)",
        [
            "cell",
            "target",
            "mode",
            "shots",
            "target wacc before",
            "target wacc after",
            "target AUC before",
            "target AUC after",
            "seen wacc before",
            "seen wacc after",
            "forgetting",
            "seeds",
        ],
        rows,
    )


def reference_table(comparisons: list[Comparison], reference: Reference) -> Table:
    rows = []
    for c in comparisons:
        ours = c.ours if c.ours is not None else Stat(math.nan, math.nan, 0, 0)
        rows.append(
            [
                c.name,
                c.cell or "(not in the grid)",
                c.emotion,
                c.metric,
                c.published,
                ours,
                _signed(c.difference),
            ]
        )
    unit = " (converted from percent)" if reference.percent else ""
    source = f" from {reference.source}" if reference.source else ""
    return Table(
        f"Published numbers{source}{unit} beside ours (mean ± std over seeds); difference = "
        "ours - published",
        ["name", "cell", "emotion", "metric", "published", "ours", "difference"],
        rows,
    )


def selection_rule(results: GridResults) -> str:
    keys = results.select_metrics()
    named = ", ".join(f"validation {k}" for k in keys) if keys else "the validation average"
    return (
        f"Model selection: each run keeps the epoch with the best {named} (average over "
        "emotions; the lowest MAE on sentiment data) "
        "(the `select_metric` of its metrics.json), on the validation split only; early stopping "
        "and any threshold tuning also use validation only. Test metrics are those of the "
        "selected epoch; the test split never influences training or selection."
    )


# -- writing ---------------------------------------------------------------------------------


def _csv_text(results: GridResults, comparisons: list[Comparison]) -> str:
    columns = [*CSV_COLUMNS, "published", "difference"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()

    def clean(v: Any) -> Any:
        return "" if isinstance(v, float) and not math.isfinite(v) else v

    for row in long_rows(results):
        writer.writerow({k: clean(row.get(k, "")) for k in columns})
    for c in comparisons:
        ours = c.ours
        writer.writerow(
            {
                "section": "reference",
                "cell": c.cell,
                "model": c.name,
                "emotion": c.emotion,
                "metric": c.metric,
                "mean": clean(ours.mean) if ours else "",
                "std": clean(ours.std) if ours else "",
                "n": ours.n if ours else 0,
                "published": c.published,
                "difference": clean(c.difference),
            }
        )
    return buf.getvalue()


def _header(results: GridResults) -> list[str]:
    total_runs = sum(c.expected for c in results.cells)
    done = sum(c.completed for c in results.cells)
    seeds = ", ".join(str(s) for s in results.seeds)
    lines = [f"# Results: {results.name}", ""]
    if results.description:
        lines += [results.description, ""]
    if results.data:
        lines.append(
            f"Data: `{results.data}`. Seeds: {seeds}. Runs complete: {done} of {total_runs}."
        )
    else:
        lines.append(f"Runs found: {done} (no grid.json: cells are the run directories' folders).")
    if results.overrides:
        over = ", ".join(f"{k}={v}" for k, v in results.overrides.items())
        lines.append(f"Settings overridden for every cell (`--set`): {over}.")
    lines += [
        "",
        selection_rule(results),
        "",
        "Numbers: mean ± sample standard deviation (ddof=1) over the completed seeds, test split; "
        "`± n/a` when only one seed completed; `n/a` when undefined (e.g. a split without "
        "positives); `*` when some seeds gave no value for that entry. Bold: the highest mean "
        "of a column.",
        "",
    ]
    if results.ignored:
        lines += [
            f"{results.ignored} complete run director{'y' if results.ignored == 1 else 'ies'} "
            "under runs/ belong to other settings (an earlier invocation) and are not counted.",
            "",
        ]
    return lines


def render_markdown(
    results: GridResults,
    comparisons: list[Comparison] | None = None,
    reference: Reference | None = None,
    plots: list[Any] | None = None,
    notes: list[str] | None = None,
    base: Path | None = None,
) -> str:
    """The text of ``results.md`` (plots embedded with paths relative to ``base``)."""
    out = _header(results)
    out += ["## Cells", "", render_md_table(runs_table(results)), ""]
    tables = main_tables(results)
    if tables:
        out += ["## Test results", ""]
        for _, t in tables:
            out += [f"### {t.caption}", "", render_md_table(t), ""]
    z = zero_shot_table(results)
    if z is not None:
        out += ["## Zero-shot", "", z.caption + ".", "", render_md_table(z), ""]
    f = few_shot_table(results)
    if f is not None:
        out += ["## Few-shot", "", f.caption + ".", "", render_md_table(f), ""]
    if comparisons and reference is not None:
        t = reference_table(comparisons, reference)
        out += ["## Published numbers", "", t.caption + ".", "", render_md_table(t), ""]
    if plots:
        out += ["## Plots", ""]
        for p in plots:
            rel = Path(p.path).relative_to(base) if base else Path(p.path)
            out += [f"### {p.title}", "", f"![{p.title}]({rel.as_posix()})", ""]
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    if results.failures:
        out += ["## Failed and skipped runs", ""]
        rows = [[r["run"], r["status"], r.get("error") or ""] for r in results.failures]
        out += [render_md_table(Table("", ["run", "status", "error"], rows)), ""]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out += [f"_Written by `emotrans report` on {stamp}; long form in {RESULTS_CSV}._", ""]
    return "\n".join(out)


def render_latex(
    results: GridResults,
    comparisons: list[Comparison] | None = None,
    reference: Reference | None = None,
) -> str:
    """The text of ``results.tex``: one ``table`` float per table (needs booktabs)."""
    name = tex_escape(results.name)
    out = [
        f"% emotrans report: grid {results.name}. Requires \\usepackage{{booktabs}} and amsmath.",
        "% " + selection_rule(results).replace("`", ""),
        "% Mean \\pm sample std (ddof=1) over seeds; n/a: one seed or undefined; *: some seeds "
        "gave no value.",
        "",
    ]
    slug = "".join(ch if ch.isalnum() else "-" for ch in results.name)
    for key, t in main_tables(results):
        t = Table(f"{name}: {t.caption}", t.head, t.rows, t.bold_best)
        out += [render_tex_table(t, f"{slug}-{key}"), ""]
    z = zero_shot_table(results)
    if z is not None:
        out += [render_tex_table(z, f"{slug}-zsl"), ""]
    f = few_shot_table(results)
    if f is not None:
        out += [render_tex_table(f, f"{slug}-fsl"), ""]
    if comparisons and reference is not None:
        out += [render_tex_table(reference_table(comparisons, reference), f"{slug}-reference"), ""]
    return "\n".join(out)


def write_report(
    folder: str | Path,
    reference: str | Path | None = None,
    plots: bool = True,
) -> ReportFiles:
    """Aggregate the grid folder and write results.md, results.csv, results.tex (and plots/).

    Parameters
    ----------
    folder : a grid folder written by ``emotrans reproduce`` (or any folder of run
        directories)
    reference : optional YAML of published numbers (see :mod:`emotrans.experiments.reference`)
    plots : draw the PNG pictures into ``folder/plots`` and embed them in results.md
    """
    results = collect(folder)
    ref = load_reference(reference) if reference else None
    comparisons = compare(ref, results) if ref else []
    drawn, notes = [], []
    if plots:
        drawn, notes = make_plots(results, results.folder / PLOTS_DIR)
    md = results.folder / RESULTS_MD
    csv_path = results.folder / RESULTS_CSV
    tex = results.folder / RESULTS_TEX
    write_text_atomic(csv_path, _csv_text(results, comparisons))
    write_text_atomic(tex, render_latex(results, comparisons, ref))
    write_text_atomic(
        md, render_markdown(results, comparisons, ref, drawn, notes, base=results.folder)
    )
    return ReportFiles(md, csv_path, tex, [p.path for p in drawn], notes)
