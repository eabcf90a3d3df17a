"""``/v1/strategies``: a thin ninja Router over ``strategies.services`` and ``strategies.selectors``."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status
from pydantic import ValidationError

from sequence_site.errors import InvalidInput, PayloadTooLarge
from sequence_site.schemas import ErrorOut
from sequence_site.scope import Scope
from strategies import selectors, services
from strategies.models import Strategy
from strategies.schemas import (
    DeletedOut,
    LogLineOut,
    LogPageOut,
    RunOut,
    StrategyCreateIn,
    StrategyDetailOut,
    StrategyListOut,
    StrategyOut,
    TransitionOut,
)

router = Router(tags=["strategies"])

ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut}
MiB = 1024 * 1024


def _scope(request: HttpRequest) -> Scope:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def actor_of(scope: Scope) -> str:
    return f"api:{scope.api_key.display_prefix}" if scope.api_key is not None else "api"


def _detail(strategy: Strategy) -> dict[str, Any]:
    return {
        **StrategyOut.of(strategy),
        "runs": [RunOut.of(run) for run in selectors.strategy_runs(strategy=strategy)],
        "transitions": [TransitionOut.of(row) for row in selectors.strategy_transitions(strategy=strategy)],
    }


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in error["loc"]), "in": "body", "message": error["msg"]}
        for error in exc.errors()
    ]


def _read_create_request(request: HttpRequest) -> tuple[StrategyCreateIn, bytes | None]:
    """The create body as JSON (``artifact_base64``) or multipart (an ``artifact`` file part).

    The body is read here, not by ninja, so a 20 MiB artifact isn't refused by Django's 2.5 MiB
    DATA_UPLOAD_MAX_MEMORY_SIZE meant for forms, while our own cap still applies before decoding.
    """
    upload_cap = settings.STRATEGY_MAX_UPLOAD_MB * MiB
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("artifact")
        if upload is None:
            raise InvalidInput("The multipart upload needs an `artifact` file part (the tar.gz).")
        size = upload.size or 0  # always known for a multipart file part
        if size > upload_cap:
            raise services.artifact_too_large(size)
        fields: dict[str, Any] = {}
        for key in request.POST:
            value: Any = request.POST.get(key)
            if key in ("env", "secrets", "manifest"):
                try:
                    value = json.loads(value or "null")
                except (ValueError, RecursionError):
                    raise InvalidInput(f"{key} must be a JSON object.") from None
            elif key == "latency_target":
                value = [v for v in request.POST.getlist(key) if v]
            elif key == "start":
                value = (value or "").lower() in ("1", "true", "yes", "on")
            fields[key] = value
        return _parse(fields), upload.read()
    if request.content_type != "application/json":
        raise InvalidInput(
            "Send the strategy as application/json (artifact_base64) or multipart/form-data (artifact)."
        )
    # base64 inflates by 4/3; the rest of the JSON is small.
    body_cap = upload_cap * 4 // 3 + MiB
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > body_cap:
        raise _request_too_large(declared, body_cap)
    raw = request.read(body_cap + 1)
    if len(raw) > body_cap:
        raise _request_too_large(len(raw), body_cap)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise InvalidInput("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return _parse(data), None


def _request_too_large(size: int, cap: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request is {size:,} bytes, over the {settings.STRATEGY_MAX_UPLOAD_MB} MiB upload limit "
        f"({cap:,} bytes of JSON with the artifact in base64).",
        details={"size_bytes": size, "limit_bytes": cap},
    )


def _parse(data: dict[str, Any]) -> StrategyCreateIn:
    if "wasm_base64" in data:
        raise InvalidInput(
            "wasm_base64 is for WASM algos (/v1/deployments). A hosted strategy is a tar.gz of a Python "
            "folder sent as artifact_base64."
        )
    try:
        return StrategyCreateIn.model_validate(data)
    except ValidationError as exc:
        details = _validation_details(exc)
        raise InvalidInput(
            "; ".join(f"{d['field']}: {d['message']}" for d in details), details=details
        ) from None


_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": StrategyCreateIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "artifact"],
                    "properties": {
                        "artifact": {"type": "string", "format": "binary", "description": "the tar.gz"},
                        "name": {"type": "string"},
                        "entrypoint": {"type": "string"},
                        "env": {"type": "string", "description": "JSON object"},
                        "secrets": {"type": "string", "description": "JSON object"},
                        "manifest": {"type": "string", "description": "JSON object"},
                        "memory_mb": {"type": "integer"},
                        "latency_target": {"type": "string"},
                        "sequence_api_key": {"type": "string"},
                        "start": {"type": "boolean"},
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    response={200: StrategyDetailOut, 201: StrategyDetailOut, **ERRORS},
    summary="Create or redeploy a hosted strategy",
    openapi_extra=_CREATE_BODY,
)
def create_strategy(request: HttpRequest) -> Status:
    """Upload a tar.gz of the strategy folder with its settings. 201 when created, 200 when the
    strategy of that name was redeployed (new artifact_sha256). ``start`` queues it at once."""
    scope = _scope(request)
    body, upload = _read_create_request(request)
    artifact = upload if upload is not None else services.artifact_from_base64(body.artifact_base64)
    result = services.strategy_deploy(
        scope=scope,
        name=body.name,
        artifact=artifact,
        runtime=body.runtime,
        entrypoint=body.entrypoint,
        env=body.env,
        secrets=body.secrets,
        manifest=body.manifest,
        memory_mb=body.memory_mb,
        latency_target=body.latency_target,
        sequence_api_key=body.sequence_api_key,
        start=body.start,
        actor=actor_of(scope),
    )
    strategy = selectors.strategy_get(scope=scope, strategy_id=result.strategy.pk)
    return Status(201 if result.created else 200, _detail(strategy))


@router.get("", response={200: StrategyListOut, **ERRORS}, summary="List your strategies")
def list_strategies(request: HttpRequest) -> dict[str, Any]:
    return {"strategies": [StrategyOut.of(s) for s in selectors.strategy_list(scope=_scope(request))]}


@router.get("/{strategy_id}", response={200: StrategyDetailOut, **ERRORS}, summary="Inspect one strategy")
def get_strategy(request: HttpRequest, strategy_id: str) -> dict[str, Any]:
    """Settings (env, manifest, secret names only), artifact_sha256, status, current and recent runs."""
    return _detail(selectors.strategy_get(scope=_scope(request), strategy_id=strategy_id))


@router.post(
    "/{strategy_id}/start", response={200: StrategyDetailOut, **ERRORS}, summary="Re-queue a stopped strategy"
)
def start_strategy(request: HttpRequest, strategy_id: str) -> dict[str, Any]:
    scope = _scope(request)
    strategy = selectors.strategy_get(scope=scope, strategy_id=strategy_id)
    services.strategy_start(strategy=strategy, actor=actor_of(scope))
    return _detail(selectors.strategy_get(scope=scope, strategy_id=strategy_id))


@router.post("/{strategy_id}/stop", response={200: StrategyDetailOut, **ERRORS}, summary="Graceful stop")
def stop_strategy(request: HttpRequest, strategy_id: str) -> dict[str, Any]:
    """SIGTERM on the runner's next heartbeat, SIGKILL after the grace period; ``stopping`` until then."""
    scope = _scope(request)
    strategy = selectors.strategy_get(scope=scope, strategy_id=strategy_id)
    services.strategy_stop(strategy=strategy, actor=actor_of(scope))
    return _detail(selectors.strategy_get(scope=scope, strategy_id=strategy_id))


@router.delete("/{strategy_id}", response={200: DeletedOut, **ERRORS}, summary="Purge artifact, row and logs")
def delete_strategy(request: HttpRequest, strategy_id: str) -> dict[str, Any]:
    scope = _scope(request)
    strategy = selectors.strategy_get(scope=scope, strategy_id=strategy_id)
    services.strategy_delete(strategy=strategy, actor=actor_of(scope))
    return {"strategy_id": strategy.pk, "deleted": True}


@router.get(
    "/{strategy_id}/logs", response={200: LogPageOut, **ERRORS}, summary="Logs (latest run by default)"
)
def strategy_logs(
    request: HttpRequest, strategy_id: str, run_id: str | None = None, after: int = 0, limit: int = 1000
) -> dict[str, Any]:
    """Lines with ``seq > after``, oldest first. Pass ``next_cursor`` back as ``after`` to get the
    following lines: every line exactly once, in order, even while the run is still writing."""
    strategy = selectors.strategy_get(scope=_scope(request), strategy_id=strategy_id)
    run = selectors.strategy_run_get(strategy=strategy, run_id=run_id)
    page = selectors.strategy_log_page(run=run, after=after, limit=limit)
    return {
        "strategy_id": strategy.pk,
        "run_id": run.pk if run else None,
        "run_status": run.status if run else None,
        "lines": [LogLineOut.of(row) for row in page.lines],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
