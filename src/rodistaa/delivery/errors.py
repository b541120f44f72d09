"""Typed errors of the delivery domain."""

from __future__ import annotations

from rodistaa.core.errors import AppError, Conflict, Forbidden


class OtpRequired(Forbidden):
    """RF03's answer (`403 OTP_REQUIRED`) to a completion without a valid OTP, carrying what the
    driver needs to go on: how many tries are left and the POD that was kept. Raised by the
    service itself when the active bundle did not reject, so a bundle without RF03 still never
    completes a shipment on a wrong code."""

    code, message = "OTP_REQUIRED", "Valid OTP required"


class PodRequired(Conflict):
    code, message = "POD_REQUIRED", "Upload the proof of delivery first (POST /v1/pod/upload)"


class PodFileErased(AppError):
    """The shipper's data key was destroyed (erasure): the file can no longer be decrypted."""

    status, code, message = 410, "DATA_ERASED", "The proof of delivery's data has been erased"
