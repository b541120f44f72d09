"""Background loops of an API instance: converge on the active bundle revision, and reload the
bundle when its files change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from rodistaa.acs.audit import maybe_checkpoint
from rodistaa.acs.service import AcsService
from rodistaa.http.services import Services

log = structlog.get_logger("rodistaa.acs")


def bundle_fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the bundle's files; cheap to poll."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        return ()
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)


async def sync_revision_forever(acs: AcsService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await acs.sync()
        except Exception as exc:  # a database hiccup must not kill the loop
            log.warning("acs_sync_failed", error=type(exc).__name__)


async def watch_bundle_forever(acs: AcsService, path: Path, interval_s: float) -> None:
    seen = bundle_fingerprint(path)
    while True:
        await asyncio.sleep(interval_s)
        current = bundle_fingerprint(path)
        if current == seen or not current:
            continue
        seen = current
        try:
            result = await acs.reload_from_path(path, actor="system:file-watch")
        except Exception as exc:
            log.warning("acs_watch_reload_failed", error=type(exc).__name__)
            continue
        if result.ok and result.changed:
            log.info("acs_bundle_file_changed", revision=result.revision)


CHECKPOINT_POLL_S = 5.0


async def checkpoint_forever(services: Services) -> None:
    """Sign a checkpoint when enough entries or enough time has accumulated. Every instance
    runs this; a checkpoint for a seq already signed is simply not stored twice."""
    settings = services.settings
    while True:
        await asyncio.sleep(min(CHECKPOINT_POLL_S, settings.audit_checkpoint_every_s))
        try:
            await maybe_checkpoint(
                services.db,
                services.kms,
                every_entries=settings.audit_checkpoint_every_entries,
                every_seconds=settings.audit_checkpoint_every_s,
                now=services.clock.now(),
            )
        except Exception as exc:
            log.warning("audit_checkpoint_failed", error=type(exc).__name__)
