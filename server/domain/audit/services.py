"""Transitional: the audit chain is `rules.py`, `store.py` and `service.py` now (issue 19;
docs/design.md §4). Modules written before the split import these names from here until
their own changes are committed; nothing new imports this module, and it goes then."""

from server.domain.audit.rules import FIELDS as FIELDS
from server.domain.audit.rules import GENESIS as GENESIS
from server.domain.audit.rules import AuditRecord as AuditRecord
from server.domain.audit.rules import AuditReport as AuditReport
from server.domain.audit.rules import canonical as canonical
from server.domain.audit.rules import event_hash as event_hash
from server.domain.audit.rules import seal_message as seal_message
from server.domain.audit.service import AuditLog as AuditLog
