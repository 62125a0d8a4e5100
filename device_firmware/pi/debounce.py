"""From raw matrix scans to key presses: debounce, one event per press, held keys.

`KeyDebouncer.update(down, now)` takes the set of keys a scan read as closed and returns the
presses that scan completes. It is pure bookkeeping (time is passed in), so it is tested
without pins or sleeping:

- a contact counts only once it has read the same for `debounce` seconds: the bounces of a
  membrane switch (a few milliseconds of open/closed chatter) give one press, and a glitch
  shorter than `debounce` gives none;
- a press gives one event, however long the key is held; the next event needs a release;
- a key listed in `hold` gives its other key once held for `hold_time` (and nothing on
  release), or itself when released sooner: on a 4x3 keypad this stands in for A-D;
- two keys held together each give their event; a scan that reads more than `max_keys`
  keys is ignored, because on a matrix without diodes three keys in an L read as four (the
  "ghost" at the fourth corner) and a ghost must never become a digit of a PIN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from device_firmware.core.keys import Key

MAX_KEYS = 2


@dataclass
class _Contact:
    closed: bool  # what the last scan read
    since: float  # when it last changed
    pressed: bool = False  # the debounced state
    held_out: bool = False  # its hold key was given during this press


class KeyDebouncer:
    """Debounced key presses from raw scans.

    Args:
        debounce: seconds a contact must read the same before it counts.
        hold: keys that give another key when held (their own event comes on release).
        hold_time: seconds a key of `hold` must be held.
        max_keys: scans reading more keys than this are ignored (possible ghosts).
    """

    def __init__(
        self,
        *,
        debounce: float,
        hold: Mapping[Key, Key] | None = None,
        hold_time: float = 0.8,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._debounce = debounce
        self._hold = dict(hold or {})
        self._hold_time = hold_time
        self._max_keys = max_keys
        self._contacts: dict[Key, _Contact] = {}

    def update(self, down: frozenset[Key], now: float) -> list[Key]:
        """The key events completed by a scan at `now` that read `down` as closed."""
        if len(down) > self._max_keys:
            down = frozenset(k for k, c in self._contacts.items() if c.closed)
        for key in down | self._contacts.keys():
            contact = self._contacts.setdefault(key, _Contact(closed=False, since=now))
            closed = key in down
            if closed != contact.closed:
                contact.closed, contact.since = closed, now
        events: list[tuple[float, str, Key]] = []
        for key, contact in list(self._contacts.items()):
            for event in self._settle(key, contact, now):
                events.append((contact.since, key.value, event))
            if not contact.closed and not contact.pressed:
                del self._contacts[key]
        return [event for _, _, event in sorted(events)]

    def _settle(self, key: Key, contact: _Contact, now: float) -> list[Key]:
        steady = now - contact.since >= self._debounce
        if steady and contact.closed != contact.pressed:
            contact.pressed = contact.closed
            if contact.pressed:
                contact.held_out = False
                if key not in self._hold:
                    return [key]
            elif key in self._hold and not contact.held_out:
                return [key]  # released before the hold time: the key itself
        if (
            contact.pressed
            and contact.closed
            and key in self._hold
            and not contact.held_out
            and now - contact.since >= self._hold_time
        ):
            contact.held_out = True
            return [self._hold[key]]
        return []
