"""The portal's message catalog: every key the pages and handlers use is in it, in both
languages, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from server.portal.i18n import LANGUAGES, MESSAGES

PORTAL = Path(__file__).resolve().parents[2] / "server" / "portal"
NAMESPACES = {key.split(".")[0] for key in MESSAGES}
_KEY = re.compile(r"""["']([a-z_]+(?:\.[a-z_0-9]+)+)["']""")


def _used_keys() -> set[str]:
    """Catalog keys named in the templates and the portal's Python: quoted dotted names in
    the catalog's namespaces (template names and files left out)."""
    sources = [*PORTAL.glob("templates/*.html"), *PORTAL.glob("*.py")]
    found = set()
    for path in sources:
        if path.name == "i18n.py":
            continue
        for key in _KEY.findall(path.read_text()):
            if key.split(".")[0] in NAMESPACES and not key.endswith((".html", ".js", ".css")):
                found.add(key)
    return found


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_in_use_is_in_the_catalog() -> None:
    used = _used_keys()
    assert len(used) > 50, "the scan found too few keys to mean anything"
    assert sorted(used - set(MESSAGES)) == []
    assert sorted(set(MESSAGES) - used) == [], "messages no page says"


def test_both_languages_say_every_message_with_the_same_placeholders() -> None:
    for key, texts in MESSAGES.items():
        assert len(texts) == len(LANGUAGES), key
        assert all(text.strip() for text in texts), key
        assert _placeholders(texts[0]) == _placeholders(texts[1]), key
