"""The emulated agents: a minimal agent object (spec 9.2 subset) and the token's access to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telzino_provider.emulator.timefmt import fmt_agent


@dataclass(frozen=True)
class Agent:
    """An agent. ``accessible`` = the emulator's tokens may use it (else requests get 403)."""

    id: str
    organization_id: str
    name: str
    created_us: int
    accessible: bool = True

    def to_json(self) -> dict[str, Any]:
        created = fmt_agent(self.created_us)
        return {
            "id": self.id,
            "organization_id": self.organization_id,
            "name": self.name,
            "status": "active",
            "is_active": True,
            "created_at": created,
            "updated_at": created,
        }
