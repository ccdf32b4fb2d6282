"""Prompt templates: Jinja2 files in this folder, rendered by name and versioned by header.

Every template starts with a `{# version: NAME #}` comment. A draft records the version of the
templates that wrote it (`prompt_set_version`), which also folds in a short hash of the files'
text, so an edit that forgets to bump the header still changes the recorded version.
The Jinja2 environment is built on first use; importing this package does no work.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

PROMPTS_DIR = Path(__file__).parent
_VERSION_HEADER = re.compile(r"\A\{#\s*version:\s*([A-Za-z0-9._-]+)\s*#\}")

DRAFT_TEMPLATES: tuple[str, ...] = ("draft_system.j2", "draft_user.j2")
OFFLINE_DRAFT_TEMPLATES: tuple[str, ...] = ("offline_draft_subject.j2", "offline_draft_body.j2")


@cache
def environment() -> Environment:
    """The shared Jinja2 environment: strict about missing values, no HTML escaping.

    Templates are compiled once per process (`auto_reload=False`): with reloading on, every
    render stat()ed the file to see whether it changed. The templates ship with the code (and
    `_source` already reads each once), so a process that edits one calls
    `environment.cache_clear()`."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(PROMPTS_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    # Compact JSON for `tojson`; Jinja still escapes <, >, & and ' inside it, so data rendered
    # with it can never close the <lead_data> tag it sits in.
    env.policies["json.dumps_kwargs"] = {
        "sort_keys": False, "separators": (",", ":"), "ensure_ascii": False,
    }
    return env


def render(name: str, **values: Any) -> str:
    """Render the template `name` (e.g. "draft_system.j2") with `values`, stripped."""
    return environment().get_template(name).render(**values).strip()


@cache
def _source(name: str) -> str:
    path = PROMPTS_DIR / name
    if path.parent != PROMPTS_DIR or not path.is_file():
        raise FileNotFoundError(f"no prompt template named {name!r} in {PROMPTS_DIR}")
    return path.read_text(encoding="utf-8")


def prompt_version(name: str) -> str:
    """The version named in the template's `{# version: ... #}` header."""
    match = _VERSION_HEADER.match(_source(name))
    if match is None:
        raise ValueError(f"prompt template {name!r} has no '{{# version: ... #}}' header")
    return match.group(1)


@cache
def prompt_set_version(*names: str) -> str:
    """One version string for templates used together: their headers plus a content hash."""
    headers = list(dict.fromkeys(prompt_version(n) for n in names))
    digest = hashlib.sha256()
    for n in names:
        digest.update(n.encode())
        digest.update(b"\0")
        digest.update(_source(n).encode("utf-8"))
    return f"{'+'.join(headers)}@{digest.hexdigest()[:8]}"


def all_templates() -> list[str]:
    return sorted(p.name for p in PROMPTS_DIR.glob("*.j2"))


def __getattr__(name: str) -> Any:
    # PROMPT_VERSION is computed on first access, not at import time.
    if name == "PROMPT_VERSION":
        return prompt_set_version(*all_templates())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DRAFT_TEMPLATES", "OFFLINE_DRAFT_TEMPLATES", "PROMPTS_DIR", "PROMPT_VERSION",
    "all_templates", "environment", "prompt_set_version", "prompt_version", "render",
]
