"""Typed errors of overrides and admin TOTP."""

from __future__ import annotations

from rodistaa.core.errors import AppError, Conflict, Forbidden, InvalidState, NotFound


class OverrideNotFound(NotFound):
    message = "No such override"


class TargetNotFound(NotFound):
    message = "The override's target does not exist"


class TargetNotApplicable(InvalidState):
    """The target is not in a state the action applies to (nothing to lift, not an operator)."""

    message = "The target is not in a state this override applies to"


class NoValidCandidate(AppError):
    """FORCE_FINALIZE without a bid id found no candidate ACS allows to win."""

    status, code, message = 409, "NO_VALID_BIDS", "No bid of the booking may win; nothing was finalized"


class OverrideAlreadyDecided(InvalidState):
    message = "The override was already approved or rejected"


class OwnOverride(Forbidden):
    code = "OWN_OVERRIDE"
    message = "Another admin must decide an override you requested"


class TotpAlreadyEnrolled(Conflict):
    code = "TOTP_ALREADY_ENROLLED"
    message = "TOTP is already enrolled and confirmed for this account"


class TotpNotEnrolled(InvalidState):
    code = "TOTP_NOT_ENROLLED"
    message = "Enrol TOTP first"


class TotpAlreadyConfirmed(Conflict):
    code = "TOTP_ALREADY_CONFIRMED"
    message = "TOTP enrolment is already confirmed"


class InvalidTotpCode(AppError):
    status, code, message = 400, "INVALID_TOTP_CODE", "The TOTP code is wrong, expired or already used"
