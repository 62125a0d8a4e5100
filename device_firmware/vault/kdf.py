"""The PIN's key derivation: Argon2id for new vaults, scrypt for vaults made before it.

A vault file names its KDF by its format version (`sealed`): format 1 is scrypt
(`ScryptCost`, what every token wrote until format 2), format 2 is Argon2id (`Argon2Cost`,
RFC 9106). Both record their cost in the file's authenticated header, and both refuse a cost
outside fixed bounds *before* deriving anything: an attacker who edits the header of a copied
card must not make the token allocate gigabytes or spin for hours.

**What the cost buys, honestly.** The PIN has 4 digits: 10,000 candidates. Whoever copies the
SD card tries them offline on their own computer, where the attempt counter does not exist;
the KDF only sets the price of each try, paid on the thief's hardware, not the token's. At the
format-1 default (scrypt N=2**14, 16 MiB) a try costs ~0.04 s of one core of the development
machine: all 10,000 in ~7 core-minutes. The format-2 default is calibrated to ~1 s on the
device that makes the vault; a Pi Zero 2 W's A53 is some 4-5 times slower than a desktop core
at Argon2, so a Pi-made vault costs the thief ~0.2 s a try on a desktop core: ~40
core-minutes for every PIN, a few minutes on an 8-core machine. Several times scrypt's price
(`python -m benchmarks token` measures the ratio), and nothing a patient thief lacks. The
file vault is the weaker vault and says so on the token (`VaultProtection.FILE`); a TPM with
its own retry counter is what closes the gap.

**Why these numbers.**

- Memory 64 MiB (`DEFAULT_MEMORY_KIB`): RFC 9106 §4's second recommended option. The Pi Zero
  2 W has 512 MiB in all, of which the OS and the token's Python process leave well over 300
  MiB free, so 64 MiB is affordable once per unlock; it is also what makes each guess costly
  on a GPU (64 MiB per guess in flight). `MAX_MEMORY_KIB` (256 MiB) is the most a vault file
  may ask for: half the Pi's RAM.
- Iterations: not fixed but *measured* (`Argon2Cost.calibrate`): the token derives once with
  one pass and once with two on its own CPU, and picks the passes that make one derivation
  take `DEFAULT_TARGET_SECONDS` (1 s). One second after the PIN's last digit is the most a
  customer waits without wondering; anything less gives the thief a cheaper guess for
  nothing. A Pi Zero 2 W (Cortex-A53 at 1 GHz, LPDDR2) needs some 3-5 passes; the
  development machine needs ~20. `MAX_ITERATIONS` and `MAX_WORK_KIB` bound what a file may
  ask for (at most ~15 s on the Pi).
- Lanes 1: cryptography (OpenSSL) computes lanes one after another in this process (measured:
  4 lanes take as long as 1 at the same memory), so more lanes would not shorten the token's
  wait, and they would let an attacker's parallel hardware work on one guess at a time.

The default is calibrated once per process (`default_argon2_cost`, cached) and only when a
vault is created or upgraded, never for an unlock: a vault keeps the cost it was made with.
"""

from __future__ import annotations

import functools
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from device_firmware.core.errors import InvalidRecord

KEY_BYTES = 32
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024  # a Pi Zero 2 has 512 MiB in all

DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_TARGET_SECONDS = 1.0
MIN_MEMORY_KIB_PER_LANE = 8  # Argon2's own minimum (RFC 9106 §3.1)
MAX_MEMORY_KIB = 256 * 1024
MAX_ITERATIONS = 64
MAX_LANES = 16
MAX_WORK_KIB = 4 * 1024 * 1024  # memory x passes: 64 MiB x 64, ~3 s here, ~15 s on the Pi

Timer = Callable[[], float]


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's cost parameters (RFC 7914): the KDF of vault format 1.

    Attributes:
        log2_n: log2 of the CPU/memory cost N.
        r: block size.
        p: parallelisation.

    Raises:
        InvalidRecord: a parameter out of range, or more memory than a token may use.
    """

    FORMAT_VERSION: ClassVar[int] = 1
    FIELDS: ClassVar[struct.Struct] = struct.Struct(">BBB")

    log2_n: int = 14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.log2_n <= 24 or not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise InvalidRecord(f"scrypt cost out of range: {self}")
        if self.memory > MAX_SCRYPT_MEMORY:
            raise InvalidRecord(f"scrypt cost needs {self.memory >> 20} MiB, more than allowed")

    @property
    def memory(self) -> int:
        """Bytes of memory one derivation needs (128 * r * N)."""
        return 128 * self.r * (1 << self.log2_n)

    def pack(self) -> bytes:
        """The cost as the vault header stores it: log2(N), r, p, one byte each."""
        return self.FIELDS.pack(self.log2_n, self.r, self.p)

    @classmethod
    def unpack(cls, fields: bytes) -> ScryptCost:
        """The cost stored in a format-1 header.

        Raises:
            InvalidRecord: out of range.
        """
        return cls(*cls.FIELDS.unpack(fields))

    def derive(self, pin: str, salt: bytes) -> bytes:
        """The key-encryption key for `pin`."""
        kdf = Scrypt(salt=salt, length=KEY_BYTES, n=1 << self.log2_n, r=self.r, p=self.p)
        return kdf.derive(pin.encode("utf-8"))


@dataclass(frozen=True)
class Argon2Cost:
    """Argon2id's cost parameters (RFC 9106): the KDF of vault format 2.

    Build it with `calibrate` on the machine that will unlock the vault; tests pass a tiny
    explicit one. The defaults here are RFC 9106's second recommended option, for reference;
    `FileVault` uses `default_argon2_cost()`, which measures.

    Attributes:
        memory_kib: memory in KiB (Argon2's m).
        iterations: passes over that memory (Argon2's t).
        lanes: parallel lanes (Argon2's p).

    Raises:
        InvalidRecord: a parameter out of bounds (see the module docstring).
    """

    FORMAT_VERSION: ClassVar[int] = 2
    FIELDS: ClassVar[struct.Struct] = struct.Struct(">IIB")

    memory_kib: int = DEFAULT_MEMORY_KIB
    iterations: int = 3
    lanes: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= MAX_LANES:
            raise InvalidRecord(f"Argon2id lanes {self.lanes} out of 1..{MAX_LANES}")
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise InvalidRecord(f"Argon2id iterations {self.iterations} out of 1..{MAX_ITERATIONS}")
        if not MIN_MEMORY_KIB_PER_LANE * self.lanes <= self.memory_kib <= MAX_MEMORY_KIB:
            raise InvalidRecord(
                f"Argon2id memory {self.memory_kib} KiB out of "
                f"{MIN_MEMORY_KIB_PER_LANE * self.lanes}..{MAX_MEMORY_KIB} KiB"
            )
        if self.memory_kib * self.iterations > MAX_WORK_KIB:
            raise InvalidRecord(
                f"Argon2id cost {self.memory_kib} KiB x {self.iterations} passes is more work "
                "than a token may be asked for"
            )

    def pack(self) -> bytes:
        """The cost as the vault header stores it: memory KiB and iterations (4 bytes each),
        lanes (1 byte)."""
        return self.FIELDS.pack(self.memory_kib, self.iterations, self.lanes)

    @classmethod
    def unpack(cls, fields: bytes) -> Argon2Cost:
        """The cost stored in a format-2 header.

        Raises:
            InvalidRecord: out of bounds.
        """
        return cls(*cls.FIELDS.unpack(fields))

    def derive(self, pin: str, salt: bytes) -> bytes:
        """The key-encryption key for `pin`."""
        kdf = Argon2id(
            salt=salt,
            length=KEY_BYTES,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(pin.encode("utf-8"))

    @classmethod
    def calibrate(
        cls,
        target_seconds: float = DEFAULT_TARGET_SECONDS,
        memory_kib: int = DEFAULT_MEMORY_KIB,
        *,
        lanes: int = 1,
        timer: Timer = time.perf_counter,
    ) -> Argon2Cost:
        """The cost at `memory_kib` whose derivation takes about `target_seconds` here.

        One derivation costs a fixed part (allocating and filling the memory once) plus a
        part per pass, so two are timed, with one pass and with two: their difference is the
        time per pass, the rest is fixed. A busy machine can blur that difference, so the
        time per pass is taken as at least half the one-pass time (measured here: 0.6 of it)
        and at most all of it. The passes that reach the target are then clamped to the
        bounds (at least 1; at most what `MAX_ITERATIONS` and `MAX_WORK_KIB` allow).

        Args:
            target_seconds: how long one derivation should take on this machine.
            memory_kib: the memory cost to keep.
            lanes: Argon2's lanes.
            timer: the clock the derivations are timed with (tests pass a scripted one).

        Raises:
            InvalidRecord: `memory_kib` or `lanes` out of bounds, or a target that is not a
                positive number of seconds.
        """
        if not target_seconds > 0 or not math.isfinite(target_seconds):
            raise InvalidRecord("the calibration target is a positive number of seconds")
        salt = bytes(16)
        one = _timed(cls(memory_kib, 1, lanes), salt, timer)
        two = _timed(cls(memory_kib, 2, lanes), salt, timer)
        one = max(one, 1e-9)
        per_pass = min(max(two - one, one / 2), one)  # never below half a one-pass derivation
        fixed = one - per_pass
        wanted = math.ceil((target_seconds - fixed) / per_pass - 1e-9)  # 9.000000001 is 9
        most = min(MAX_ITERATIONS, MAX_WORK_KIB // memory_kib)
        return cls(memory_kib, max(1, min(wanted, most)), lanes)


def _timed(cost: Argon2Cost, salt: bytes, timer: Timer) -> float:
    start = timer()
    cost.derive("0000", salt)
    return timer() - start


@functools.cache
def default_argon2_cost() -> Argon2Cost:
    """The cost of new vaults: `DEFAULT_MEMORY_KIB`, calibrated to `DEFAULT_TARGET_SECONDS`
    on this machine the first time it is asked for, then the same for the whole process."""
    return Argon2Cost.calibrate(DEFAULT_TARGET_SECONDS, DEFAULT_MEMORY_KIB)
