"""Venue credentials: connect (verified at once with an authenticated read), list, disconnect, and
the one place they are opened (by the live edge that sends the client's orders).

Only live (``seq_live_``) keys reach any of this: a sandbox key is refused here before anything is
read, and its orders are always paper (a database constraint on `trading.Order`), so no sandbox
request can ever make a live venue call. Credentials are AEAD-sealed (`sequence_site.crypto`,
bound to the row) and never returned, logged or put in an error message: errors carry the venue's
words, which are about the request, never the key.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sequence_site import crypto
from sequence_site.errors import Conflict, DomainError, InvalidInput, NotFound, Unavailable
from sequence_site.scope import Scope
from trading.lifecycle import OrderStatus
from trading.models import Order, VenueCredential
from venues.instruments import VENUES
from venues.order_clients import ORDER_CLIENTS, build_order_client
from venues.orders import CREDENTIAL_FIELDS, OrderClient, OrderConfig, OrderError

logger = logging.getLogger(__name__)

PURPOSE = "venue.credentials"
MAX_FIELD_CHARS = 8192  # a PEM key is ~250 characters; anything far bigger is a mistake


class LiveKeyRequired(DomainError):
    """A sandbox key asked for something only a live key may do (venue credentials, live orders)."""

    status = 403
    code = "live_key_required"


class NoLiveConnector(DomainError):
    """Live orders or credentials for a venue this deployment cannot trade at (no order client in
    this build, or the operator has not switched the venue on): refused, never dropped."""

    status = 422
    code = "no_live_connector"


class VenueRefused(DomainError):
    """The venue refused a request made with the client's credentials: `code` says what it means
    (``venue_auth_failed``, ``venue_insufficient_funds``, ...), the message keeps the venue's text."""

    status = 422

    def __init__(self, venue: str, error: OrderError, *, doing: str, then: str = "") -> None:
        self.code = f"venue_{error.code}"
        super().__init__(
            f"{venue} refused {doing}: {_ERROR_WORDS.get(error.code, error.code)} "
            f"(the venue said: {error.venue_message}){'. ' + then if then else ''}",
            details={"venue": venue, "venue_code": error.code, "venue_message": error.venue_message},
        )


class VenueUnreachable(Unavailable):
    code = "venue_unreachable"


_ERROR_WORDS = {
    "auth_failed": "the credentials are wrong, expired, or lack a permission",
    "insufficient_funds": "insufficient funds",
    "below_minimum": "below the venue's minimum size or notional",
    "bad_tick": "the price is not on the venue's tick grid",
    "bad_lot": "the quantity is not a multiple of the venue's lot",
    "rate_limited": "rate limited",
    "unknown_symbol": "the venue does not list this symbol",
    "unknown_order": "the venue does not know this order",
    "post_only_would_cross": "post-only order would cross",
    "market_closed": "the market is closed",
    "rejected": "rejected",
}


def require_live(scope: Scope, what: str) -> None:
    if scope.is_sandbox:
        raise LiveKeyRequired(
            f"{what} needs a live (seq_live_) key: sandbox keys paper-trade and never reach a venue."
        )


def venue_order_config(venue: str) -> OrderConfig:
    """VENUE_ORDERS_<VENUE>_REST_URL/_WS_URL/_OPTIONS for venues.orders, which reads no settings."""
    v = venue.upper()
    return OrderConfig(
        rest_url=getattr(settings, f"VENUE_ORDERS_{v}_REST_URL", ""),
        ws_url=getattr(settings, f"VENUE_ORDERS_{v}_WS_URL", ""),
        options=dict(getattr(settings, f"VENUE_ORDERS_{v}_OPTIONS", {})),
    )


def known_venue(venue: Any) -> str:
    """`venue` as the platform names it (``kraken``), or InvalidInput naming the known ones."""
    if not isinstance(venue, str) or venue.strip().lower() not in VENUES:
        raise InvalidInput(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
    return venue.strip().lower()


def check_venue(venue: Any) -> str:
    """A known venue this build has an order client for (else NoLiveConnector)."""
    venue = known_venue(venue)
    if venue not in ORDER_CLIENTS:
        raise NoLiveConnector(
            f"no live order client for {venue} in this build (live venues: "
            f"{', '.join(sorted(ORDER_CLIENTS)) or 'none'})"
        )
    return venue


def _check_fields(venue: str, credentials: Any) -> dict[str, str]:
    wanted = CREDENTIAL_FIELDS[venue]
    if not isinstance(credentials, Mapping):
        raise InvalidInput(f"credentials must be an object with {', '.join(wanted)}")
    unknown = sorted(str(k) for k in credentials if k not in wanted)
    if unknown:
        raise InvalidInput(
            f"unknown credential fields for {venue}: {', '.join(unknown)} (wanted: {', '.join(wanted)})"
        )
    missing = [f for f in wanted if not isinstance(credentials.get(f), str) or not credentials[f].strip()]
    if missing:
        raise InvalidInput(f"missing credential fields for {venue}: {', '.join(missing)}")
    too_long = [f for f in wanted if len(credentials[f]) > MAX_FIELD_CHARS]
    if too_long:
        raise InvalidInput(f"credential fields over {MAX_FIELD_CHARS} characters: {', '.join(too_long)}")
    return {f: _repair_pem(credentials[f].strip()) for f in wanted}


_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def _repair_pem(value: str) -> str:
    """A PEM key as OpenSSL reads it, however it was pasted. A password input drops its line
    breaks, and a key copied out of Coinbase's JSON file carries literal ``\\n``: both leave the
    base64 body intact, so it is re-wrapped at 64 characters between its BEGIN/END lines. Anything
    that is not a PEM block is returned as it came."""
    text = value.replace("\\r\\n", "\n").replace("\\n", "\n")
    match = _PEM.fullmatch(text.strip())
    if match is None:
        return value
    label, body = match.group(1), "".join(match.group(2).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def order_client(venue: str, credentials: Mapping[str, str]) -> OrderClient:
    from venues.instruments import get_instrument

    return build_order_client(
        venue, credentials, venue_order_config(venue), instrument=lambda s: get_instrument(venue, s)
    )


@dataclass(frozen=True, slots=True)
class Connected:
    credential: VenueCredential
    balances: list[dict[str, str]]


def venue_connect(*, scope: Scope, venue: Any, credentials: Any, label: str = "") -> Connected:
    """Verify `credentials` with the venue at once (balances, an authenticated read) and store them
    sealed, replacing the client's earlier ones for this venue. Nothing is stored when the venue
    refuses them or cannot be reached."""
    require_live(scope, "Connecting a venue")
    venue = check_venue(venue)
    fields = _check_fields(venue, credentials)
    if not isinstance(label, str) or len(label) > 100:
        raise InvalidInput("label must be a string of at most 100 characters")
    try:
        client = order_client(venue, fields)
        try:
            balances = client.balances()
        finally:
            client.close()
    except OrderError as exc:
        raise VenueRefused(venue, exc, doing="these credentials", then="Nothing was stored.") from None
    except (OSError, TimeoutError) as exc:
        raise VenueUnreachable(
            f"{venue} could not be reached to check the credentials ({type(exc).__name__}); "
            "nothing was stored"
        ) from None
    now = timezone.now()
    with transaction.atomic():
        cred, _ = VenueCredential.objects.select_for_update().get_or_create(
            client=scope.client,
            venue=venue,
            defaults={"ciphertext": b"", "nonce": b"", "field_names": []},
        )
        sealed = crypto.seal(json.dumps(fields).encode(), purpose=PURPOSE, row_id=str(cred.pk))
        cred.ciphertext, cred.nonce = sealed.ciphertext, sealed.nonce
        cred.field_names = list(fields)
        cred.label = label.strip()
        cred.last_verified_at = now
        cred.unknown_orders = []
        cred.save()
    logger.info("client %s connected %s (credential %s)", scope.client.short_code, venue, cred.pk)
    return Connected(
        credential=cred,
        balances=[{"asset": b.asset, "total": str(b.total), "available": str(b.available)} for b in balances],
    )


def venue_fields() -> dict[str, dict[str, Any]]:
    """Per venue: the credential fields a connection needs, and whether this build can connect it."""
    return {v: {"fields": list(CREDENTIAL_FIELDS[v]), "available": v in ORDER_CLIENTS} for v in VENUES}


def venue_connection_list(*, scope: Scope) -> list[VenueCredential]:
    require_live(scope, "Listing venue connections")
    return list(VenueCredential.objects.filter(client=scope.client).order_by("venue"))


def venue_disconnect(*, scope: Scope, venue: Any) -> None:
    """Delete the client's credentials for `venue`. Refused while live orders are open there: the
    edge would lose the means to cancel them (cancel them, or use the kill switch, first)."""
    require_live(scope, "Disconnecting a venue")
    venue = known_venue(venue)
    with transaction.atomic():
        cred = VenueCredential.objects.select_for_update().filter(client=scope.client, venue=venue).first()
        if cred is None:
            raise NotFound(f"no {venue} connection for this client")
        open_count = Order.objects.filter(
            client=scope.client, venue=venue, paper=False, status__in=[OrderStatus.NEW, OrderStatus.WORKING]
        ).count()
        if open_count:
            raise Conflict(
                f"{open_count} live order(s) are open at {venue}: cancel them (or `sequence kill`) "
                "before disconnecting"
            )
        cred.delete()


def venue_credentials_open(*, client_id: int, venue: str) -> tuple[dict[str, str], float] | None:
    """The client's credentials for `venue` and a version (changes when they are replaced), or
    None when there are none. Only the live edge calls this, right before it builds an order
    client; the values stay in that process's memory."""
    cred = VenueCredential.objects.filter(client_id=client_id, venue=venue).first()
    if cred is None:
        return None
    plain = crypto.open_sealed(cred.ciphertext, cred.nonce, purpose=PURPOSE, row_id=str(cred.pk))
    return json.loads(plain), cred.updated_at.timestamp()


def venue_unknown_orders_report(*, client_id: int, venue: str, orders: list[dict[str, Any]]) -> None:
    """What the live edge found resting at the venue that no order of ours explains."""
    VenueCredential.objects.filter(client_id=client_id, venue=venue).update(
        unknown_orders=orders, reconciled_at=timezone.now()
    )
