"""The token's speed: a key press to the next screen model, and opening the vault.

Key press → screen model: `Token.handle(key)` runs the pure state machine, renders the screen
model and hands it to the display when it changed, on fake ports (no I/O) so only the core is
timed. Cases: a cursor move on the user list (a new menu), a multi-tap letter in the username
(a new text entry), a clock tick on the code screen (a new countdown, and the TOTP computed by
pyotp). Baseline, same run: a key that changes nothing (step and render of the same screen,
the display not called). For scale, drawing the code screen as the Pi's 128x64 image (PIL).

Vault unlock: `FileVault.unlock(PIN)` at the default cost: Argon2id with 64 MiB and the
iterations `Argon2Cost.calibrate` picks for about a second on this machine (measured once, at
the start): the attempt counted on disk first (temporary file, fsync, rename, directory
fsync), Argon2id, the data key unwrapped, the counter reset (a second durable write), the
contents decrypted. Baselines, same run: one scrypt derivation at format 1's cost (N = 2**14,
r = 8, p = 1: 16 MiB), one Argon2id derivation at the default cost, and the same unlock at a
tiny cost (the disk writes and AES-GCM alone).

Offline search (the thief with a copy of the SD card): one wrong PIN tried against a copied
``vault.bin`` (`sealed.unwrap`, one core), for a format-1 vault at scrypt's default and a
format-2 vault at the calibrated Argon2id default: PINs per second per core, the ratio of the
two, and what all 10,000 PINs cost. The ratio is what issue 18's item 4 buys; both rates are
far too high for a 4-digit PIN, which is why the file vault is labelled the weaker one.

What to expect on a Pi Zero 2 W (4 Cortex-A53 cores at 1 GHz, 512 MiB LPDDR2, an SD card):

- key press: CPython on an A53 at 1 GHz runs pure-Python code about 10 times slower than a
  current x86 core, so the ~50 microseconds measured here become about half a millisecond
  there. Drawing the frame with PIL costs some 30 times more than the core (about 15 ms on
  the Pi), and the debounce (30 ms) and sending the frame to the OLED over I2C (1 KiB, about
  25 ms at 400 kHz) more again: they set what the customer sees, not the core.
- unlock: the default cost is calibrated on the token itself to about one second: 64 MiB
  and the 3-5 passes an A53 at 1 GHz with LPDDR2 manages in that time (this machine needs
  ~20); the two fsync'd writes add 10-50 ms on an SD card. A second after the PIN's last
  digit is the longest wait that still feels like "checking". A thief's desktop core tries
  the Pi's cost some 4-5 times faster than the Pi, so the offline search of a Pi-made vault
  costs roughly 0.2 s a PIN there, against ~0.04 s for scrypt's N = 2**14: dearer, not safe.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.timing import Rate, measure, measure_each
from device_firmware.core import Credential, Key, Screen, Token, TokenData
from device_firmware.core.fake_link import FakeServerLink
from device_firmware.core.fakes import FakeClock, FakeVault
from device_firmware.core.state import EnterUsername, ShowCode, UserList
from device_firmware.vault import Argon2Cost, FileVault, ScryptCost, default_argon2_cost, sealed
from device_firmware.vault import contents as vault_contents
from device_firmware.vault.sealed import PinRefused

PIN = "2580"
WRONG_PIN = "0000"
ALL_PINS = 10_000
TINY = Argon2Cost(memory_kib=8, iterations=1)


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


def _argon2(cost: Argon2Cost) -> str:
    memory = (
        f"{cost.memory_kib // 1024} MiB" if cost.memory_kib >= 1024 else f"{cost.memory_kib} KiB"
    )
    return f"m={memory} t={cost.iterations} p={cost.lanes}"


def _unlocks(seconds: float, argon2: Argon2Cost) -> list[str]:
    scrypt_cost = ScryptCost()
    salt = secrets.token_bytes(16)
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as tmp:
        chosen = FileVault(Path(tmp) / "chosen", kdf_cost=argon2)
        chosen.create(PIN, TokenData())
        tiny = FileVault(Path(tmp) / "tiny", kdf_cost=TINY)
        tiny.create(PIN, TokenData())
        scrypt = measure_each(
            f"one scrypt, N=2**{scrypt_cost.log2_n} r={scrypt_cost.r} p={scrypt_cost.p} (baseline)",
            lambda: scrypt_cost.derive(PIN, salt),
            seconds,
        )
        derivation = measure_each(
            f"one Argon2id, {_argon2(argon2)}", lambda: argon2.derive(PIN, salt), seconds
        )
        unlock = measure_each("vault unlock at that cost", lambda: chosen.unlock(PIN), seconds)
        floor = measure_each(
            f"vault unlock at {_argon2(TINY)} (disk + AES-GCM)",
            lambda: tiny.unlock(PIN),
            seconds,
        )
    ms = 1000 / unlock.per_second
    derive_ms, scrypt_ms = 1000 / derivation.per_second, 1000 / scrypt.per_second
    return [
        "Vault unlock with the PIN, per second (in a temporary directory on this disk)",
        scrypt.line(),
        derivation.line(scrypt),
        unlock.line(scrypt),
        floor.line(scrypt),
        f"one Argon2id {derive_ms:.0f} ms, one scrypt {scrypt_ms:.0f} ms, one unlock {ms:.0f} ms",
    ]


def _offline_search(seconds: float, argon2: Argon2Cost) -> list[str]:
    """A thief's rate: wrong PINs tried per second on one core against a copied vault.bin."""
    plain = vault_contents.encode(TokenData())
    old, _ = sealed.seal_new(PIN, plain, ScryptCost())
    new, _ = sealed.seal_new(PIN, plain, argon2)

    def guess(blob: bytes) -> Callable[[], None]:
        def one() -> None:
            try:
                sealed.unwrap(blob, WRONG_PIN)
            except PinRefused:
                return
            raise AssertionError("the wrong PIN opened the vault")

        return one

    scrypt = measure_each("PINs tried, format 1: scrypt N=2**14 (baseline)", guess(old), seconds)
    argon = measure_each(f"PINs tried, format 2: Argon2id {_argon2(argon2)}", guess(new), seconds)
    lines = ["Offline PIN search on a copy of the card, PINs per second per core", scrypt.line()]
    lines.append(argon.line(scrypt))
    for which, rate in (("format 1", scrypt), ("format 2", argon)):
        per_pin = 1000 / rate.per_second
        minutes = ALL_PINS / rate.per_second / 60
        lines.append(f"{which}: {per_pin:.0f} ms a PIN, all {ALL_PINS:,} in {minutes:.1f} core-min")
    return lines


def run(seconds: float = 1.0, *, argon2: Argon2Cost | None = None) -> list[str]:
    """Measure and return the report lines.

    Args:
        seconds: the length of each timed round.
        argon2: the Argon2id cost to measure; None: the calibrated default (`FileVault`'s).
    """
    cost = argon2 or default_argon2_cost()
    return [
        *_key_presses(seconds),
        "",
        *_unlocks(seconds, cost),
        "",
        *_offline_search(seconds, cost),
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
