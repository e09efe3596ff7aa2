"""Dependency hygiene: declared version ranges hold for what the suite runs on, SPDX licenses, and no library
warnings (transformers deprecations included) reach a user of the SDK."""

from __future__ import annotations

import importlib.metadata
import sys
import warnings
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

from packaging.requirements import Requirement  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROJECTS = [REPO / "pyproject.toml", REPO / "trainer" / "pyproject.toml",
            REPO / "integrations" / "llama-index" / "pyproject.toml", REPO / "integrations" / "langchain" / "pyproject.toml"]
#: the extras whose packages the test command installs (vllm lives in .venv-vllm; quantization, gguf, eval: any)
CHECKED_EXTRAS = ("hf", "lora", "remote", "serve")


def _requirements() -> list[Requirement]:
    project = tomllib.loads(PROJECTS[0].read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in CHECKED_EXTRAS:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra] if not r.startswith("interank-sdk")]
    return reqs


@pytest.mark.parametrize("req", _requirements(), ids=str)
def test_installed_versions_are_inside_the_declared_ranges(req):
    installed = importlib.metadata.version(req.name)
    assert req.specifier.contains(installed, prereleases=True), f"{req.name} {installed} is outside {req.specifier}"
    assert req.specifier, f"{req.name} has no declared range"


@pytest.mark.parametrize("path", PROJECTS, ids=lambda p: str(p.relative_to(REPO)))
def test_licenses_use_the_spdx_form_setuptools_requires(path):
    data = tomllib.loads(path.read_text())
    assert isinstance(data["project"]["license"], str)  # a table ({text = ...}) stops building after 2027-02-18
    assert any(Requirement(r).name == "setuptools" and Requirement(r).specifier.contains("77")
               for r in data["build-system"]["requires"])


def test_using_the_sdk_shows_no_library_warnings(tiny_model, tmp_path):
    """Load and rerank with each model kind while every warning is recorded: none may come from the libraries."""
    pytest.importorskip("sentence_transformers")
    from reranker_models import build_cross_encoder

    from interank_sdk import Reranker

    cross_encoder = build_cross_encoder(tmp_path / "ce", "bert")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for model, kwargs in ((tiny_model, {"strategy": "qlm"}), (tiny_model, {"strategy": "yesno"}),
                              (cross_encoder, {})):
            reranker = Reranker(str(model), dtype="float32", **kwargs)
            reranker.rerank("what do cats eat", ["the cat eats food", "paris is a city", "dogs eat food too"])
        Reranker(str(tiny_model), strategy="reasoning", dtype="float32", max_new_tokens=4).rerank(
            "what do cats eat", ["the cat eats food"])
    shown = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]
    assert not shown, "\n".join(shown)
