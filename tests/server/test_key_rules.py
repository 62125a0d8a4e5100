"""The KEK rotation's rules alone: pure functions, no database, HSM or clock
(milliseconds). The order of work runs on a real token in `tests/officer/test_rotation_*`."""

from __future__ import annotations

import pytest

from hsm import WrappedSeed
from server.domain.keys.rules import (
    DEFAULT_RETIRE_GRACE,
    SERVER_KEY_REFRESH_SECONDS,
    KekUsage,
    WrappedRow,
    batch_details,
    current_kek,
    inventory,
    require_on_token,
    retire_refusal,
    rewrap_writes,
    run_finished,
    successor,
    too_early,
)
from server.errors import Conflict, NotFound

NOW = 1_800_000_000.0


def _row(n: int, version: int = 1) -> WrappedRow:
    return WrappedRow(n, f"cred_{n}", WrappedSeed(bytes([n]) * 40, version, 20))


def test_the_inventory_names_every_version_on_the_token_or_in_use() -> None:
    usage = inventory([1, 2], [(1, "active", 3), (1, "revoked", 1), (3, "active", 2)])
    assert usage == [
        KekUsage(1, on_token=True, current=False, credentials={"active": 3, "revoked": 1}),
        KekUsage(2, on_token=True, current=True, credentials={}),
        KekUsage(3, on_token=False, current=False, credentials={"active": 2}),
    ]
    assert [u.total for u in usage] == [4, 0, 2]


def test_an_empty_token_has_no_current_kek() -> None:
    assert inventory([], [(1, "active", 2)]) == [KekUsage(1, False, False, {"active": 2})]
    assert inventory([], []) == []


def test_a_rotation_goes_on_from_the_newest_kek_on_the_token() -> None:
    assert current_kek([1, 2, 4], newest_used=2, token_label="bank") == 4
    assert current_kek([1], newest_used=None, token_label="bank") == 1  # no credentials yet


def test_a_rotation_needs_a_kek_on_the_token() -> None:
    with pytest.raises(NotFound, match="init-keys"):
        current_kek([], newest_used=None, token_label="bank")


def test_credentials_under_a_newer_kek_than_the_token_s_mean_the_wrong_token() -> None:
    with pytest.raises(Conflict, match=r"KEK v5, which is not on token 'bank'"):
        current_kek([1, 2], newest_used=5, token_label="bank")


def test_a_batch_writes_what_the_hsm_rewrapped_and_sets_aside_what_it_could_not() -> None:
    rows = [_row(1), _row(2), _row(3)]
    new = WrappedSeed(b"n" * 40, 2, 20)
    params, bad = rewrap_writes(rows, [[new], None, [new]])
    assert bad == [rows[1]]
    assert [p["cid"] for p in params] == [1, 3]
    assert params[0] == {
        "cid": 1,
        "old_version": 1,
        "old_blob": rows[0].seed.blob,  # the UPDATE changes the row only if still as read
        "old_ocra_blob": None,
        "new_blob": new.blob,
        "new_ocra_blob": None,
        "new_version": 2,
    }


def test_a_credential_s_ocra_seed_moves_with_its_seed_or_not_at_all() -> None:
    row = WrappedRow(7, "cred_7", WrappedSeed(b"s" * 32, 1, 20), ocra=WrappedSeed(b"o" * 40, 1, 32))
    assert row.seeds == [row.seed, row.ocra]
    new, new_ocra = WrappedSeed(b"n" * 32, 2, 20), WrappedSeed(b"m" * 40, 2, 32)
    params, bad = rewrap_writes([row], [[new, new_ocra]])
    assert bad == []
    assert params == [
        {
            "cid": 7,
            "old_version": 1,
            "old_blob": b"s" * 32,
            "old_ocra_blob": b"o" * 40,  # both old blobs must still be there
            "new_blob": new.blob,
            "new_ocra_blob": new_ocra.blob,
            "new_version": 2,
        }
    ]
    with pytest.raises(ValueError, match="apart"):
        rewrap_writes([row], [[new]])  # the OCRA seed left behind
    with pytest.raises(ValueError, match="apart"):
        rewrap_writes([row], [[new, WrappedSeed(b"m" * 40, 3, 32)]])


def test_a_batch_and_its_answer_must_be_the_same_length() -> None:
    with pytest.raises(ValueError, match="zip"):
        rewrap_writes([_row(1), _row(2)], [None])


def test_a_batch_s_audit_says_what_was_rewrapped_skipped_and_unreadable() -> None:
    rows = [_row(4), _row(5), _row(9)]
    assert batch_details(rows, [], 2, written=3, changed=2) == {
        "to": 2,
        "rewrapped": 2,
        "skipped": 1,
        "first_id": 4,
        "last_id": 9,
    }
    details = batch_details(rows, [rows[1]], 2, written=2, changed=2)
    assert (details["skipped"], details["unreadable"]) == (0, ["cred_5"])


@pytest.mark.parametrize(
    ("remaining", "unreadable", "rewrapped", "at_pass_start", "finished"),
    [
        (0, 0, 10, 0, True),  # all done
        (2, 2, 10, 0, True),  # only the unreadable ones are left
        (5, 0, 10, 10, True),  # this pass did nothing: stop rather than spin
        (5, 0, 10, 4, False),  # progress, and more to do
        (3, 2, 10, 4, False),
    ],
)
def test_a_run_stops_when_only_the_unreadable_are_left_or_a_pass_did_nothing(
    remaining: int, unreadable: int, rewrapped: int, at_pass_start: int, finished: bool
) -> None:
    assert run_finished(remaining, unreadable, rewrapped, at_pass_start) is finished


def test_only_a_kek_on_the_token_can_be_retired() -> None:
    require_on_token(1, [1, 2])
    with pytest.raises(NotFound, match="there is no KEK v3 on the token"):
        require_on_token(3, [1, 2])


def test_the_current_kek_is_never_retired() -> None:
    reason, message = retire_refusal(2, [1, 2], in_use=0) or ("", "")
    assert (reason, message) == ("current_kek", "KEK v2 is the current KEK: rotate first")


def test_a_kek_still_wrapping_credentials_is_not_retired() -> None:
    reason, message = retire_refusal(1, [1, 2], in_use=3) or ("", "")
    assert reason == "in_use"
    assert message.startswith("3 credential(s) are still wrapped under KEK v1")


def test_an_old_unused_kek_may_be_retired_once_old_enough() -> None:
    assert retire_refusal(1, [1, 2, 3], in_use=0) is None
    assert successor(1, [1, 2, 3]) == 2


def test_a_kek_is_retired_only_after_servers_have_rescanned_the_token() -> None:
    assert DEFAULT_RETIRE_GRACE == 2 * SERVER_KEY_REFRESH_SECONDS
    created = NOW - 30.5
    reason, message = too_early(1, 2, created, 120.0, NOW) or ("", "")
    assert reason == "too_early"
    assert message == (
        "KEK v2 is only 30 s old: running servers may still wrap new seeds under v1 until "
        "they rescan the token; try again in 90 s"
    )
    assert too_early(1, 2, NOW - 120.0, 120.0, NOW) is None
    assert too_early(1, 2, None, 120.0, NOW) is None  # no record of its creation
