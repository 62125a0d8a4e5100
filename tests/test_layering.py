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


RULES_MAY_IMPORT = {
    "__future__",
    "collections.abc",
    "dataclasses",
    "enum",
    "hashlib",
    "hmac",
    "json",  # the audit chain's canonical text
    "math",
    "re",
    "typing",
    "server.db.models",  # the tables' enums and row types, no session
    "server.errors",  # the domain's errors, in words
    "server.domain.enrollment.device_id",  # the check digit and the key's device ID
    "server.domain.verification.transfers",  # a transfer's question: digits from digits
}
HSM_VALUES = {
    "Algorithm",
    "HsmError",
    "HsmStatus",
    "OcraSuite",
    "QuestionFormat",
    "WrappedSeed",
    "totp_counter",
}
"""What a rules module may take from `hsm`: value types (an OCRA suite is one: parsed text,
no secret), errors to tell apart, and the TOTP step (arithmetic); never a port, a session or
the module that opens one."""


def _rules_imports(path: Path) -> tuple[set[str], set[str]]:
    """The modules a rules module imports, and the names it takes from `hsm`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules, from_hsm = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if module == "hsm":
                from_hsm.update(alias.name for alias in node.names)
            elif node.level == 0 and ROOT.joinpath(*module.split(".")).is_dir():
                # `from server.domain.enrollment import device_id`: modules of a package
                modules.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                modules.add(module)
    return modules, from_hsm


def test_rules_modules_import_only_values_and_other_rules() -> None:
    """Every context's `rules.py` imports only the standard library's pure modules, the
    domain's value types and errors, and other contexts' rules: no store, service, HTTP,
    database session, HSM port, mail, clock or randomness (docs/design.md §4)."""
    offences = {}
    rules = sorted((ROOT / "server" / "domain").rglob("rules.py"))
    for path in rules:
        modules, from_hsm = _rules_imports(path)
        bad = sorted(m for m in modules if m not in RULES_MAY_IMPORT and not m.endswith(".rules"))
        bad += sorted(f"hsm.{name}" for name in from_hsm - HSM_VALUES)
        if bad:
            offences[str(path.relative_to(ROOT))] = bad
    assert offences == {}
    assert {p.parent.name for p in rules} >= {
        "verification",
        "enrollment",
        "customers",
        "credentials",
        "audit",
        "keys",
    }


HTTP_EDGES = {"controllers.py", "endpoint.py"}
"""The domain's modules that speak HTTP; everything else in `server/domain` is behind them."""


def test_the_domain_behind_the_http_edge_imports_none_of_it() -> None:
    """Rules, stores and services hold no HTTP: they import neither Litestar nor a
    controller, and a store imports no service (docs/design.md §1)."""
    offences = {}
    for path in sorted((ROOT / "server" / "domain").rglob("*.py")):
        if path.name in HTTP_EDGES:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        bad = {n for n in names if n.split(".")[0] == "litestar" or n.endswith(".controllers")}
        if path.name == "store.py":
            bad |= {n for n in names if n.endswith((".service", ".services"))}
        if bad:
            offences[str(path.relative_to(ROOT))] = sorted(bad)
    assert offences == {}
