"""Fixtures for the Pi adapters: a fresh gpiozero MockFactory per test, fake time, fonts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero import Device  # type: ignore[import-untyped]
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from device_firmware.pi.fonts import Fonts, load_fonts
from tests.device_firmware.pi.simulated_matrix import FakeTime


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    """A MockFactory of its own, also gpiozero's default, reset after the test."""
    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    factory.close()
    Device.pin_factory = previous


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="session")
def fonts() -> Fonts:
    return load_fonts()
