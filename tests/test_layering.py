"""Imports point one way (STYLE.md): core ← adapters, hsm ← server, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RULES = {
    "hsm": {"litestar", "sqlmodel", "sqlalchemy", "server", "device_firmware", "softhsm_config"},
    "server": {"device_firmware", "pkcs11"},
    "softhsm_config": {"server", "device_firmware", "pkcs11"},
    "device_firmware/core": {
        "gpiozero",
        "luma",
        "httpx",
        "requests",
        "litestar",
        "sqlmodel",
        "pkcs11",
        "server",
        "hsm",
        "time",
        "datetime",
    },
}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_does_not_import_forbidden_layers(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    if package != "device_firmware/core":
        assert files, f"{package} has no code"
    offences = {
        str(f.relative_to(ROOT)): sorted(_imported_roots(f) & RULES[package]) for f in files
    }
    assert {k: v for k, v in offences.items() if v} == {}


def test_only_hsm_imports_pkcs11() -> None:
    users = {
        str(f.relative_to(ROOT))
        for package in ("server", "device_firmware", "softhsm_config", "benchmarks")
        for f in (ROOT / package).rglob("*.py")
        if "pkcs11" in _imported_roots(f)
    }
    assert users == set()


def _imported_names(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


def test_the_server_domain_depends_on_the_hsm_port_not_the_class() -> None:
    """Only the edges that open an HSM (the app factory, the officer's tool, the demo)
    name the concrete `Hsm`; the domain asks for `hsm.port`'s Protocols."""
    users = {
        str(f.relative_to(ROOT))
        for f in (ROOT / "server" / "domain").rglob("*.py")
        if "Hsm" in _imported_names(f, "hsm")
    }
    assert users == set()


RULES_MAY_NOT_IMPORT = ("sqlalchemy", "sqlmodel", "litestar", "structlog", "anyio", "httpx")


def test_rules_modules_are_pure() -> None:
    """A context's `rules.py` does no I/O: no database, HTTP, logging or thread library,
    and nothing of its context's store or service."""
    offences = {}
    for path in (ROOT / "server" / "domain").rglob("rules.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        bad = sorted(
            n
            for n in names
            if n.split(".")[0] in RULES_MAY_NOT_IMPORT
            or n.endswith((".store", ".service", ".services", ".controllers"))
        )
        if bad:
            offences[str(path.relative_to(ROOT))] = bad
    assert offences == {}
    assert list((ROOT / "server" / "domain").rglob("rules.py")), "no rules module"
