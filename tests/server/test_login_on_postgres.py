"""The password login on PostgreSQL, which refuses a NUL and a value longer than its column
where SQLite stores both: whatever name a caller types, a wrong login is a wrong login (and
is counted), never a database error."""

from __future__ import annotations

import pytest

from server.errors import AttemptsExhausted, NotAuthenticated
from server.services import Services

pytestmark = pytest.mark.slow  # PostgreSQL: `make test` runs it, a plain `pytest` not


@pytest.fixture
def services(postgres_services: Services) -> Services:
    with postgres_services.db.transaction() as session:
        postgres_services.customers.add(session, "ana", "ana@example.com", "a password 1")
    return postgres_services


@pytest.mark.parametrize("name", ["ana\x00", "x" * 150, "ana\x00" + "y" * 200])
def test_any_typed_name_is_a_counted_wrong_login(services: Services, name: str) -> None:
    customers = services.customers
    for _ in range(customers.login.failures):
        with pytest.raises(NotAuthenticated):
            customers.authenticate(name, "a password 1", source="203.0.113.9")
    with pytest.raises(AttemptsExhausted):
        customers.authenticate(name, "a password 1", source="203.0.113.9")
    # the customer whose name it resembles is not locked out by it
    assert customers.authenticate("ana", "a password 1", source="203.0.113.10").username == "ana"
