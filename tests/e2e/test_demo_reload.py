"""The demo over a store an earlier version's demo filled: a clear way out, not a traceback."""

from __future__ import annotations

import pytest

from api.cli import _load_demo
from api.config import ConfigurationError
from api.wiring import System
from domain.base import Actor, acting_as
from tests.e2e.conftest import fictional_profile


def test_the_demo_over_an_earlier_versions_demo_says_to_start_from_a_new_store(
    system: System,
) -> None:
    # An earlier demo applied its first organization under the same key with another profile.
    with acting_as(Actor("demo-staff", "staff", request_id="demo")):
        system.app.apply_for_inclusion(
            "demo-apply-7-0", fictional_profile("Example Earlier Demo Shelter"), [], False
        )

    with pytest.raises(ConfigurationError, match="NRD_DATA_DIR to a new one"):
        _load_demo(system)
