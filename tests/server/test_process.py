"""What a server process sets up for itself once its app is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hsm import Hsm
from server.process import GC_YOUNG_THRESHOLD
from tests.conftest import SoftHsmTokens
from tests.server.processes import free_port, server_env, server_process

pytestmark = pytest.mark.slow  # end to end: `make test` runs it, a plain `pytest` not


def test_settling_freezes_the_startup_objects_and_raises_the_young_threshold() -> None:
    # in a child process: the test process's own collector must stay as it is
    script = (
        "import gc, json\n"
        "import server.app\n"  # what a server process has loaded by then
        "from server.process import settle_process\n"
        "before = (gc.get_threshold(), gc.get_freeze_count())\n"
        "settle_process()\n"
        "print(json.dumps([before, (gc.get_threshold(), gc.get_freeze_count())]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    (before_threshold, before_frozen), (after_threshold, after_frozen) = json.loads(out)
    assert before_frozen == 0
    assert after_frozen > 10_000  # the modules and libraries loaded so far
    assert after_threshold == [GC_YOUNG_THRESHOLD, *before_threshold[1:]]


_PIN = """
import json, os, threading
from server.process import pin_to_cpu
cpu = max(os.sched_getaffinity(0))
ready, stop = threading.Event(), threading.Event()
def idle(): ready.set(); stop.wait()
before = threading.Thread(target=idle); before.start(); ready.wait()
pin_to_cpu(cpu)
after = threading.Thread(target=stop.wait); after.start()
seen = {t.name: sorted(os.sched_getaffinity(t.native_id)) for t in (before, after)}
seen["main"] = sorted(os.sched_getaffinity(0))
stop.set()
try:
    pin_to_cpu(4096)
except ValueError as exc:
    seen["refused"] = str(exc)
print(json.dumps([cpu, seen]))
"""


def test_pinning_moves_every_thread_started_before_and_after_to_the_cpu() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PIN], capture_output=True, text=True, check=True
    ).stdout
    cpu, seen = json.loads(out)
    refused = seen.pop("refused")
    assert list(seen.values()) == [[cpu]] * 3
    # once pinned, the process may use that CPU only
    assert refused == f"CPU 4096 is not available to this process (it may use {cpu})"


def _cpus_of(port: int) -> dict[str, str]:
    """Cpus_allowed_list of every thread of the server listening on `port`."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in cmdline and str(port).encode() in cmdline:
            return {
                task.name: next(
                    line.split(":")[1].strip()
                    for line in (task / "status").read_text().splitlines()
                    if line.startswith("Cpus_allowed_list")
                )
                for task in (proc / "task").iterdir()
            }
    raise AssertionError(f"no server process on port {port}")


def test_a_server_told_a_cpu_serves_with_all_its_threads_there(
    hsm: Hsm, tokens: SoftHsmTokens, database_url: str
) -> None:
    cpu = max(os.sched_getaffinity(0))
    port = free_port()
    env = {**server_env(tokens, database_url), "OTP_CPU": str(cpu)}
    with server_process(env, port) as base:
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
        threads = _cpus_of(port)
    assert len(threads) > 3  # the event loop, the PKCS#11 thread, workers
    assert set(threads.values()) == {str(cpu)}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--cpu", "4096"], "CPU 4096 is not available"),
        (["--cpu", "0", "--workers", "2"], "run one server per CPU"),
    ],
)
def test_a_cpu_that_cannot_be_used_stops_the_server_at_once(
    arguments: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", *arguments], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "server"],
        ["-m", "server.cli", "credential", "list"],
        ["-c", "import server.asgi"],
        ["-m", "server.demo"],
    ],
    ids=["otp-server", "otp-admin", "asgi", "demo"],
)
def test_bad_settings_stop_a_process_with_the_variables_named_and_no_values(
    command: list[str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "OTP_VAR_DIR": str(tmp_path),
        "OTP_PORT": "eighty-eighty",
        "OTP_LOG_LEVEL": "chatty",
        "OTP_HSM_CALL_TIMEOUT": "-7.5",
    }
    done = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode != 0
    assert "bad settings" in done.stderr
    for variable in ("OTP_PORT", "OTP_LOG_LEVEL", "OTP_HSM_CALL_TIMEOUT"):
        assert variable in done.stderr
    for value in ("eighty-eighty", "chatty", "-7.5"):
        assert value not in done.stderr
    assert "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())  # nothing made before the settings were read
