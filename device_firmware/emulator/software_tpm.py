"""A software TPM 2.0 (Debian's ``swtpm``) in a directory: the emulator's, the tests' and the
benchmarks' stand-in for the Pi's TPM board.

Its state (NV memory, persistent objects, the DA counter) lives in files under `state`, so a
test can kill the process (a power cut: no orderly shutdown) and start it again on the same
state, or copy the token's SD-card files while the TPM keeps its own. It listens on two
loopback TCP ports (commands, and swtpm's control channel on the next port); tpm2-tss 3.2's
swtpm TCTI reaches it only over TCP.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SWTPM = shutil.which("swtpm") or "/usr/bin/swtpm"


class SoftwareTpm:
    """One swtpm process on two loopback ports, restartable on the same state directory."""

    def __init__(self, state: Path) -> None:
        self.state = state
        state.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def tcti(self) -> str:
        """The TCTI string that reaches this TPM."""
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self) -> None:
        """Start swtpm (a fresh state is a new, unowned TPM) and wait until it answers.

        Raises:
            RuntimeError: swtpm is missing or did not start (e.g. no free port pair).
        """
        if not Path(SWTPM).exists():
            raise RuntimeError("swtpm is not installed (Debian package swtpm)")
        for _ in range(20):
            port = 20000 + 2 * secrets.randbelow(20000)
            process = subprocess.Popen(  # noqa: S603 (a fixed program, our own arguments)
                [
                    SWTPM, "socket", "--tpm2",
                    "--tpmstate", f"dir={self.state}",
                    "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                    "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                    "--flags", "not-need-init,startup-clear",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            if _answers(port, process):
                self.port, self._process = port, process
                return
            process.kill()
            process.wait()
        raise RuntimeError("swtpm did not start on any port")

    def power_cut(self) -> None:
        """Kill swtpm without an orderly shutdown (what a pulled plug does to a TPM)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        """A power cut, then power on again on the same state."""
        self.power_cut()
        self.start()

    def stop(self) -> None:
        """End the process (tests' teardown)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def _answers(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # e.g. the port was taken
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False
