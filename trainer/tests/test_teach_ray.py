"""teach on Ray Data: a real local Ray cluster on this machine (2 actors of 1 CPU), same rows as one process."""

from __future__ import annotations

import json

import pytest

from distill_samples import write_trec
from interank_trainer import SamplingConfig, teach
from interank_trainer.data.formats import MANIFEST_FILE
from interank_trainer.student.teach import SCORES_FILE, read_scores

ray = pytest.importorskip("ray", reason="pip install 'interank-trainer[ray]' (ray[data]) to test the Ray path")


def test_ray_run_writes_the_same_rows_as_one_process(tiny_model, tmp_path):
    trec = write_trec(tmp_path / "trec")
    settings = dict(judgments=trec, teacher=str(tiny_model), teacher_strategy="qlm", teacher_dtype="float32",
                    sampling=SamplingConfig(depth=8, top_k=3, deep_k=2, seed=1), threads=1, show_progress=False)
    local = teach(out=tmp_path / "local", **settings)
    on_ray = teach(out=tmp_path / "ray", ray="local", ray_workers=2, ray_cpus_per_worker=1, **settings)
    assert not ray.is_initialized()  # the local cluster it started is stopped again
    assert (tmp_path / "ray" / SCORES_FILE).read_text() == (tmp_path / "local" / SCORES_FILE).read_text()
    assert on_ray.pools_done == local.pools_done == 4 and on_ray.pairs == local.pairs
    assert on_ray.dropped == local.dropped == {"no_positive": 1, "missing_passage": 1, "empty_passage": 1}
    manifest = json.loads((tmp_path / "ray" / MANIFEST_FILE).read_text())
    assert manifest["status"] == "complete" and manifest["teacher"]["runner"] == "ray (local)"
    assert all(len(r["teacher_scores"]) == len(r["docs"]) for r in read_scores(tmp_path / "ray"))
