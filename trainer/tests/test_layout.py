"""The trainer's layout rules, checked on its source with ``ast``: it builds on the SDK's public API only, and its
subpackages depend on each other in one direction (data <- generative, data <- student)."""

from __future__ import annotations

import ast
from pathlib import Path

import interank_trainer

PACKAGE = Path(interank_trainer.__file__).parent
#: the SDK modules the trainer may import: its public API (``interank_sdk.training`` is the seam built for it)
PUBLIC_SDK = ("interank_sdk", "interank_sdk.training", "interank_sdk.eval", "interank_sdk.errors", "interank_sdk.card",
              "interank_sdk.prompts")
#: what each subpackage may import from the others (besides the shared top-level modules)
ALLOWED_SUBPACKAGES = {"data": set(), "generative": {"data"}, "student": {"data"}}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str, list[str], int]]:
    """``(line, module, names, level)`` of every import statement, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, [], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, node.module or "", [a.name for a in node.names], node.level))
    return out


def _public_sdk(module: str, names: list[str]) -> bool:
    if module == "interank_sdk":
        return not any(name.startswith("_") for name in names)
    if module.startswith("interank_sdk.eval."):  # the eval package's own public modules (data, qa, bm25...)
        return not any(part.startswith("_") for part in module.split(".")[2:])
    return module in PUBLIC_SDK


def test_the_trainer_imports_only_the_public_sdk():
    """No ``interank_sdk._*``, ``backends``, ``strategies``, ``sources``, ``detect`` or ``reranker`` import."""
    bad = [f"{path.relative_to(PACKAGE)}:{line}: {module} {names}"
           for path in _modules() for line, module, names, level in _imports(path)
           if level == 0 and module.split(".")[0] == "interank_sdk" and not _public_sdk(module, names)]
    assert not bad, "private SDK imports (add what the trainer needs to interank_sdk.training):\n" + "\n".join(bad)


def test_subpackages_depend_in_one_direction():
    bad = []
    for path in _modules():
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) < 2:
            continue
        own = rel.parts[0]
        package = ["interank_trainer", *rel.parts[:-1]]
        for line, module, _, level in _imports(path):
            if level:
                target = package[: len(package) - level + 1] + ([module] if module else [])
            elif module.startswith("interank_trainer."):
                target = module.split(".")
            else:
                continue
            other = target[1] if len(target) > 1 else ""
            if other in ALLOWED_SUBPACKAGES and other != own and other not in ALLOWED_SUBPACKAGES[own]:
                bad.append(f"{rel}:{line}: {'.'.join(target)}")
    assert not bad, "imports against the layering (data <- generative, data <- student):\n" + "\n".join(bad)


def test_every_module_has_a_docstring():
    missing = [str(p.relative_to(PACKAGE)) for p in _modules()
               if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing


def test_the_public_api_is_importable_from_the_top_level():
    assert all(getattr(interank_trainer, name, None) is not None for name in interank_trainer.__all__)


def test_missing_dependencies_go_through_need():
    """``_deps.need`` is the one place that turns an ImportError into an install hint."""
    def catches_import_error(handler: ast.ExceptHandler) -> bool:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)

    bad = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in _modules() if path.name != "_deps.py"
           for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
           if isinstance(node, ast.ExceptHandler) and node.type is not None and catches_import_error(node)]
    assert not bad, "use interank_trainer._deps.need instead of catching ImportError:\n" + "\n".join(bad)
