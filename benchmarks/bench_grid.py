"""Overheads of `emotrans reproduce` / `emotrans report`, and --jobs scaling on tiny data.

    python benchmarks/bench_grid.py

1. expanding each shipped grid (5 seeds);
2. the scheduler's bookkeeping per run (grid.json rewritten after every run) on fsl-mosei,
   150 runs, with an instant fake trainer;
3. the report (tables, then tables + plots) over those 150 runs;
4. a real 8-run grid on tiny generated CMU-MOSEI data: --jobs 2 (1 thread each), then
   --jobs 1 with 1 thread and with every core. On a shared machine, read the load average.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import time
from pathlib import Path


def fake_train(config, out, progress=False, overwrite=False):
    from emotrans.training.rundir import RunDir, staging_dir

    emotions = ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    row = {"wacc": 0.6, "f1": 0.6, "auc": 0.7, "acc": 0.6}
    split = {
        "per_emotion": dict.fromkeys(emotions, row),
        "average": row,
        "multilabel": {"strict": 0.1, "subset": 0.2, "intersect": 0.5},
    }
    metrics = {"model": config.model, "modalities": "tav", "dataset": "mosei"}
    metrics.update(select_metric="wacc", best_epoch=3, epochs_run=8, splits={"test": split})
    if config.zsl:
        metrics["zsl"] = {"unseen": config.zsl, "unseen_metrics": split, "seen_metrics": split}
    if config.fsl:
        stage = {"target": row, "seen_average": row}
        metrics["fsl"] = {"target": config.fsl, "mode": config.fsl_mode, "shots": 3}
        metrics["fsl"].update(before=stage, after=stage, forgetting=0.0)
    with staging_dir(out) as tmp:
        run = RunDir(tmp)
        run.write_config(config)
        (tmp / "model.json").write_text("{}")
        (tmp / "model.safetensors").write_bytes(b"x")
        run.write_metrics(metrics)
        run.write_history([{"epoch": 1, "train_loss": 1.0, "valid_loss": 1.0, "valid_wacc": 0.5}])


def main() -> int:
    from emotrans.experiments import expand_runs, known_grids, load_grid, reproduce
    from emotrans.experiments.report import write_report
    from emotrans.training import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        print("1. expansion (5 seeds)")
        for name in known_grids():
            start = time.perf_counter()
            grid = load_grid(name)
            over = {"zsl_data": str(data)} if grid.requires else None
            runs = expand_runs(grid, data, tmp / "x", overrides=over)
            ms = (time.perf_counter() - start) * 1e3
            print(f"   {name:13s} {len(runs):4d} runs  {ms:6.1f} ms")

        print("2. scheduler bookkeeping, fsl-mosei, fake instant trainer")
        real = pipeline.train_run
        pipeline.train_run = fake_train
        try:
            start = time.perf_counter()
            summary = reproduce("fsl-mosei", data, tmp / "fsl")
            sec = time.perf_counter() - start
        finally:
            pipeline.train_run = real
        print(
            f"   {summary.total} runs in {sec:.2f} s = {sec / summary.total * 1e3:.1f} ms per run"
        )
        start = time.perf_counter()
        again = reproduce("fsl-mosei", data, tmp / "fsl")
        print(
            f"   resume with all complete: {time.perf_counter() - start:.2f} s ({again.trained} trained)"
        )

        print("3. report over 150 runs")
        start = time.perf_counter()
        write_report(tmp / "fsl", plots=False)
        print(f"   tables only: {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        files = write_report(tmp / "fsl", plots=True)
        print(f"   tables + {len(files.plots)} plots: {time.perf_counter() - start:.2f} s")

        print(f"4. real tiny grid, 4 cells x 2 seeds (cpu_count={os.cpu_count()})")
        from emotrans.data.synthetic import write_synthetic

        emb = "random:0:16"
        mosei = write_synthetic(
            tmp / "mosei", "mosei", format="mosei-h5", scale=0.01, embeddings=emb
        )
        grid = tmp / "tiny.yaml"
        grid.write_text(
            textwrap.dedent(
                """
                seeds: 2
                cells:
                  - name: "{model}"
                    settings:
                      model: [transferable, ef-lstm, lf-lstm, mult]
                """
            )
        )
        tiny = {"epochs": 2, "batch_size": 32, "hidden_audio": 16, "hidden_vision": 8}
        tiny.update(embeddings=emb, ef_hidden=16, mult_dim=10, mult_heads=2, mult_layers=1)
        for jobs, threads in ((2, 1), (1, 1), (1, os.cpu_count() or 1)):
            start = time.perf_counter()
            out = tmp / f"jobs{jobs}-threads{threads}"
            s = reproduce(grid, mosei, out, overrides=tiny, jobs=jobs, threads=threads)
            print(
                f"   --jobs {jobs} --threads {threads}: {s.counts['complete']}/{s.total} runs in "
                f"{time.perf_counter() - start:.1f} s (load average {os.getloadavg()[0]:.1f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
