"""The external tools the deployment tests run, or why they are not run.

promtool comes from Debian's `prometheus` package. Without it its tests skip, except under
`CI=true`, where a missing promtool fails unless `PROMTOOL_OPTIONAL=1` says the package could not
be installed on that machine (issue 8: "skipped with a clear message only if the package cannot
be installed"). Helm is not packaged in Debian 12: its tests skip and say so."""

from __future__ import annotations

import os
import shutil

import pytest


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true" and os.environ.get("PROMTOOL_OPTIONAL") != "1":
        pytest.fail(
            "CI=true but promtool is missing: install it (apt-get install -y prometheus) or set "
            "PROMTOOL_OPTIONAL=1 where the package cannot be installed"
        )
    pytest.skip("promtool not installed (Debian: apt-get install -y prometheus)")


def helm() -> str:
    found = shutil.which("helm")
    if found is None:
        pytest.skip("helm not installed (not packaged in Debian 12); chart not linted or rendered")
    return found
