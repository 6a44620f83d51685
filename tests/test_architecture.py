"""The rules of docs/architecture.md that a test can hold: where code lives, who imports
whom, and that every module says its job."""

from __future__ import annotations

import ast
from pathlib import Path

import runrgateway

PACKAGE = Path(runrgateway.__file__).parent
# The client: the twins and the package modules only they use. The embedded gateway
# never imports any of them (it speaks the wire protocol, not the client's code).
CLIENT_MODULES = {
    "_async", "_sync", "_client_base", "_attempts", "_responses", "_token_cache",
    "_call_options", "_pools", "_transport", "_tracing",
}  # fmt: skip
LONGEST_MODULE = 600  # lines; the generated twins aside


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imported(path: Path, package: Path = PACKAGE) -> set[str]:
    """The runrgateway modules `path` imports, as their first name under the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(package).parts) - 1  # 0 for a top-level module
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("runrgateway."):
                names.add(node.module.split(".")[1])
            elif node.level > depth:  # relative, reaching the package level
                if node.module:
                    names.add(node.module.split(".")[0])
                else:
                    names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(
                a.name.split(".")[1] for a in node.names if a.name.startswith("runrgateway.")
            )
    return names


def test_the_embedded_gateway_never_imports_the_client() -> None:
    found = {
        path.relative_to(PACKAGE).as_posix(): sorted(_imported(path) & CLIENT_MODULES)
        for path in (PACKAGE / "testing").rglob("*.py")
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_the_check_sees_a_relative_import_of_the_client(tmp_path: Path) -> None:
    """The scan above can fail: an import of the client from testing/ is found."""
    module = tmp_path / "runrgateway" / "testing" / "_example.py"
    module.parent.mkdir(parents=True)
    module.write_text("from .._client_base import ClientBase\nfrom . import _gateway\n")
    assert _imported(module, tmp_path / "runrgateway") == {"_client_base"}


def test_every_module_says_its_job_and_what_it_never_does() -> None:
    missing = []
    for path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "_sync" in path.parts:
            continue  # generated: the async source's docstring, translated
        if not doc or not any(word in doc.lower() for word in ("never", "must not", "no i/o")):
            missing.append(path.relative_to(PACKAGE).as_posix())
    assert missing == []


def test_no_hand_written_module_is_over_600_lines() -> None:
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in _modules()
        if "_sync" not in path.parts
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > LONGEST_MODULE
    }
    assert long == {}
