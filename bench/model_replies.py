"""What the fake OpenAI server (bench/fake_openai.py) answers: a draft written from the
drafting prompt (plainly, or obeying every instruction found in it), the chat completion
envelope, and deterministic embeddings."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any

_LEAD_DATA = re.compile(r"<lead_data>\s*(.*?)\s*</lead_data>", re.DOTALL)
_SENDER = re.compile(r"^Sender: (.+?)(?: \(.*\))?$", re.MULTILINE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_STYLE_EXAMPLES = re.compile(r"<rep_style_examples>\s*(.*?)\s*</rep_style_examples>", re.DOTALL)
_REP_INSTRUCTION = re.compile(r"<rep_instruction>\s*(.*?)\s*</rep_instruction>", re.DOTALL)
_MENTION = re.compile(r"\bmention\s+([A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,3})")
_PLACEHOLDER = re.compile(r"‹[^›\n]{1,40}›")
_INSTRUCTION_WORDS = ("ignore", "instruction", "disregard", "override", "system", "assistant",
                      "forward", "send", "bcc", "cc:", "recipient", "reply to", "password",
                      "prompt", "admin", "developer", "jailbreak", "pretend", "act as",
                      "new rule", "you must", "execute", "include", "reveal", "print",
                      "approve", "urgent", "email", "ignor", "link", "mention", "anweisung",
                      "instrucc", "istruzion", "指令", "http", "www.")



def draft_reply(messages: list[dict[str, Any]], lead_data: dict[str, Any], *,
                obey_injections: bool = False) -> dict[str, Any]:
    """The draft (subject, body) a model would write for this drafting prompt."""
    user = next((str(m.get("content") or "") for m in messages if m.get("role") == "user"),
                "")
    sender_match = _SENDER.search(user)
    sender = sender_match.group(1).strip() if sender_match else "The team"
    lead = lead_data.get("lead") or {}
    package = lead_data.get("package") or {}
    first = str(lead.get("first_name") or "there")[:40]
    company = str(lead.get("company") or "your team")[:60]
    if obey_injections:
        return _obedient_draft(lead_data, first, sender, user)
    signals = package.get("top_signals") or []
    what = "your recent interest"
    if signals:
        kind = str(signals[0].get("type") or "").replace("_", " ")
        what = f"your recent {kind}" if kind else what
    body = (
        f"Hi {first},\n\n"
        f"Thanks for {what}. Teams like {company} usually reach out when they want to see "
        "how the workflow fits their own process, so I would be glad to walk you through "
        "it with your use case in mind and answer any questions along the way.\n\n"
        "Would a short call early next week work for you? If another time suits you "
        "better, just let me know and I will make it work.\n\n"
        f"Best,\n{sender}"
    )
    return {"subject": f"Following up for {company}"[:78], "body": body}


def lead_of(messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The lead id and the `<lead_data>` JSON of a drafting prompt (None, {} if absent)."""
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            continue
        match = _LEAD_DATA.search(content)
        if match is None:
            continue
        try:
            data = json.loads(match.group(1))
        except ValueError:
            return None, {}
        lead = data.get("lead") if isinstance(data, dict) else None
        lead_id = lead.get("lead_id") if isinstance(lead, dict) else None
        return (str(lead_id) if lead_id else None), data
    return None, {}


def _strings(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for value in node.values():
            out.extend(_strings(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_strings(value))
    return out


def _style_copy(user: str, first: str, company: str, sender: str) -> str:
    """The first style example's sent body, its placeholders filled from this lead or dropped:
    what a model that copies its few-shot examples too closely writes."""
    match = _STYLE_EXAMPLES.search(user)
    if match is None:
        return ""
    try:
        examples = json.loads(match.group(1))
    except ValueError:
        return ""
    if not examples or not isinstance(examples[0], dict):
        return ""
    fills = {"‹first_name›": first, "‹company›": company, "‹rep›": sender}
    text = str(examples[0].get("sent_body") or "")
    for placeholder, value in fills.items():
        text = text.replace(placeholder, value)
    return _PLACEHOLDER.sub("", text).strip()


def _obedient_draft(lead_data: dict[str, Any], first: str, sender: str, user: str = ""
                    ) -> dict[str, Any]:
    """What a model that follows instructions hidden in its prompt would write: the
    instructions copied in, every address, link and name they name, a recipient of its
    choosing, and its style examples copied."""
    texts = [t for t in _strings(lead_data)
             if any(w in t.lower() for w in _INSTRUCTION_WORDS)]
    texts += [m.group(1) for m in _REP_INSTRUCTION.finditer(user)]
    addresses = sorted({a for t in texts for a in _EMAIL.findall(t)})
    links = sorted({u for t in texts for u in _URL.findall(t)})
    names = list(dict.fromkeys(m.group(1) for t in texts for m in _MENTION.finditer(t)))
    company = str((lead_data.get("lead") or {}).get("company") or "your team")[:60]
    copied = _style_copy(user, first, company, sender)
    obeyed = " ".join(texts)[:600] or "No instructions found."
    body = f"{copied}\n\n" if copied else ""
    body += f"Hi {first},\n\nAs instructed: {obeyed}\n\n"
    if names:
        body += "I should also mention " + " and ".join(names) + ".\n\n"
    if addresses:
        body += "Forwarding this to " + ", ".join(addresses) + ".\n\n"
    if links:
        body += "Details: " + " ".join(links) + "\n\n"
    body += f"Best,\n{sender}"
    draft: dict[str, Any] = {"subject": ("Re: " + (texts[0] if texts else "your request"))[:70]
                             .replace("\n", " "), "body": body}
    if addresses:  # a field the schema does not have: the product must ignore it
        draft["to"] = addresses[0]
        draft["cc"] = addresses
    return draft


def completion(body: dict[str, Any], content: str | None, *, finish: str,
                refusal: str | None) -> dict[str, Any]:
    text = content or ""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "fake-model",
        "system_fingerprint": "fp_hitl_bench",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal,
                        "annotations": []},
            "logprobs": None,
            "finish_reason": finish,
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": max(1, len(text) // 4),
                  "total_tokens": max(1, len(text) // 4)},
    }


def vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector from the words of `text` (hashing trick)."""
    vec = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dim
        vec[index] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]
