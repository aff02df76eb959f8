"""The import direction inside surveys: the tasks import the services, never the reverse.

The services enqueue a task by its registered name (surveys/task_names.py), so importing any of
them can't start an import circle through surveys/tasks.py, and no lazy import hides one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SURVEYS = REPO / "surveys"
TASKS = "surveys.tasks"
# The tasks module itself, and the app config that registers the tasks in every process.
MAY_IMPORT_TASKS = {"surveys.tasks", "surveys.apps"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, *, module: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the code of ``module``) imports, anywhere in it, relative imports
    resolved: ``from . import tasks`` in ``surveys.waves`` yields ``surveys`` and ``surveys.tasks``."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            # ``from x import y``: y may be a module of x.
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def _imports_tasks(modules: set[str]) -> bool:
    return any(name == TASKS or name.startswith(f"{TASKS}.") for name in modules)


def _surveys_modules() -> list[Path]:
    return sorted(path for path in SURVEYS.rglob("*.py") if "migrations" not in path.relative_to(SURVEYS).parts)


def test_no_module_of_surveys_but_the_tasks_and_the_app_config_imports_the_tasks():
    # given every module of surveys, the web layer and the commands included
    modules = {_module_name(path): path for path in _surveys_modules()}
    assert {
        "surveys.dispatch",
        "surveys.waves",
        "surveys.services",
        "surveys.management.commands.launch_wave",
        "surveys.web.api_urls",
    } <= modules.keys()

    # when
    offenders = [
        name
        for name, path in modules.items()
        if name not in MAY_IMPORT_TASKS
        and _imports_tasks(imported_modules(path.read_text(), module=name, is_package=path.name == "__init__.py"))
    ]

    # then
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("surveys.waves", "from .tasks import invitations_dispatch_task"),
        ("surveys.waves", "from . import emails, tasks"),
        ("surveys.dispatch", "def f():\n    from . import tasks\n"),
        ("surveys.dispatch", "def f():\n    import surveys.tasks\n"),
        ("surveys.services", "from surveys import tasks"),
        ("surveys.services", "from surveys.tasks import SMTP_RETRIES"),
        ("surveys.web.api", "from .. import tasks"),
        ("surveys.web.api", "from ..tasks import invitations_dispatch_task"),
        ("surveys.intake", "importlib.import_module('surveys.tasks')"),
    ],
)
def test_the_check_sees_every_way_of_importing_the_tasks(module, source):
    assert _imports_tasks(imported_modules(source, module=module))


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("surveys.waves", "from . import task_names, tokens"),
        ("surveys.web.api", "from ..selectors import teams_visible_to"),
        ("surveys.web.api", "from . import tasks"),  # surveys.web.tasks, not surveys.tasks
        ("surveys.dispatch", "from celery import current_app"),
    ],
)
def test_the_check_lets_other_imports_through(module, source):
    assert not _imports_tasks(imported_modules(source, module=module))


def test_every_task_name_is_registered_in_a_process_that_never_imports_the_tasks_itself(tmp_path):
    # given a fresh process that only sets Django up, as a web process or a command does; with
    # eager Celery (the embedded default) a name enqueued there must be registered there
    probe = (
        "import django; django.setup()\n"
        "from celery import current_app\n"
        "from surveys import task_names\n"
        "names = [value for key, value in vars(task_names).items() if key.isupper()]\n"
        "print(sorted(name for name in names if name not in current_app.tasks))\n"
    )

    # when
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "PULSE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "pulse.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr
