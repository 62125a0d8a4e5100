"""The HSM disappears mid-run: `unavailable` (never `accepted`), then back with no restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hsm import Hsm
from tests.conftest import SoftHsmTokens
from tests.server.conftest import Bank


@contextmanager
def hsm_removed(hsm: Hsm, tokens: SoftHsmTokens) -> Iterator[None]:
    """Take the token away and drop the connection, as when a network HSM goes down."""
    tokendir = tokens.main.conf_path.parent / "tokens"
    hidden = tokendir.with_name("tokens.unplugged")
    tokendir.rename(hidden)
    hsm._executor.call(lambda: hsm._conn._lib.finalize())
    try:
        yield
    finally:
        hidden.rename(tokendir)


def test_outage_gives_unavailable_then_recovers(
    bank: Bank, hsm: Hsm, tokens: SoftHsmTokens
) -> None:
    alice = bank.add_customer()
    assert bank.verify(alice.username, alice.code(bank.clock()))[1]["result"] == "accepted"
    bank.clock.advance(60)
    with hsm_removed(hsm, tokens):
        for _ in range(3):
            status, body = bank.verify(alice.username, alice.code(bank.clock()))
            assert (status, body["result"]) == (503, "unavailable")
        ready = bank.client.get("/health/ready")
        assert ready.status_code == 503
        assert "libsofthsm2.so cannot be loaded or initialised" in ready.json()["hsm"]["reason"]
        # unknown users are not "rejected" while the HSM is away either
        assert bank.verify(alice.username, "000000")[1]["result"] == "unavailable"
        assert bank.verify("no-such-customer", "000000")[1]["result"] == "unavailable"
    # back, without restarting anything
    status, body = bank.verify(alice.username, alice.code(bank.clock()))
    assert (status, body["result"]) == (200, "accepted")
    assert bank.client.get("/health/ready").status_code == 200
    with bank.services.db.transaction() as session:
        report = bank.services.audit.verify(session)
    assert report.ok, report.problem
    assert report.unsealed == 0  # the events written during the outage are sealed now
