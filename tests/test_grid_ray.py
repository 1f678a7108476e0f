"""``--executor ray``: a tiny grid on a local Ray instance (skipped when Ray is not installed).

Install with ``pip install 'emotrans[ray]'``. Each call starts (and stops) its own local Ray
instance because no cluster is running, as a user without a cluster would see it.
"""

from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("ray")

from emotrans.experiments import reproduce  # noqa: E402
from emotrans.training.rundir import RunDir, is_complete  # noqa: E402
from helpers import EMB

TINY = {"epochs": 1, "batch_size": 16, "hidden_audio": 8, "hidden_vision": 4, "layers": 1}

GRID = """
seeds: 2
base:
  embeddings: "random:0:16"
cells:
  - name: "{model}"
    settings:
      model: [transferable, ef-lstm]
  - name: "zsl-{zsl}"
    settings:
      zsl: boredom
"""


def test_ray_executor_runs_resumes_and_records_failures(tmp_path):
    import ray

    from emotrans.data.synthetic import write_synthetic

    data = write_synthetic(
        tmp_path / "data", dataset="mosei", format="mosei-h5", scale=0.005, embeddings=EMB
    )
    grid = tmp_path / "grid.yaml"
    grid.write_text(textwrap.dedent(GRID))
    out = tmp_path / "out"

    first = reproduce(grid, data, out, seeds=1, overrides=TINY, executor="ray", jobs=2)
    assert not ray.is_initialized()  # the local instance it started is stopped again
    assert first.counts["complete"] == 2 and first.trained == 2
    (failure,) = first.failures
    assert failure["cell"] == "zsl-boredom" and "boredom" in failure["error"]
    assert "\n" not in failure["error"]
    state = json.loads((out / "grid.json").read_text())
    seed0 = [out / r["run"] for r in state["runs"] if r["status"] == "complete"]
    mtimes = [(p / "metrics.json").stat().st_mtime_ns for p in seed0]

    second = reproduce(grid, data, out, seeds=2, overrides=TINY, executor="ray", jobs=2)
    assert second.trained == 2 and second.counts["complete"] == 4
    assert [(p / "metrics.json").stat().st_mtime_ns for p in seed0] == mtimes
    for rec in json.loads((out / "grid.json").read_text())["runs"]:
        if rec["status"] == "complete":
            assert is_complete(out / rec["run"])
            assert RunDir(out / rec["run"]).config().seed == rec["seed"]
