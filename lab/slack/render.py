"""Plain-text rendering of a transcript, for the demo and for readable test failure messages."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from lab.slack.model import JSON, Message


def block_text(blocks: list[JSON] | None) -> list[str]:
    """The visible words of Block Kit blocks: section/context text and button labels."""
    lines: list[str] = []
    for block in blocks or []:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            lines.append(str(text["text"]))
        for element in block.get("elements", []):
            if element.get("type") == "button":
                lines.append(f"[{element.get('text', {}).get('text', element.get('action_id'))}]")
            elif isinstance(element.get("text"), str):
                lines.append(str(element["text"]))
        for field in block.get("fields", []):
            lines.append(str(field.get("text", "")))
    return lines


def render(messages: Iterable[Message], names: Mapping[str, str]) -> str:
    """One line per message (threads indented, ephemerals marked), then block text and edit count."""
    out: list[str] = []
    for message in messages:
        indent = "    ↳ " if message.thread_ts else ""
        clock = time.strftime("%H:%M:%S", time.gmtime(float(message.ts)))
        who = names.get(message.user, message.user)
        tags = []
        if message.ephemeral_to:
            tags.append(f"only @{names.get(message.ephemeral_to, message.ephemeral_to)}")
        if message.edits:
            tags.append(f"edited ×{len(message.edits)}")
        if message.files:
            tags.append(f"files: {', '.join(message.files)}")
        suffix = f"  ({'; '.join(tags)})" if tags else ""
        out.append(f"{indent}{clock} {who}: {message.text}{suffix}")
        pad = " " * (len(indent) + 9)
        out.extend(f"{pad}| {line}" for line in block_text(message.blocks) if line != message.text)
    return "\n".join(out)
