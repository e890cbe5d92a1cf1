"""Which of a panel's overlapping requests is the newest. The window's reads run in worker
threads (``ConsoleContext.db``), which finish in any order: a panel asked twice (a filter
changed, a refresh after an event, a timer) can get its first answer last, and that answer must
not replace the second one's on screen."""

from __future__ import annotations


class NewestAnswer:
    """``ticket = asked.ask()`` before the read; show its answer only ``if asked.is_newest(ticket)``.
    ``ask()`` without a read also makes the answers in flight old (the panel was cleared, or
    shows something newer than they can say)."""

    def __init__(self) -> None:
        self._asked = 0

    def ask(self) -> int:
        self._asked += 1
        return self._asked

    @property
    def latest(self) -> int:
        """The newest ticket given (0: none yet)."""
        return self._asked

    def is_newest(self, ticket: int) -> bool:
        return ticket == self._asked
