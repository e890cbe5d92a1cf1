"""When the console must ask for the word LIVE, and which word it may reuse (Qt-free).

The trade services check the word on every live call; this only decides whether the window asks
the trader again or passes the word typed earlier this session. Actions that only take risk off
(cancels, cancel all) reuse it; anything that can add risk (a replace, sending a run) asks again.
"""

from __future__ import annotations

from services.domain import TradeMode, is_live_token


class LiveWord:
    def __init__(self, mode: TradeMode | str) -> None:
        self.is_live = TradeMode(mode) is TradeMode.LIVE
        self._token: str | None = None  # armed once the trader typed LIVE this session

    @property
    def token(self) -> str | None:
        return self._token

    def arm(self, token: str | None) -> bool:
        """Keep ``token`` for later actions when it is the word; True when it was."""
        if is_live_token(token):
            self._token = token
            return True
        return False

    def must_ask_before_preview(self) -> bool:
        """A live run can only be created with the word: the session's first live preview asks."""
        return self.is_live and not self._token

    def for_action(self, *, adds_risk: bool = False) -> tuple[bool, str | None]:
        """(ask the trader first, the token to pass): paper needs none; live reuses the armed
        word unless the action can add risk."""
        if not self.is_live:
            return False, None
        if self._token and not adds_risk:
            return False, self._token
        return True, None


def live_preview_subject(snapshot: str | None) -> list[tuple[str, str]]:
    """What the LIVE dialog before the session's first live preview confirms ((label, text)
    rows): the snapshot (``None``: none selected), and what a preview does with the word: it
    builds and stores a LIVE plan and sends nothing; sending adds risk, so Execute asks for the
    word again. The policy's words beside the policy, not composed in the window's slot."""
    return [("Snapshot", snapshot if snapshot is not None else "(none selected)"),
            ("Preview", "builds and stores a LIVE plan; nothing is sent (Execute asks for the word again)")]
