"""tests/hsm runs on two PKCS#11 implementations: every test that takes `hsm` runs on
SoftHSM2 and on NSS softokn. A test of SoftHSM's own behaviour says so with the `softhsm`
marker and runs on SoftHSM only (its NSS variant is deselected, not skipped); so does any
test that opens SoftHSM tokens itself (`SOFTHSM_FIXTURES`): collection stops on one that
does not."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from hsm import Hsm, HsmConfig

MODULES = ("softhsm", "nss")
HERE = Path(__file__).parent
SOFTHSM_FIXTURES = frozenset({"tokens", "softhsm", "spare", "legacy"})
"""Fixtures that are SoftHSM tokens whatever module a test's id names."""


@pytest.fixture(scope="session", params=MODULES)
def hsm(request: pytest.FixtureRequest) -> Hsm:
    """The session's `Hsm` on each module in turn."""
    return request.getfixturevalue("softhsm" if request.param == "softhsm" else "nss_hsm")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = sorted(
        {
            item.nodeid.split("[")[0]
            for item in items
            if isinstance(item, pytest.Function)
            and Path(item.path).is_relative_to(HERE)
            and item.get_closest_marker("softhsm") is None
            and SOFTHSM_FIXTURES & set(inspect.signature(item.function).parameters)
        }
    )
    if unmarked:
        raise pytest.UsageError(
            "tests that use SoftHSM tokens need the softhsm marker: " + ", ".join(unmarked)
        )
    deselected = [
        item
        for item in items
        if item.get_closest_marker("softhsm") is not None
        and getattr(getattr(item, "callspec", None), "params", {}).get("hsm") == "nss"
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def like(hsm: Hsm, **overrides: object) -> HsmConfig:
    """`hsm`'s own configuration (same module, token and PIN) with `overrides`."""
    return dataclasses.replace(hsm.config, **overrides)  # type: ignore[arg-type]
