"""The writer's subscriber lists (services/execution/writer/subscribers.py): each callback told
in turn, one that raises logged and never stopping the others, unsubscribing harmless twice."""

from __future__ import annotations

import logging

from services.execution.writer.subscribers import Subscribers


def test_a_failing_subscriber_is_logged_and_the_others_are_still_told(caplog):
    subscribers: Subscribers[int] = Subscribers("example")
    told: list[tuple[str, int]] = []

    def failing(value: int) -> None:
        raise RuntimeError("boom")

    subscribers.add(lambda v: told.append(("first", v)))
    subscribers.add(failing)
    subscribers.add(lambda v: told.append(("last", v)))
    with caplog.at_level(logging.ERROR):
        subscribers.tell(7)
    assert told == [("first", 7), ("last", 7)]
    assert "example subscriber failed" in caplog.text


def test_unsubscribing_stops_the_telling_and_is_harmless_twice():
    subscribers: Subscribers[str] = Subscribers("example")
    told: list[str] = []
    unsubscribe = subscribers.add(told.append)
    assert subscribers
    subscribers.tell("a")
    unsubscribe()
    unsubscribe()
    subscribers.tell("b")
    assert told == ["a"] and not subscribers


def test_a_subscriber_may_unsubscribe_itself_while_told():
    subscribers: Subscribers[int] = Subscribers("example")
    told: list[str] = []
    unsubscribe = None

    def once(_value: int) -> None:
        told.append("once")
        assert unsubscribe is not None
        unsubscribe()

    unsubscribe = subscribers.add(once)
    subscribers.add(lambda _v: told.append("other"))
    subscribers.tell(1)
    subscribers.tell(2)
    assert told == ["once", "other", "other"]
