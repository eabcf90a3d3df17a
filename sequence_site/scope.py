"""Who is acting and in which mode: the one value every service and selector filters on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sequence_site.models import Mode

if TYPE_CHECKING:
    from sequence_site.models import ApiKey, Client


@dataclass(frozen=True, slots=True)
class Scope:
    """A client acting in sandbox or live mode, through an API key or the dashboard.

    API requests get it as ``request.auth``; dashboard requests as ``request.client_scope``.
    """

    client: Client
    is_sandbox: bool
    api_key: ApiKey | None = None

    @property
    def mode(self) -> Mode:
        return Mode.from_sandbox(self.is_sandbox)
