"""Backup errors. These leave through the CLI, not HTTP, so they carry an exit code instead of a
status: 2 when the command refuses to act (nothing was changed), 1 when it tried and failed."""

from __future__ import annotations


class BackupError(Exception):
    exit_code = 1


class BackupRefused(BackupError):
    """Refused before touching anything: a non-empty target, a file that would be overwritten,
    a backup of another database kind, something that is not a backup."""

    exit_code = 2


class BackupFailed(BackupError):
    """A step failed (a tool exited non-zero, a damaged backup); what it wrote is removed."""
