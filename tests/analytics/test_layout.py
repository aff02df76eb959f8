"""The read side's boundary (DESIGN.md, Layout; CONVENTIONS.md 8): analytics reads surveys only
through surveys/selectors.py (and names its models for foreign keys and choices); the pure
statistics import no Django at all."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ANALYTICS = Path(__file__).resolve().parents[2] / "analytics"
# The synthetic organisation, and the demo built from it, are *users* of the write side: they
# import, launch, answer and close through surveys' own services, as real use does.
WRITERS = {"simulated_org.py", "management/commands/simulate_org.py", "demo.py", "management/commands/demo.py"}
ALLOWED = {"surveys.selectors", "surveys.models"}


def _surveys_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "surveys":
            if node.module == "surveys":
                found |= {f"surveys.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "surveys"}
    return found


def _read_side_modules() -> list[Path]:
    return [
        path
        for path in sorted(ANALYTICS.rglob("*.py"))
        if "migrations" not in path.parts and str(path.relative_to(ANALYTICS)) not in WRITERS
    ]


@pytest.mark.parametrize("path", _read_side_modules(), ids=lambda p: str(p.relative_to(ANALYTICS)))
def test_the_read_side_reads_surveys_only_through_its_selectors(path):
    assert _surveys_imports(path) <= ALLOWED


@pytest.mark.parametrize("module", ["analytics.stats", "analytics.simulation"])
def test_the_pure_modules_import_no_django(module):
    code = f"import sys, {module}; sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ANALYTICS.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
