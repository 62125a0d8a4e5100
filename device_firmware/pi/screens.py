"""Every screen of the token, drawn by the real display adapter into PNG files.

``python -m device_firmware.pi.screens OUTDIR [--scale N] [--prefix pi-]`` renders each screen
of `gallery()` through `OledDisplay` on luma's `dummy` device (the same code path as the
panel, minus the bus) and writes ``OUTDIR/<prefix><name>.png``. The docs use ``--scale 4``
into ``docs/screens/``; the golden images of the tests are the same frames at scale 1::

    python -m device_firmware.pi.screens docs/screens --scale 4 --prefix pi-
    python -m device_firmware.pi.screens tests/device_firmware/pi/golden --record-renderer

The screens are the core's own: `gallery()` builds a state for every place of the core
(fixed device ID, users, seeds and time, so the images never change by themselves) and asks
`core.render` for its screen model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, features

from device_firmware.core import device_id, transfers
from device_firmware.core.catalog import Language, Msg
from device_firmware.core.keys import Key
from device_firmware.core.records import (
    Credential,
    RegistrationHandle,
    TokenData,
    VaultProtection,
)
from device_firmware.core.render import render
from device_firmware.core.screens import Screen, Tone
from device_firmware.core.state import (
    About,
    Activating,
    CheckingPin,
    ChooseLanguage,
    ConfirmDelete,
    ConfirmingEmailCode,
    ConfirmPin,
    ConfirmTransfer,
    Damaged,
    DefinePin,
    DeleteList,
    Deleting,
    EnterActivationCode,
    EnterAmount,
    EnterEmailCode,
    EnterPassword,
    EnterPayee,
    EnterPin,
    EnterUsername,
    Erasing,
    Notice,
    Opening,
    Place,
    Registering,
    Saving,
    Session,
    Settings,
    ShowCode,
    ShowDeviceId,
    ShowResponse,
    State,
    Synchronised,
    SyncingClock,
    TokenConfig,
    UserList,
    UserMenu,
    Welcome,
)
from device_firmware.core.text_entry import TextEntry
from device_firmware.pi.fonts import FILES, Fonts, load_fonts

NOW = 1_800_000_037.0  # 23 seconds left in the step
DEVICE_ID = device_id.DeviceId("1020584050721040")  # the test vector of core.device_id
USERS = TokenData(
    credentials=(
        Credential(
            "cred-1",
            "Banco Improsa",
            "ana",
            "Ana Pérez",
            bytes(range(20)),
            ocra_suite=transfers.SUITE,
            ocra_seed=bytes(range(32, 64)),
        ),
        Credential("cred-2", "Banco Improsa", "beto", "Beto Ruiz", bytes(range(1, 21))),
        Credential("cred-3", "Banco Improsa", "nunez", "José Núñez", bytes(range(2, 22))),
    )
)
EIGHT_DIGITS = TokenData(
    credentials=(
        Credential("cred-8", "Banco Improsa", "caro", "Caro Díaz", bytes(range(3, 23)), digits=8),
    )
)
RENDERER_FILE = "RENDERER.json"
TPM = TokenConfig(version="0.1.0", vault_protection=VaultProtection.TPM)
DEVELOPMENT = TokenConfig(version="0.1.0", trust_on_first_use=True)
HANDLE = RegistrationHandle("demo", "a***@correo.com", NOW + 600)


@dataclass(frozen=True)
class Shot:
    """One screen of the gallery: its file name, the core's place, and the screen model."""

    name: str
    place: Place
    screen: Screen


def gallery() -> list[tuple[str, Screen]]:
    """(name, screen model) for every place of the core, in the order a customer meets them."""
    return [(shot.name, shot.screen) for shot in shots()]


def shots() -> list[Shot]:
    """Every `Shot` of the gallery."""
    shots: list[Shot] = []
    shots.append(_shot("opening", Opening(), unlocked=False))
    shots.append(_shot("welcome", Welcome(), unlocked=False))
    shots.append(_shot("welcome-en", Welcome(cursor=1), unlocked=False, language=Language.EN))
    typing = TextEntry(text="anap", cursor=4, pending_key=Key.DIGIT_7)
    shots.append(_shot("username", EnterUsername(typing), unlocked=False))
    secret = TextEntry(text="clave", cursor=5, pending_key=Key.DIGIT_3, pending_index=1)
    shots.append(_shot("password", EnterPassword("ana", secret), unlocked=False))
    shots.append(_shot("registering", Registering("ana"), unlocked=False))
    shots.append(_shot("email-code", EnterEmailCode(HANDLE, "4821"), unlocked=False))
    shots.append(_shot("confirming-email-code", ConfirmingEmailCode(HANDLE), unlocked=False))
    shots.append(_shot("device-id", ShowDeviceId(), unlocked=False))
    shots.append(_shot("activation-code", EnterActivationCode("73051"), unlocked=False))
    shots.append(_shot("activating", Activating(), unlocked=False))
    shots.append(_shot("synchronised", Synchronised(then=UserList()), unlocked=False))
    shots.append(_shot("define-pin", DefinePin(TokenData(), "25"), unlocked=False))
    shots.append(_shot("confirm-pin", ConfirmPin(TokenData(), "2580", "258"), unlocked=False))
    shots.append(
        _shot("saving", Saving(TokenData(), then=UserList(), retry=UserList()), unlocked=False)
    )
    shots.append(_shot("enter-pin", EnterPin("2"), unlocked=False))
    shots.append(_shot("checking-pin", CheckingPin(), unlocked=False))
    shots.append(_shot("wrong-pin", EnterPin(refused=True), unlocked=False, attempts=(3, 1)))
    shots.append(_shot("users", UserList(cursor=1)))
    shots.append(_shot("users-actions", UserList(cursor=4)))
    shots.append(_shot("code", ShowCode("cred-1")))
    shots.append(_shot("code-en", ShowCode("cred-2"), language=Language.EN))
    shots.append(_shot("code-8-digits", ShowCode("cred-8"), data=EIGHT_DIGITS))
    shots.append(_shot("clock-not-set", ShowCode("cred-1"), clock_set=False))
    shots.extend(_signing_shots())
    shots.append(_shot("delete-list", DeleteList(cursor=2)))
    shots.append(_shot("confirm-delete", ConfirmDelete("cred-3")))
    shots.append(_shot("deleting", Deleting("cred-3")))
    shots.append(_shot("settings", Settings(cursor=1)))
    shots.append(_shot("language", ChooseLanguage(back=Settings(), cursor=0)))
    shots.append(_shot("syncing-clock", SyncingClock()))
    clock_synced = Notice(
        Msg.TITLE_CLOCK, Msg.CLOCK_SYNCED, Settings(), Tone.SUCCESS, (("offset", "+2"),)
    )
    shots.append(_shot("clock-synced", clock_synced))
    shots.append(_shot("about", About()))
    shots.append(_shot("about-tpm", About(), config=TPM))
    shots.append(_shot("about-development", About(), config=DEVELOPMENT))
    shots.append(_shot("welcome-development", Welcome(), unlocked=False, config=DEVELOPMENT))
    shots.append(_shot("users-development", UserList(), config=DEVELOPMENT))
    wrong_code = Notice(Msg.TITLE_ERROR, Msg.ERR_ACTIVATION, ShowDeviceId(), Tone.ERROR)
    shots.append(_shot("activation-refused", wrong_code, unlocked=False))
    erased = Notice(Msg.TITLE_ERASED, Msg.ERASED_BODY, Welcome(), Tone.ERROR)
    shots.append(_shot("erased", erased, unlocked=False))
    shots.append(_shot("erasing", Erasing(then=Welcome()), unlocked=False))
    shots.append(_shot("damaged", Damaged(), unlocked=False))
    return shots


def _signing_shots() -> list[Shot]:
    """Signing a transfer (Ana signs), each screen in Spanish and in English."""
    places: list[tuple[str, Place]] = [
        ("user-menu", UserMenu("cred-1", cursor=1)),
        ("amount", EnterAmount("cred-1", "1250.5")),
        ("amount-refused", EnterAmount("cred-1", "1.23", refused=Msg.ERR_AMOUNT_DECIMALS)),
        ("payee", EnterPayee("cred-1", 125_000, "000543")),
        ("payee-refused", EnterPayee("cred-1", 125_000, "000543", refused=Msg.ERR_PAYEE_DIGITS)),
        ("confirm-transfer", ConfirmTransfer("cred-1", 125_000, "00054321")),
        ("response", ShowResponse("cred-1", 125_000, "00054321")),
    ]
    return [
        _shot(name + suffix, place, language=language)
        for name, place in places
        for suffix, language in (("", Language.ES), ("-en", Language.EN))
    ]


def _shot(
    name: str,
    place: Place,
    *,
    unlocked: bool = True,
    language: Language = Language.ES,
    data: TokenData = USERS,
    attempts: tuple[int, int] = (1, 1),
    clock_set: bool = True,
    config: TokenConfig | None = None,
) -> Shot:
    session = Session(
        language=language,
        device_id=DEVICE_ID,
        attempts_allowed=attempts[0],
        attempts_remaining=attempts[1],
        data=data if unlocked else None,
    )
    state = State(place=place, session=session, config=config or TokenConfig(version="0.1.0"))
    return Shot(name, place, render(state, NOW, clock_set=clock_set))


def write_pngs(out: Path, fonts: Fonts, *, scale: int = 1, prefix: str = "") -> list[Path]:
    """Render every screen of `gallery()` through `OledDisplay` and save it under `out`."""
    from device_firmware.pi.display import OledDisplay, dummy_device  # luma: only when drawing

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, screen in gallery():
        device = dummy_device()
        display = OledDisplay(device, fonts)
        display.show(screen)
        image = display.image
        if scale != 1:
            image = image.resize(
                (image.width * scale, image.height * scale), Image.Resampling.NEAREST
            )
        path = out / f"{prefix}{name}.png"
        image.save(path, optimize=True)
        written.append(path)
    return written


def renderer_facts(fonts: Fonts) -> dict[str, object]:
    """What the pixels depend on besides this code: Pillow's FreeType and the font files."""
    return {
        "freetype": features.version("freetype2"),
        "fonts": {
            name: hashlib.sha256((fonts.directory / name).read_bytes()).hexdigest()
            for name in FILES
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write the PNGs; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m device_firmware.pi.screens")
    parser.add_argument("outdir", type=Path, help="where to write the PNG files")
    parser.add_argument("--scale", type=int, default=1, help="enlarge each pixel N times")
    parser.add_argument("--prefix", default="", help="file name prefix, e.g. pi-")
    parser.add_argument("--font-dir", type=Path, default=Fonts().directory)
    parser.add_argument(
        "--record-renderer",
        action="store_true",
        help="also write RENDERER.json (FreeType version, font hashes), as golden images need",
    )
    args = parser.parse_args(argv)
    fonts = load_fonts(args.font_dir)
    written = write_pngs(args.outdir, fonts, scale=args.scale, prefix=args.prefix)
    if args.record_renderer:
        facts = json.dumps(renderer_facts(fonts), indent=2) + "\n"
        (args.outdir / RENDERER_FILE).write_text(facts)
    print(f"{len(written)} screens written to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
