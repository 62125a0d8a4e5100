"""The OpenAPI as a contract: every answer a test receives must be one the server documents.

An httpx response hook records each answer to an `/api/` operation whose status the OpenAPI
does not list for that operation, or whose error body is not `{"status_code", "detail"}`
(with `extra` for a malformed body). Fixtures attach it to their client and fail the test at
teardown when anything was recorded, so the whole enrollment suite doubles as a conformance
run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + "$"
    )


@dataclass
class OpenApiContract:
    """The documented statuses of every operation of an OpenAPI document."""

    schema: dict[str, Any]
    prefix: str = "/api/"
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._operations = [
            (_pattern(path), path, method.upper(), {int(code) for code in op["responses"]})
            for path, ops in self.schema["paths"].items()
            for method, op in ops.items()
            if path.startswith(self.prefix)
        ]

    def operation(self, method: str, path: str) -> tuple[str, set[int]] | None:
        """The template and documented statuses of the operation that `path` names."""
        for pattern, template, operation_method, statuses in self._operations:
            if operation_method == method and pattern.match(path):
                return template, statuses
        return None

    def check(self, response: httpx.Response) -> None:
        """Record `response` if its operation does not document it."""
        request = response.request
        if not request.url.path.startswith(self.prefix):
            return
        found = self.operation(request.method, request.url.path)
        if found is None:
            # no such operation: HTTP's own answers, 405 for a known path, 404 for the rest
            known = any(pattern.match(request.url.path) for pattern, *_ in self._operations)
            if response.status_code != (405 if known else 404):
                self.violations.append(
                    f"{request.method} {request.url.path} (not in the OpenAPI) answered "
                    f"{response.status_code}"
                )
            return
        template, statuses = found
        if response.status_code not in statuses:
            response.read()
            self.violations.append(
                f"{request.method} {template} answered {response.status_code}, documented "
                f"{sorted(statuses)}: {response.text[:120]}"
            )
        elif response.status_code >= 400 and template != "/api/v1/verify":
            response.read()
            body = response.json()
            keys = set(body) - {"extra"}  # a malformed body's fields
            if keys != {"status_code", "detail"} or body["status_code"] != response.status_code:
                self.violations.append(
                    f"{request.method} {template} {response.status_code}: body {body!r}"
                )
