"""Where published reports live and how the API finds the latest one.

Reports are files, one folder per run: `<root>/<kind>/<run_id>/report.html`, `report.json` and
`summary.md`, with `kind` = `eval` or `kpi`. Run ids start with a UTC timestamp, so the latest run
is the greatest folder name that holds a complete report. A folder is written under a temporary
name and renamed into place, so a reader never sees half a report.

`<root>` is `HITL_REPORTS_DIR` when the settings carry it (`reports_dir`), else a `reports/`
folder next to the SQLite database (`./var/reports` for the default store), else `./var/reports`
(PostgreSQL). With several `hitl serve` replicas, point it at shared storage.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from config.settings import Settings

ReportKind = Literal["eval", "kpi"]
KINDS: tuple[ReportKind, ...] = ("eval", "kpi")
HTML_NAME = "report.html"
JSON_NAME = "report.json"
MARKDOWN_NAME = "summary.md"


def new_run_id(kind: str, at: datetime) -> str:
    """A run's folder name, sortable by time: `kpi-20261118T150000Z-1a2b3c`."""
    return f"{kind}-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def reports_root(settings: Settings) -> Path:
    configured = getattr(settings, "reports_dir", None)
    if configured:
        return Path(configured)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "reports"
    return Path("./var/reports")


def _run_dir(root: Path, kind: ReportKind, run_id: str) -> Path:
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise ValueError(f"not a run id: {run_id!r}")
    return root / kind / run_id


def publish(root: Path, kind: ReportKind, run: dict[str, Any], html: str, markdown: str) -> Path:
    """Store one run's HTML, JSON and Markdown; returns its folder."""
    target = _run_dir(root, kind, run["run_id"])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run['run_id']}-", dir=target.parent))
    try:
        write_files(staging, run, html, markdown)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def write_files(folder: Path, run: dict[str, Any], html: str, markdown: str,
                *, prefix: str = "") -> dict[str, Path]:
    """Write the three files into `folder` (names optionally prefixed, e.g. `eval-`)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": folder / f"{prefix}{HTML_NAME}",
        "json": folder / f"{prefix}{JSON_NAME}",
        "markdown": folder / f"{prefix}{MARKDOWN_NAME}",
    }
    paths["json"].write_text(json.dumps(run, indent=1, default=str, ensure_ascii=False),
                             encoding="utf-8")
    paths["markdown"].write_text(markdown, encoding="utf-8")
    # HTML last: its presence marks the folder complete.
    paths["html"].write_text(html, encoding="utf-8")
    return paths


def runs(root: Path, kind: ReportKind) -> list[Path]:
    """Complete runs of `kind`, oldest first."""
    folder = root / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / HTML_NAME).is_file())


def latest(root: Path, kind: ReportKind) -> Path | None:
    found = runs(root, kind)
    return found[-1] if found else None


def find_run(root: Path, kind: ReportKind, ref: str) -> Path | None:
    """A run's JSON by run id, or the path given if it is a file."""
    path = Path(ref)
    if path.is_file():
        return path
    if path.is_dir() and (path / JSON_NAME).is_file():
        return path / JSON_NAME
    try:
        candidate = _run_dir(root, kind, ref) / JSON_NAME
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


def load_run(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "run_id" not in data:
        raise ValueError(f"{path} is not a report JSON (no run_id)")
    return data
