"""The emulator's `--server URL` and `--capture DIR`, and what the link may import."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from device_firmware.core import MenuScreen, MessageScreen, Tone
from device_firmware.core.fakes import FakeClock, FakeDisplay
from device_firmware.emulator.capture import CapturingDisplay
from device_firmware.emulator.session import REAL_BANK_HINT, EmulatorSession
from device_firmware.emulator.text_frame import WIDTH
from device_firmware.pi.fonts import Fonts, load_fonts
from device_firmware.vault import FileVault
from tests.device_firmware.vault_samples import TINY_COST

ROOT = Path(__file__).resolve().parents[2]
FINGERPRINT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _emulator(*args: str, keys: str = "q") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device_firmware", "--emulator", *args],
        input=keys,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_emulator_starts_on_a_server_url_without_calling_it(tmp_path: Path) -> None:
    # Port 9 (discard) answers nobody: the link calls the bank only when a request is made.
    out = _emulator(
        "--server", "http://127.0.0.1:9", "--provisioning-key", FINGERPRINT,
        "--dir", str(tmp_path / "t"), keys="mq",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Bienvenido" in out.stdout
    assert "desarrollo" not in out.stdout  # the key is configured: nothing to warn about
    assert REAL_BANK_HINT.strip() in out.stdout  # no demo mailbox with a real bank


def test_the_emulator_refuses_a_bank_without_its_provisioning_key(tmp_path: Path) -> None:
    out = _emulator("--server", "http://127.0.0.1:9", "--dir", str(tmp_path / "t"))
    assert out.returncode == 1
    assert "--server needs the bank's provisioning key" in out.stderr
    assert "--dev-trust-on-first-use" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "t").exists()  # refused before anything was made


def test_the_emulator_trusts_on_first_use_only_when_told_and_says_so(tmp_path: Path) -> None:
    out = _emulator(
        "--server", "http://127.0.0.1:9", "--dev-trust-on-first-use",
        "--dir", str(tmp_path / "t"), keys="q",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Bienvenido (desarrollo)" in out.stdout
    both = _emulator(
        "--server", "http://127.0.0.1:9", "--dev-trust-on-first-use",
        "--provisioning-key", FINGERPRINT, "--dir", str(tmp_path / "t"),
    )  # fmt: skip
    assert both.returncode == 1 and "exclude each other" in both.stderr


def test_the_emulator_refuses_a_plain_http_bank(tmp_path: Path) -> None:
    out = _emulator(
        "--server", "http://otp.bank.example", "--provisioning-key", FINGERPRINT,
        "--dir", str(tmp_path / "t"),
    )  # fmt: skip
    assert out.returncode == 1
    assert "https:// only" in out.stderr


def test_the_emulator_refuses_a_malformed_provisioning_key(tmp_path: Path) -> None:
    out = _emulator(
        "--server", "https://otp.bank.example", "--provisioning-key", "abc",
        "--dir", str(tmp_path / "t"),
    )  # fmt: skip
    assert out.returncode == 1
    assert "--provisioning-key" in out.stderr


def test_the_emulator_captures_each_frame_as_png(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    out = _emulator("--dir", str(tmp_path / "t"), "--capture", str(frames), keys="3q")
    assert out.returncode == 0, out.stderr
    saved = sorted(frames.glob("frame-*.png"))
    rule = "+" + "-" * (WIDTH - 2) + "+"
    shown = out.stdout.splitlines().count(rule) // 2  # each text frame opens and closes a rule
    assert shown >= 2  # the welcome menu, then the language menu
    assert [p.name for p in saved] == [f"frame-{n:05d}.png" for n in range(1, shown + 1)]
    with Image.open(saved[0]) as image:
        assert image.size == (128, 64)
        assert image.getbbox() is not None  # something is lit


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    return load_fonts()


def test_capture_scales_and_numbers_after_earlier_frames(tmp_path: Path, fonts: Fonts) -> None:
    inner = FakeDisplay()
    first = CapturingDisplay(inner, tmp_path, fonts, scale=2)
    screen = MessageScreen("Sincronizado", ("Listo",), Tone.SUCCESS, "")
    first.show(screen)
    second = CapturingDisplay(inner, tmp_path, fonts)
    second.show(MenuScreen("Usuarios", ("Ana",), 0, "", ""))
    assert inner.frames[0] == screen and len(inner.frames) == 2
    assert second.saved == [tmp_path / "frame-00002.png"]
    with Image.open(first.saved[0]) as image:
        assert image.size == (256, 128)


def test_a_session_on_a_given_link_has_no_demo_mailbox(tmp_path: Path) -> None:
    from device_firmware.core.fake_link import FakeServerLink

    out = io.StringIO()
    clock = FakeClock()
    session = EmulatorSession(
        display=FakeDisplay(),
        clock=clock,
        vault=FileVault(tmp_path / "t", kdf_cost=TINY_COST),
        out=out,
        link=FakeServerLink(clock),
    )
    session.start()
    session.type("p")
    assert session.bank is None
    assert out.getvalue() == REAL_BANK_HINT


def test_the_pi_renderer_imports_no_hardware_library() -> None:
    probe = (
        "import sys, device_firmware.pi.frame, device_firmware.emulator.capture; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'gpiozero', 'luma'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_link_imports_httpx_and_no_token_code_imports_tests_or_server() -> None:
    files = {p.relative_to(ROOT): _imports(p) for p in (ROOT / "device_firmware").rglob("*.py")}
    httpx_users = {str(p) for p, roots in files.items() if "httpx" in roots}
    assert httpx_users == {"device_firmware/link/http_link.py"}
    assert {str(p) for p, roots in files.items() if roots & {"tests", "server", "hsm"}} == set()
