"""An edit pair: the draft the agent wrote and the text a rep sent instead (an `edit` decision).

Read from the store once (`service/edit_pairs.py`, with the names to anonymise) for the KPI
report (`reports/kpi/edits.py`) and the Chroma mirror of style examples
(`tools/style_examples.py`), whose retrieved pairs come back redacted, with their distance to the
draft being written. It lives here, below every layer that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EditPair:
    approval_id: str
    rep: str
    decided_at: datetime
    draft_subject: str
    draft_body: str
    sent_subject: str
    sent_body: str
    prompt_version: str | None = None
    lead_id: str | None = None
    handoff_id: str | None = None
    policy_version: str | None = None
    # What to replace by label before any other redaction: the lead's first/last name, company,
    # email and domain, the address the draft went to, the rep's names.
    names: tuple[tuple[str, str], ...] = ()
    # How close the pair's draft is to the draft being written (a retrieved style example).
    distance: float | None = None

    @property
    def draft_text(self) -> str:
        return f"{self.draft_subject}\n\n{self.draft_body}"

    @property
    def sent_text(self) -> str:
        return f"{self.sent_subject}\n\n{self.sent_body}"

    def as_prompt(self) -> dict[str, str]:
        """The view a drafting prompt renders: what the agent wrote and what the rep sent."""
        return {"draft_subject": self.draft_subject, "draft_body": self.draft_body,
                "sent_subject": self.sent_subject, "sent_body": self.sent_body}
