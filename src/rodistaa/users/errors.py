from __future__ import annotations

from rodistaa.core.errors import Conflict


class MobileTaken(Conflict):
    code, message = "MOBILE_TAKEN", "An account with this phone number already exists"
