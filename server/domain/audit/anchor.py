"""The audit chain's anchor outside the database: an append-only file of the HSM's seals.

The chain and its head live in the database, so whoever can write it can delete the newest
events and put back an older head row whose seal is genuine (the HSM made it, earlier):
the chain then verifies. Every seal this process commits is also appended to the anchor
file, one JSON line `{"seq", "hash", "mac", "key_version"}`, after the transaction commits
(a rolled-back seal is never anchored). `AuditLog.verify` reads the newest line whose MAC
is the HSM's and reports a database whose head is older, or whose event at that seq has
another hash: a rollback or a rewrite.

The file is opened `O_APPEND`, created 0600. It protects as far as it is out of the
attacker's reach: make it append-only (`chattr +a`, which even its owner cannot undo) or
ship its lines to a remote log as they are written (docs/design.md §4, "Audit anchor").
Each server process keeps its own file; `otp-admin audit verify --anchor FILE` takes one
or several.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from server.domain.audit.rules import Anchor

FILE_MODE = 0o600


class AnchorFile:
    """An append-only file of sealed heads.

    Args:
        path: the file (its directory is made if missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, anchor: Anchor) -> None:
        """Add one line (a single `write` of a whole line, with `O_APPEND`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "seq": anchor.seq,
                "hash": anchor.hash,
                "mac": anchor.mac,
                "key_version": anchor.key_version,
            }
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def anchors(self) -> list[Anchor]:
        """Every well-formed line, oldest first (a line cut by a crash is skipped)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            try:
                raw = json.loads(line)
                found.append(
                    Anchor(
                        int(raw["seq"]), str(raw["hash"]), str(raw["mac"]), int(raw["key_version"])
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
        return found
