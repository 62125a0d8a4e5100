"""What route handlers are given by dependency injection (`server.app` provides it)."""

from __future__ import annotations

from litestar.di import NamedDependency

from server.services import Services

AppServices = NamedDependency[Services]
"""The app's one `Services`, as a handler parameter named `services`."""
