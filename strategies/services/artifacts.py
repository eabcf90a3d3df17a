"""Deploying a hosted strategy: checking its artifact and settings (nothing is written until all of it
passes), the strategy row, and sealing and opening its secrets and API key."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction

from sequence_site import crypto
from sequence_site.errors import AuthenticationFailed, Conflict, InvalidInput, PayloadTooLarge
from sequence_site.models import ApiKey
from sequence_site.scope import Scope
from sequence_site.services import api_key_authenticate
from strategies.artifact_policy import artifact_policy_check
from strategies.lifecycle import (
    StrategyStatus,
    record,
)
from strategies.models import Strategy
from strategies.runner.archive import ArchiveError, ArchiveLimits, clean_entrypoint, inspect_archive
from strategies.runner.environment import env_name_problem, env_value_problem
from strategies.services.runs import (
    queue_new_run,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TARGET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MAX_VARS = 200
MAX_ENV_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 256 * 1024
MIN_MEMORY_MB = 64
SECRETS_PURPOSE = "strategy.secrets"
API_KEY_PURPOSE = "strategy.sequence_api_key"
MiB = 1024 * 1024


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_upload_bytes=settings.STRATEGY_MAX_UPLOAD_MB * MiB,
        max_unpacked_bytes=settings.STRATEGY_MAX_UNPACKED_MB * MiB,
        max_files=settings.STRATEGY_MAX_FILES,
    )


# -- input checking (nothing is written until all of it passes) ----------------------------------


def artifact_too_large(size: int) -> PayloadTooLarge:
    """The one refusal of an oversize artifact (a 413 with the real size and the limit)."""
    limit = settings.STRATEGY_MAX_UPLOAD_MB * MiB
    return PayloadTooLarge(
        f"The artifact is {size:,} bytes, over the {settings.STRATEGY_MAX_UPLOAD_MB} MiB upload limit "
        f"({limit:,} bytes).",
        details={"size_bytes": size, "limit_bytes": limit},
    )


def artifact_from_base64(text: Any) -> bytes:
    """Strict base64 -> bytes, refusing an oversized upload before decoding it."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("artifact_base64 is empty: send the strategy folder as a base64-encoded tar.gz.")
    compact = "".join(text.split())
    size = len(compact) * 3 // 4 - compact.count("=")
    if size > settings.STRATEGY_MAX_UPLOAD_MB * MiB:
        raise artifact_too_large(size)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("artifact_base64 is not valid base64.") from None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name.strip()):
        raise InvalidInput(
            "name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            details=[{"field": "name", "in": "body", "message": "invalid strategy name"}],
        )
    return name.strip()


def _check_vars(values: Any, *, slot: str) -> dict[str, str]:
    """env or secrets: a flat object of NAME -> string (numbers and booleans become strings)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(f"{slot} must be a JSON object of NAME -> string.")
    if len(values) > MAX_VARS:
        raise InvalidInput(f"{slot} has {len(values)} entries; at most {MAX_VARS}.")
    checked: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        problem = env_name_problem(name) or env_value_problem(name, value)
        if problem:
            raise InvalidInput(
                f"{slot}: {problem}", details=[{"field": f"{slot}.{name}", "in": "body", "message": problem}]
            )
        checked[name] = value
    if sum(len(k) + len(v.encode()) for k, v in checked.items()) > MAX_ENV_BYTES:
        raise InvalidInput(f"{slot} is over {MAX_ENV_BYTES // 1024} KiB.")
    return checked


def _check_manifest(manifest: Any) -> dict[str, Any]:
    if manifest is None:
        return {}
    if not isinstance(manifest, Mapping):
        raise InvalidInput("manifest must be a JSON object (it is written to .sequence/manifest.json).")
    if len(json.dumps(manifest).encode()) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"manifest is over {MAX_MANIFEST_BYTES // 1024} KiB.")
    return dict(manifest)


def _check_memory(memory_mb: Any) -> int:
    if memory_mb is None:
        return settings.STRATEGY_DEFAULT_MEMORY_MB
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int):
        raise InvalidInput("memory_mb must be a whole number of MiB.")
    if not MIN_MEMORY_MB <= memory_mb <= settings.STRATEGY_MAX_MEMORY_MB:
        raise InvalidInput(
            f"memory_mb must be between {MIN_MEMORY_MB} and {settings.STRATEGY_MAX_MEMORY_MB}."
        )
    return memory_mb


def _check_targets(latency_target: Any) -> list[str]:
    if latency_target is None or latency_target == "":
        return []
    targets = [latency_target] if isinstance(latency_target, str) else latency_target
    if not isinstance(targets, list) or len(targets) > 8:
        raise InvalidInput('latency_target is a venue name or a list of at most 8, e.g. ["coinbase"].')
    cleaned: list[str] = []
    for target in targets:
        if not isinstance(target, str) or not TARGET_PATTERN.match(target.strip().lower()):
            raise InvalidInput(f"latency_target {target!r} is not a venue or region name.")
        if target.strip().lower() not in cleaned:
            cleaned.append(target.strip().lower())
    return cleaned


def _check_api_key(token: str, *, scope: Scope) -> ApiKey:
    """The strategy's own key must be an active key of the same client and mode."""
    try:
        key_scope = api_key_authenticate(token=token.strip())
    except AuthenticationFailed as exc:
        raise InvalidInput(f"sequence_api_key is not usable: {exc.message}") from None
    if key_scope.client.pk != scope.client.pk:
        raise InvalidInput("sequence_api_key belongs to another client.")
    if key_scope.is_sandbox != scope.is_sandbox:
        want = "seq_test_" if scope.is_sandbox else "seq_live_"
        raise InvalidInput(
            f"sequence_api_key must be a {want} key: a {'sandbox' if scope.is_sandbox else 'live'} "
            "strategy acts in its own mode."
        )
    assert key_scope.api_key is not None
    return key_scope.api_key


@dataclass(frozen=True, slots=True)
class DeployResult:
    strategy: Strategy
    created: bool


def strategy_deploy(
    *,
    scope: Scope,
    name: str,
    artifact: bytes,
    runtime: str = "python",
    entrypoint: str = "main.py",
    env: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    manifest: Mapping[str, Any] | None = None,
    memory_mb: int | None = None,
    latency_target: str | list[str] | None = None,
    sequence_api_key: str | None = None,
    start: bool = False,
    actor: str = "",
) -> DeployResult:
    """Create a strategy, or redeploy the one of that name (new artifact, new settings).

    ``secrets`` and ``sequence_api_key`` left as None keep what a redeployed strategy already has
    (so shipping new code doesn't need the secrets again); ``{}`` / ``""`` clear them. A running
    strategy is restarted on the new version; a queued one will run it.
    """
    name = _check_name(name)
    if runtime != "python":
        raise InvalidInput("runtime must be 'python'")
    if not isinstance(entrypoint, str) or len(entrypoint) > 255:
        raise InvalidInput("entrypoint must be a relative file path of at most 255 characters.")
    try:
        entrypoint = clean_entrypoint(entrypoint)
        info = inspect_archive(artifact, limits=archive_limits(), entrypoint=entrypoint)
    except ArchiveError as exc:
        raise InvalidInput(f"Invalid artifact: {exc}") from None
    artifact_policy_check(artifact=artifact, entrypoint=entrypoint)
    checked_env = _check_vars(env, slot="env")
    checked_secrets = None if secrets is None else _check_vars(secrets, slot="secrets")
    checked_manifest = _check_manifest(manifest)
    memory = _check_memory(memory_mb)
    targets = _check_targets(latency_target)
    api_key = None
    if sequence_api_key:
        api_key = _check_api_key(sequence_api_key, scope=scope)

    try:
        with transaction.atomic():
            strategy = (
                Strategy.objects.select_for_update()
                .filter(client=scope.client, is_sandbox=scope.is_sandbox, name=name)
                .first()
            )
            created = strategy is None
            if strategy is None:
                strategy = Strategy(client=scope.client, is_sandbox=scope.is_sandbox, name=name)
            else:
                strategy.generation += 1
            strategy.runtime = runtime
            strategy.entrypoint = entrypoint
            strategy.env = checked_env
            strategy.manifest = checked_manifest
            strategy.memory_mb = memory
            strategy.latency_target = targets
            strategy.artifact = artifact
            strategy.artifact_sha256 = info.sha256
            strategy.artifact_size_bytes = info.size_bytes
            strategy.artifact_has_sdk = info.has_sdk
            if checked_secrets is not None:
                _seal_secrets(strategy, checked_secrets)
            if sequence_api_key is not None:
                _seal_api_key(strategy, sequence_api_key.strip() if api_key else None, api_key)
            if created:
                strategy.save(force_insert=True)
                record(
                    strategy,
                    action="deploy",
                    from_status="",
                    to_status=strategy.status,
                    reason=f"artifact {info.sha256[:12]}",
                    actor=actor,
                )
            else:
                strategy.save()
                record(
                    strategy,
                    action="redeploy",
                    from_status=strategy.status,
                    to_status=strategy.status,
                    reason=f"artifact {info.sha256[:12]} (generation {strategy.generation})",
                    actor=actor,
                )
            if start and strategy.status in (StrategyStatus.STOPPED, StrategyStatus.FAILED):
                queue_new_run(strategy, actor=actor)
    except IntegrityError:
        raise Conflict(f"A strategy named {name!r} was created at the same moment; try again.") from None
    return DeployResult(strategy=strategy, created=created)


def _seal_secrets(strategy: Strategy, secrets: dict[str, str]) -> None:
    if not secrets:
        strategy.secrets_ciphertext = strategy.secrets_nonce = None
        strategy.secret_names = []
        return
    sealed = crypto.seal(json.dumps(secrets).encode(), purpose=SECRETS_PURPOSE, row_id=str(strategy.pk))
    strategy.secrets_ciphertext, strategy.secrets_nonce = sealed.ciphertext, sealed.nonce
    strategy.secret_names = sorted(secrets)


def _seal_api_key(strategy: Strategy, token: str | None, api_key: ApiKey | None) -> None:
    if token is None:
        strategy.sequence_api_key_ciphertext = strategy.sequence_api_key_nonce = None
        strategy.sequence_api_key_ref = None
        return
    sealed = crypto.seal(token.encode(), purpose=API_KEY_PURPOSE, row_id=str(strategy.pk))
    strategy.sequence_api_key_ciphertext, strategy.sequence_api_key_nonce = sealed.ciphertext, sealed.nonce
    strategy.sequence_api_key_ref = api_key


@dataclass(frozen=True, slots=True)
class OpenedSecrets:
    secrets: dict[str, str]
    sequence_api_key: str | None


def strategy_open_secrets(*, strategy_id: UUID) -> OpenedSecrets:
    """Decrypt a strategy's secrets and API key. Only the supervisor calls this, right before it
    builds the child's environment; the result is never logged, stored or returned."""
    row = (
        Strategy.objects.filter(pk=strategy_id)
        .values(
            "secrets_ciphertext", "secrets_nonce", "sequence_api_key_ciphertext", "sequence_api_key_nonce"
        )
        .first()
    )
    if row is None:
        return OpenedSecrets(secrets={}, sequence_api_key=None)
    secrets: dict[str, str] = {}
    if row["secrets_ciphertext"] is not None:
        plain = crypto.open_sealed(
            row["secrets_ciphertext"], row["secrets_nonce"], purpose=SECRETS_PURPOSE, row_id=str(strategy_id)
        )
        secrets = json.loads(plain)
    key = None
    if row["sequence_api_key_ciphertext"] is not None:
        key = crypto.open_sealed(
            row["sequence_api_key_ciphertext"],
            row["sequence_api_key_nonce"],
            purpose=API_KEY_PURPOSE,
            row_id=str(strategy_id),
        ).decode()
    return OpenedSecrets(secrets=secrets, sequence_api_key=key)
