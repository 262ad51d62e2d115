"""The Python snippets of README.md and docs/*.md run as written.

Every ```python block is executed, in a fresh project folder, after the set-up its page states
before it (for the README's tour: ``modelyard init churn``, then ``modelyard data add
customers.parquet``, with a small customers file written here since the README assumes the
reader's own). The blocks of one page run in order in one interpreter, as a reader pastes them.

A block that needs the reader's own context (a registry ``reg`` already open, their training
module, another product) is marked ``<!-- not run: why -->`` on the line before its fence. It is
still compiled, and its ``modelyard`` imports are executed: a page that names a module or
function that no longer exists fails here too.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```python\s*$")
NOT_RUN = re.compile(r"^<!-- not run: (?P<why>\S.*?) -->\s*$")


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None  # the reason, when the page marks the block

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    lines = page.read_text().splitlines()
    found: list[Snippet] = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marked = NOT_RUN.match(before)
            code = "\n".join(lines[i + 1 : end]) + "\n"
            found.append(Snippet(page, i + 1, code, marked.group("why") if marked else None))
            i = end
        i += 1
    return found


ALL = [s for page in PAGES for s in snippets(page)]
RUN_PAGES = sorted({s.page for s in ALL if s.not_run is None and s.page.name != "README.md"})


def _env() -> dict[str, str]:
    """A reader's shell: none of the suite's MODELYARD_* settings, and warnings are errors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return {**env, "PYTHONWARNINGS": "error"}


def _run_page(page: Path, cwd: Path) -> None:
    """The page's runnable blocks, in order, as one script in ``cwd``."""
    blocks = [s for s in snippets(page) if s.not_run is None]
    script = "".join(f"# {s.where}\n{s.code}" for s in blocks)
    done = subprocess.run(
        [str(BIN / "python"), "-c", script],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{page.name} snippets failed:\n{done.stdout}\n{done.stderr}"


def _cli(cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "modelyard"), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"modelyard {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.mark.slow
def test_the_readme_tour_runs_in_a_fresh_project(tmp_path: Path) -> None:
    # the tour's set-up: `modelyard init churn && cd churn`, `modelyard data add customers.parquet`
    _cli(tmp_path, "init", "churn")
    project = tmp_path / "churn"
    rng = np.random.default_rng(0)
    customers = pd.DataFrame(
        {"tenure": rng.integers(1, 60, 200), "monthly": rng.normal(50, 10, 200).round(2)}
    )
    customers["churned"] = (customers["tenure"] < 12).astype(int)
    customers.to_parquet(project / "customers.parquet")
    _cli(project, "data", "add", "customers.parquet", "--name", "customers")
    _run_page(ROOT / "README.md", project)
    _cli(project, "models", "show", "churn@1")  # the tour's next step finds what it made


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: p.name)
def test_the_docs_snippets_run(page: Path, tmp_path: Path) -> None:
    _run_page(page, tmp_path)


@pytest.mark.parametrize("snippet", ALL, ids=lambda s: s.where)
def test_every_snippet_compiles_and_its_modelyard_imports_exist(snippet: Snippet) -> None:
    tree = ast.parse(snippet.code, filename=snippet.where)
    imports: list[ast.stmt] = [
        node
        for node in tree.body
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelyard"))
        or (
            isinstance(node, ast.Import)
            and all(alias.name.startswith("modelyard") for alias in node.names)
        )
    ]
    exec(compile(ast.Module(body=imports, type_ignores=[]), snippet.where, "exec"), {})


def test_the_readme_runs_every_block() -> None:
    skipped = [s.where for s in snippets(ROOT / "README.md") if s.not_run is not None]
    assert skipped == [], "the README's snippets are the tour: every one runs"
