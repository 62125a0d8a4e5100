"""Transitional: the customers' order of work is `service.py` now, like the other contexts'
(issue 19; docs/design.md §9). Modules written before the rename import these names from
here until their own changes are committed; nothing new imports this module, and it goes
then."""

from server.domain.customers.rules import normalise_username as normalise_username
from server.domain.customers.service import CustomerService as CustomerService
from server.domain.customers.service import PasswordPolicy as PasswordPolicy
from server.domain.customers.service import Passwords as Passwords
