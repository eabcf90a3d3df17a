"""Upload-time refusals of strategy artifacts that the archive scan alone let through.

Kept beside (not inside) the runner's extraction code: these decide what the API accepts, so an
upload and a run can never disagree about an artifact.

- A symlink whose target passes through another symlink (``t -> d/s/..`` with ``d/s -> ..``). Read
  as text each target stays inside the folder; followed on disk the chain escapes it. Which one is
  listed first in the tar changed the outcome (escape at run time, or a run that failed), so the
  whole set of links is checked after the scan, whatever the order.
- An entrypoint whose name starts with ``-``: ``python -u -c`` reads it as an option, not a file.
"""

from __future__ import annotations

import io
import posixpath
import tarfile

from sequence_site.errors import InvalidInput


def artifact_policy_check(*, artifact: bytes, entrypoint: str) -> None:
    """``InvalidInput`` when the (already size-checked) artifact or its entrypoint is refused."""
    if entrypoint.startswith("-") or "/-" in f"/{entrypoint}":
        raise InvalidInput(
            f"entrypoint {entrypoint!r}: a path part starting with '-' would be read as a Python option; "
            "rename the file."
        )
    links: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:*") as tar:
            for member in tar:
                if member.issym():
                    links[posixpath.normpath(member.name)] = member.linkname
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"Invalid artifact: not a valid tar.gz file ({exc}).") from None
    for name, target in links.items():
        walked: list[str] = posixpath.dirname(name).split("/") if posixpath.dirname(name) else []
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not walked:
                    raise InvalidInput(
                        f"Invalid artifact: symlink {name!r} points outside the folder ({target!r})."
                    )
                walked.pop()
                continue
            walked.append(part)
            through = "/".join(walked)
            if through in links:
                raise InvalidInput(
                    f"Invalid artifact: symlink {name!r} -> {target!r} passes through the symlink "
                    f"{through!r}; a link may not point through another link."
                )
