"""Markdown files with front matter in a folder: read, parsed into their common fields, and
watched for changes (what `tools.markdown_index` mirrors into Chroma).

Front matter is YAML between `---` lines or TOML between `+++` lines, read by python-frontmatter
(YAML with the safe loader; TOML with the standard library's parser).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from frontmatter.default_handlers import BaseHandler, YAMLHandler

log = logging.getLogger(__name__)
Parsed = TypeVar("Parsed")
_MAX_SUMMARY_CHARS = 300


class _TomlHandler(BaseHandler):
    """`+++` TOML front matter via tomllib (python-frontmatter's own needs the `toml` package)."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)

    def export(self, metadata: dict[str, object], **kwargs: object) -> str:
        raise NotImplementedError("front matter is only read here")


_HANDLERS: dict[str, tuple[BaseHandler, str]] = {"---": (YAMLHandler(), "YAML"),
                                                 "+++": (_TomlHandler(), "TOML")}


def split_front_matter(text: str, *, required: bool) -> tuple[dict[str, Any], str]:
    """(metadata with lower-case keys, body) of a Markdown file; ValueError says what is wrong.

    Without a front matter block: `({}, text)`, or ValueError when `required`."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    fence = lines[0].strip() if lines else ""
    if fence not in _HANDLERS:
        if required:
            raise ValueError("no front matter (start the file with a '---' line)")
        return {}, text
    # python-frontmatter reads an unclosed block as "no front matter": say what is wrong instead.
    if not any(line.strip() == fence for line in lines[1:]):
        raise ValueError(f"front matter is not closed by a '{fence}' line")
    handler, dialect = _HANDLERS[fence]
    # The handler's own split and load: `frontmatter.loads` would drop a block that is not a
    # mapping (a YAML list, say) without a word.
    block, body = handler.split(text)
    try:
        loaded = handler.load(block)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"front matter is not valid {dialect} ({detail})") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ValueError("front matter must be 'key: value' lines")
    return {str(key).strip().lower(): value for key, value in loaded.items()}, body


def tag_list(value: Any) -> tuple[str, ...]:
    """Tags from a list or a comma-separated string, lower case, blanks dropped."""
    items = value.split(",") if isinstance(value, str) else (value or [])
    return tuple(str(t).strip().lower() for t in items if str(t).strip())


@dataclass(frozen=True)
class MarkdownDoc:
    """What every indexed Markdown file has; a content asset or a help article adds its own."""

    relpath: str
    title: str
    tags: tuple[str, ...]
    summary: str
    body: str
    content_hash: str  # of the whole file: an unchanged file is not embedded again


def read_doc(text: str, relpath: str, *, front_matter_required: bool,
             untitled: str | None = None) -> tuple[dict[str, Any], MarkdownDoc]:
    """(front matter with lower-case keys, the common fields) of one Markdown file; ValueError
    says what is wrong with it. The title is the front matter's, else the first `# ` heading,
    else `untitled` (by default the file name, dashes and underscores as spaces)."""
    text = text.lstrip("\ufeff")
    meta, body = split_front_matter(text, required=front_matter_required)
    body = body.strip()
    title = str(meta.get("title") or "").strip()
    if not title:
        heading = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("# ")), "")
        title = heading or (title_from_path(relpath) if untitled is None else untitled)
    return meta, MarkdownDoc(
        relpath=relpath, title=title, tags=tag_list(meta.get("tags")),
        summary=" ".join(str(meta.get("summary") or "").split())[:_MAX_SUMMARY_CHARS],
        body=body, content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest())


def title_from_path(relpath: str) -> str:
    """A title for a file that names none: its name, dashes and underscores as spaces."""
    return Path(relpath).stem.replace("-", " ").replace("_", " ")


def read_folder(folder: Path, parse: Callable[[str, str], Parsed], *, what: str
                ) -> tuple[dict[str, Parsed], list[str]]:
    """Every `*.md` under `folder` (recursively, hidden paths left out) parsed by
    `parse(text, relpath)`, by relative path; files that do not parse are logged and listed
    as `"relpath: why"`."""
    parsed: dict[str, Parsed] = {}
    skipped: list[str] = []
    for file, relpath in _markdown_files(folder):
        try:
            parsed[relpath] = parse(file.read_text(encoding="utf-8"), relpath)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("%s: skipping %s: %s", what, file, exc)
            skipped.append(f"{relpath}: {exc}")
    return parsed, skipped


def _markdown_files(folder: Path) -> Iterator[tuple[Path, str]]:
    for file in sorted(folder.rglob("*.md")):
        rel = file.relative_to(folder)
        if file.is_file() and not any(p.startswith(".") for p in rel.parts):
            yield file, rel.as_posix()


def folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What the Markdown files under `folder` look like on disk: (relative path, size,
    modification time in ns) of each, sorted; empty when the folder is gone. A stat per file,
    nothing is read."""
    if not folder.is_dir():
        return ()
    found = []
    for file, relpath in _markdown_files(folder):
        try:
            stat = file.stat()
        except OSError:
            continue
        found.append((relpath, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


class FolderWatch:
    """The folders an index mirrors, and how they looked when last indexed, so a search can
    pick up a new or changed file without a restart: `due()` stats the files (at most once
    every `check_every_s` seconds; 0 checks on every call) and names the folders that changed.
    No thread and no file-system watcher: the cost is one stat per file, paid by a search."""

    def __init__(self, check_every_s: float = 2.0) -> None:
        self.check_every_s = check_every_s
        self._seen: dict[Path, tuple[tuple[str, int, int], ...] | None] = {}
        self._last_check: float | None = None
        self._lock = threading.Lock()

    def watch(self, folder: Path,
              signature: tuple[tuple[str, int, int], ...] | None = None) -> None:
        """Watch `folder`; `signature` is how it looked when indexed (None: not indexed by this
        process yet, so the next check re-indexes it)."""
        with self._lock:
            self._seen[folder.resolve()] = signature

    def folders(self) -> list[Path]:
        return list(self._seen)

    def due(self, now: float) -> list[tuple[Path, tuple[tuple[str, int, int], ...]]]:
        """The watched folders whose files changed since they were indexed, with their new
        signature (pass it to `watch` once re-indexed); none when checked too recently."""
        with self._lock:
            if (self._last_check is not None and self.check_every_s > 0
                    and now - self._last_check < self.check_every_s):
                return []
            self._last_check = now
            folders = list(self._seen.items())
        changed = []
        for folder, seen in folders:
            current = folder_signature(folder)
            if current != seen:
                changed.append((folder, current))
        return changed
