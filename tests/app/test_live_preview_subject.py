"""The LIVE dialog before the session's first live preview: the window asks it in the words of
services.live_word.live_preview_subject (what the preview does with the word), not words its
slot composed. The real window offscreen, its live word made LIVE; the dialog's answer is
recorded and declined, so nothing is previewed."""

from __future__ import annotations

from services.domain import TradeMode
from services.live_word import LiveWord, live_preview_subject
from tests.app.conftest import run


def test_the_first_live_preview_asks_for_the_word_in_the_service_s_words(qloop, open_console, monkeypatch):
    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            ctx = controller.ctx
            ctx.live_word = LiveWord(TradeMode.LIVE)  # no word typed yet this session
            asked = []

            def declined(title, *_figures, subject=None, **_rest):
                asked.append((title, subject))
                return None

            monkeypatch.setattr(ctx, "ask_live_token", declined)
            item = w.snapshots_view.tree.currentItem()
            assert item is not None, "the demo's snapshot, selected"
            w.preview_view.preview_button.click()
            [(title, subject)] = asked
            assert title == "Preview a LIVE run"
            assert subject == live_preview_subject(item.text(0))
            assert subject[0] == ("Snapshot", item.text(0))
            assert "Preview" not in controller.runner.running() and controller.current_preview is None  # declined
        finally:
            await console.close()

    run(qloop, scenario())
