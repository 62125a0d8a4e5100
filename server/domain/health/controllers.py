"""`/health/live` and `/health/ready`."""

from __future__ import annotations

from litestar import Controller, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from hsm import Hsm, HsmError
from server.domain.health.schemas import HsmReadiness, Readiness


class HealthController(Controller):
    """Probes for the load balancer and the orchestrator."""

    path = "/health"
    tags = ("operations",)

    @get("/live", summary="The process answers")
    async def live(self) -> dict[str, str]:
        """Always `{"status": "ok"}` while the process serves requests."""
        return {"status": "ok"}

    @get(
        "/ready",
        summary="The HSM can be used",
        responses={
            HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
                data_container=Readiness,
                description="Not ready; `hsm.reason` says why",
                examples=[
                    Example(
                        value={
                            "status": "unavailable",
                            "hsm": {"ok": False, "reason": "no token labelled 'otp-server' in ..."},
                        }
                    )
                ],
            )
        },
    )
    async def ready(self, state: State) -> Response[Readiness]:
        """200 with the HSM's module, token and key versions; 503 with the reason otherwise."""
        hsm: Hsm = state.hsm
        try:
            status = await hsm.run_async(hsm.status)
        except HsmError as exc:
            return Response(
                Readiness("unavailable", HsmReadiness(ok=False, reason=str(exc))),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(
            Readiness(
                "ready",
                HsmReadiness(
                    ok=True,
                    module=status.module,
                    token_label=status.token_label,
                    manufacturer=status.manufacturer,
                    key_versions=status.key_versions,
                ),
            ),
            status_code=HTTP_200_OK,
        )
