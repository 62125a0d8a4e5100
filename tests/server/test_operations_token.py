"""`/metrics` and `/health/ready` behind the monitoring's token (`OTP_METRICS_TOKEN`): they
name the HSM module, the token and the key versions, and count every decision."""

from __future__ import annotations

import pytest

from tests.server.conftest import Bank

TOKEN = "monitoring-token-0123456789abcdef"


@pytest.mark.settings(metrics_token=TOKEN)
@pytest.mark.parametrize("path", ["/metrics", "/health/ready"])
def test_without_the_token_nobody_reads_them(bank: Bank, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = bank.client.get(path, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert TOKEN not in answer.text
        assert "otp_verifications" not in answer.text and "token_label" not in answer.text
    answer = bank.client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text


@pytest.mark.settings(metrics_token=TOKEN)
def test_the_liveness_probe_stays_open(bank: Bank) -> None:
    assert bank.client.get("/health/live").json() == {"status": "ok"}


def test_without_a_token_set_they_are_open(bank: Bank) -> None:
    assert bank.client.get("/metrics").status_code == 200
    assert bank.client.get("/health/ready").status_code == 200
