"""What every report page must be: self-contained (no remote reference, no script), checked by
the eval, KPI, comparison and report API tests."""

from __future__ import annotations

import re

REMOTE_REFERENCE = re.compile(
    r"""(?:src|href|action|poster|data|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def assert_self_contained(page: str) -> None:
    """No remote src/href, no @import, no remote url(), no web fonts, no scripts."""
    assert not REMOTE_REFERENCE.search(page), REMOTE_REFERENCE.search(page)
    lowered = page.lower()
    assert "@import" not in lowered
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", lowered)
    assert "@font-face" not in lowered
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "<iframe" not in lowered
