"""The token's speed: a key press to the next screen model, and opening the vault.

Key press → screen model: `Token.handle(key)` runs the pure state machine, renders the screen
model and hands it to the display when it changed, on fake ports (no I/O) so only the core is
timed. Cases: a cursor move on the user list (a new menu), a multi-tap letter in the username
(a new text entry), a clock tick on the code screen (a new countdown, and the TOTP computed by
pyotp). Baseline, same run: a key that changes nothing (step and render of the same screen,
the display not called). For scale, drawing the code screen as the Pi's 128x64 image (PIL).

Vault unlock: `FileVault.unlock(PIN)` at the default scrypt cost (N = 2**14, r = 8, p = 1:
16 MiB): the attempt counted on disk first (temporary file, fsync, rename, directory fsync),
scrypt, the data key unwrapped, the counter reset (a second durable write), the contents
decrypted. Baselines, same run: one scrypt derivation at that cost alone, and the same unlock
at a tiny cost (the disk writes and AES-GCM alone).

What to expect on a Pi Zero 2 W (4 Cortex-A53 cores at 1 GHz, 512 MiB LPDDR2, an SD card):

- key press: CPython on an A53 at 1 GHz runs pure-Python code about 10 times slower than a
  current x86 core, so the ~50 microseconds measured here become about half a millisecond
  there. Drawing the frame with PIL costs some 30 times more than the core (about 15 ms on
  the Pi), and the debounce (30 ms) and sending the frame to the OLED over I2C (1 KiB, about
  25 ms at 400 kHz) more again: they set what the customer sees, not the core.
- unlock: scrypt is memory-hard, and the A53's Salsa20/8 rounds and LPDDR2 are 3 to 4 times
  slower than this machine, so the ~0.09 s derivation here becomes about 0.3 s there (the
  cost `vault.sealed` chose for it); the two fsync'd writes add 10-50 ms on an SD card. So
  unlock/scrypt stays near 1 and an unlock takes about a third of a second after the PIN's
  last digit: unnoticed by a person, and still no defence against an offline attack on a copy
  of the card (see `vault.sealed`).
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.timing import Rate, measure
from device_firmware.core import Credential, Key, Screen, Token, TokenData
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.fakes import FakeClock, FakeVault
from device_firmware.core.state import EnterUsername, ShowCode, UserList
from device_firmware.vault import FileVault, KdfCost

PIN = "2580"
TINY = KdfCost(log2_n=4, r=1, p=1)


class LastFrame:
    """A display keeping only the last screen (the fake one keeps them all)."""

    def __init__(self) -> None:
        self.screen: Screen | None = None
        self.shown = 0

    def show(self, screen: Screen) -> None:
        self.screen = screen
        self.shown += 1


def _token() -> tuple[Token, FakeClock, LastFrame]:
    """A token opened with the PIN, three users on its list."""
    clock = FakeClock()
    vault = FakeVault()
    users = tuple(
        Credential(f"cred-{i}", "Banco", f"user{i}", f"Usuario {i}", secrets.token_bytes(20))
        for i in range(3)
    )
    vault.create(PIN, TokenData(users))
    vault.lock()
    display = LastFrame()
    token = Token(display=display, clock=clock, vault=vault, link=FakeServerLink(clock))
    token.start()
    for char in PIN + "#":
        token.handle(Key.parse(char))
    assert isinstance(token.state.place, UserList)
    return token, clock, display


def _key_presses(seconds: float) -> list[str]:
    token, clock, display = _token()

    def no_op(_: int) -> None:
        token.handle(Key.DIGIT_9)  # no ninth item: same state, same screen

    before = display.shown
    baseline = measure("key that changes nothing (baseline)", no_op, seconds=seconds)
    assert display.shown == before, "the baseline must not draw"

    def cursor(i: int) -> None:
        token.handle(Key.B if i % 2 == 0 else Key.A)

    moves = measure("cursor move on the user list", cursor, seconds=seconds)

    token.handle(Key.DIGIT_4)  # "Agregar otro usuario"
    token.handle(Key.DIGIT_1)  # "Registrarme con mi usuario"
    assert isinstance(token.state.place, EnterUsername)
    letters = measure(
        "multi-tap letter (a→b→c→2→a...)", lambda _: token.handle(Key.DIGIT_2), seconds=seconds
    )

    token.handle(Key.C)
    token.handle(Key.C)
    token.handle(Key.DIGIT_1)
    assert isinstance(token.state.place, ShowCode)

    def tick(_: int) -> None:
        clock.advance(1.0)
        token.tick()

    ticks = measure("clock tick on the code screen (TOTP)", tick, seconds=seconds)
    lines = [
        "Token core: key press -> new screen model, per second (fake ports, no I/O)",
        baseline.line(),
        moves.line(baseline),
        letters.line(baseline),
        ticks.line(baseline),
    ]
    lines += _frame_drawing(display, baseline, seconds)
    return lines


def _frame_drawing(display: LastFrame, baseline: Rate, seconds: float) -> list[str]:
    from device_firmware.pi.errors import FontsMissing
    from device_firmware.pi.fonts import load_fonts
    from device_firmware.pi.frame import draw_screen

    try:
        fonts = load_fonts()
    except FontsMissing:
        return ["(no DejaVu fonts: the Pi renderer is not timed)"]
    screen = display.screen
    assert screen is not None

    def draw(_: int) -> None:
        draw_screen(screen, fonts)

    drawn = measure("for scale: draw that code screen as 128x64 (PIL)", draw, seconds=seconds)
    return [drawn.line(baseline)]


def _each(name: str, operation: Callable[[], object], seconds: float, rounds: int = 5) -> Rate:
    """Like `measure`, one call at a time (for operations of a tenth of a second)."""
    rates = []
    for _ in range(rounds):
        done = 0
        start = time.perf_counter()
        while True:
            operation()
            done += 1
            now = time.perf_counter()
            if now - start >= seconds:
                break
        rates.append(done / (now - start))
    return Rate(name, statistics.median(rates), min(rates), max(rates))


def _unlocks(seconds: float) -> list[str]:
    cost = KdfCost()
    salt = secrets.token_bytes(16)
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as tmp:
        chosen = FileVault(Path(tmp) / "chosen", kdf_cost=cost)
        chosen.create(PIN, TokenData())
        tiny = FileVault(Path(tmp) / "tiny", kdf_cost=TINY)
        tiny.create(PIN, TokenData())
        scrypt = _each(
            f"one scrypt, N=2**{cost.log2_n} r={cost.r} p={cost.p} (baseline)",
            lambda: cost.derive(PIN, salt),
            seconds,
        )
        unlock = _each("vault unlock at that cost", lambda: chosen.unlock(PIN), seconds)
        floor = _each(
            f"vault unlock at N=2**{TINY.log2_n} r={TINY.r} (disk + AES-GCM)",
            lambda: tiny.unlock(PIN),
            seconds,
        )
    ms = 1000 / unlock.per_second
    return [
        "Vault unlock with the PIN, per second (in a temporary directory on this disk)",
        scrypt.line(),
        unlock.line(scrypt),
        floor.line(scrypt),
        f"one unlock at the chosen cost: {ms:.0f} ms here (about 0.3 s expected on a Pi Zero 2)",
    ]


def run(seconds: float = 1.0) -> list[str]:
    """Measure and return the report lines."""
    return [*_key_presses(seconds), "", *_unlocks(seconds)]


if __name__ == "__main__":
    for line in run():
        print(line)
