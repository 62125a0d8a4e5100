"""Signed transfers through the verify API (issue 22): OCRA verifications per second
against TOTP verifications in the same run; the goal is OCRA / TOTP >= 0.8.

One server process (HSM + SQLite + replay protection + audit), kept on one CPU as the
`verify` suite keeps it (`OTP_CPU`, the `wrk` load from the other CPUs), is sent the same
transfers (purpose `transfer`, `transaction` with amount, currency and payee) in turns
under the same load: approved with a plain TOTP `code` (the baseline), or signed with the
OCRA `response` to the transfer's amount and payee (docs/protocol.md §6.1). The turns
alternate, each round in the other order (codes, signatures; signatures, codes; ...), so
both see the same machine; the report gives the median of the rounds' ratios.

As in the `verify` suite, every request is a real acceptance by a customer new to the
server in that kind of request: each customer has a TOTP seed and an OCRA seed of its own
(`OCRA-1:HOTP-SHA256-8:QA20-T1M`) and sends, in the whole run, one code and one signed
transfer of its own (distinct transfers: each has its own payee), so the HSM unwraps the
seed of every request (the handle cache never helps either kind). The codes are pyotp's
and the responses the token's own code's (`device_firmware.core.transfers`, python-oath),
both computed before each turn starts.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyotp

from benchmarks.population import Holder, populate, relying_party, seed_pool
from benchmarks.scratch_token import scratch_token, server_env
from benchmarks.wrk_load import Decisions, Load, Server, decisions, serve, wrk
from device_firmware.core.transfers import response_at
from hsm import Algorithm, Hsm
from server.db.migrate import upgrade
from server.domain.verification.purposes import Purpose

CUSTOMERS = 100_000
"""Enough that no turn of 2 s in 11 rounds runs out of customers at ~4,500 requests per
second (each customer sends one code and one signature in the whole run)."""
GOAL = 0.8
CURRENCY = "EUR"
KINDS = ("codes", "signatures")


@dataclass(frozen=True)
class Turn:
    """One `wrk` run of one kind of request, and what the server decided meanwhile."""

    load: Load
    decided: Decisions


def run(seconds: float = 1.0, *, rounds: int = 11, customers: int = CUSTOMERS) -> list[str]:
    """Build the fixtures, take `rounds` rounds of one turn of `2 * seconds` for each kind,
    return the report."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-signing-"))
    try:
        token, config = scratch_token(tmp, "bench-signing")
        hsm = Hsm(config)
        hsm.ensure_keys()
        # a TOTP and an OCRA seed of its own for every customer: no two requests share one
        codes = seed_pool(hsm, customers)
        signatures = seed_pool(hsm, customers, Algorithm.SHA256)
        hsm.close()
        url = f"sqlite:///{tmp / 'signing'}.sqlite3"
        upgrade(url)
        holders = populate(url, codes, customers, ocra_pool=signatures)
        key = relying_party(url, [Purpose.TRANSFER])
        cpu = max(os.sched_getaffinity(0))
        env = {
            **server_env(token),
            "OTP_DATABASE_URL": url,
            "OTP_LOG_LEVEL": "warning",
            "OTP_CPU": str(cpu),
        }
        wrk_seconds = max(1, round(seconds * 2))
        with serve(["server"], env) as server:
            turns = take_turns(server, key, holders, tmp, wrk_seconds, rounds, cpu)
        return _report(turns, wrk_seconds, cpu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def take_turns(
    server: Server,
    key: str,
    holders: Sequence[Holder],
    tmp: Path,
    seconds: int,
    rounds: int,
    cpu: int,
) -> dict[str, list[Turn]]:
    """`rounds` rounds of a turn of codes and a turn of signatures, in alternating order,
    each of `seconds` under `wrk` from every CPU but `cpu`. A round's customers are new to
    the server; each sends its code in one turn and its signature in the other."""
    share = len(holders) // rounds
    load_cpus = (os.sched_getaffinity(0) - {cpu}) or None
    turns: dict[str, list[Turn]] = {kind: [] for kind in KINDS}
    for r in range(rounds):
        people = holders[r * share : (r + 1) * share]
        for kind in KINDS if r % 2 == 0 else reversed(KINDS):
            bodies = transfer_bodies(
                tmp / "bodies.jsonl", people, signed=kind == "signatures", now=time.time()
            )
            before = decisions(server.base)
            load = wrk(server.base, key, bodies, seconds, load_cpus, {"server": [server.pid]})
            turns[kind].append(Turn(load, _settled(server.base) - before))
    for kind, taken in turns.items():
        if not sum(t.decided.accepted for t in taken):
            raise RuntimeError(f"the server accepted none of the benchmark's {kind}")
    return turns


def _settled(base: str) -> Decisions:
    """The server's decisions once the requests still in flight when `wrk` stopped are
    decided too (counted in their own turn, not the next)."""
    now = decisions(base)
    while True:
        time.sleep(0.05)
        then, now = now, decisions(base)
        if now == then:
            return now


def transfer(holder: Holder) -> tuple[int, str]:
    """The holder's transfer: its amount in cents and its payee reference (the customer's
    own: no two customers' transfers are the same)."""
    number = int(holder.public_id.removeprefix("cred_"))
    return 1_000 + number % 900_000, f"{number % 10**8:08d}"


def transfer_bodies(path: Path, holders: Sequence[Holder], *, signed: bool, now: float) -> Path:
    """One verify body a line, each the transfer of a holder, approved with the code of its
    TOTP seed at `now`, or (`signed`) with the response of its OCRA seed to the transfer."""
    with path.open("w") as out:
        for holder in holders:
            cents, reference = transfer(holder)
            body: dict[str, object] = {"username": holder.username, "purpose": "transfer"}
            if signed:
                assert holder.ocra_seed is not None, "populated without OCRA seeds"
                body["response"] = response_at(holder.ocra_seed, cents, reference, now)
            else:
                seed = base64.b32encode(holder.seed).decode()
                body["code"] = pyotp.TOTP(seed, interval=60).at(now)
            body["transaction"] = {
                "amount": f"{cents // 100}.{cents % 100:02d}",
                "currency": CURRENCY,
                "payee": f"ES91 2100 0418 4502 {reference[:4]} {reference[4:]}",
            }
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
    return path


def _report(turns: dict[str, list[Turn]], seconds: int, cpu: int) -> list[str]:
    codes, signatures = (turns[kind] for kind in KINDS)
    pairs = list(zip(codes, signatures, strict=True))
    ratio = statistics.median(s.load.rate / c.load.rate for c, s in pairs)
    cpu_ratio = statistics.median(
        c.load.cpu_per_request("server") / s.load.cpu_per_request("server") for c, s in pairs
    )
    lines = [
        f"round {i + 1:2}: codes {c.load.rate:>6,.0f} req/s "
        f"{c.load.cpu_per_request('server') * 1e3:.2f} ms CPU/req, "
        f"signatures {s.load.rate:>6,.0f} req/s "
        f"{s.load.cpu_per_request('server') * 1e3:.2f} ms CPU/req, "
        f"ratio {s.load.rate / c.load.rate:.3f}"
        for i, (c, s) in enumerate(pairs)
    ]
    return [
        "transfers approved with a TOTP code (baseline) against signed with an OCRA response,",
        f"through the verify API (HSM + SQLite + replay + audit), kept on CPU {cpu}, taking "
        f"turns of {seconds} s under the same load:",
        *lines,
        f"signatures / codes, median of {len(pairs)} rounds   ratio {ratio:.3f}  (goal >= {GOAL})",
        f"  CPU time per request, codes / signatures, median   {cpu_ratio:.3f}",
        *(_answers(kind, turns[kind]) for kind in KINDS),
    ]


def _answers(kind: str, turns: Sequence[Turn]) -> str:
    """How `kind`'s requests were answered, over all its turns."""
    requests = sum(t.load.requests for t in turns)
    decided = Decisions(0, 0, 0, 0, 0)
    for turn in turns:
        decided += turn.decided
    return (
        f"  {kind}: {sum(t.load.not_2xx for t in turns):,} answers not 2xx and "
        f"{sum(t.load.socket_errors for t in turns):,} socket errors in {requests:,} "
        f"requests; accepted {decided.accepted:,.0f}, rejected {decided.rejected:,.0f}, "
        f"other {decided.other:,.0f}; {decided.mean_batch:.1f} decisions per transaction"
        + ("  (ran out of fresh customers: some were replays)" if decided.rejected else "")
    )
