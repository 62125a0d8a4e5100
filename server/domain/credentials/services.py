"""Transitional: the credentials are `rules.py`, `store.py` and `service.py` now, like the
other contexts (issue 19; docs/design.md §9). Modules written before the split import these
names from here until their own changes are committed; nothing new imports this module,
and it goes then."""

from server.domain.credentials.rules import SeedImport as SeedImport
from server.domain.credentials.service import CredentialService as CredentialService
