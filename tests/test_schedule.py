"""The workers' test order (tests/fixtures/schedule.py): the long tests head the worksteal slices,
balanced, and nothing is lost or run twice."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fixtures.schedule import _slice_sizes, longest_first


@dataclass(frozen=True)
class Item:
    nodeid: str


def test_slices_are_cut_as_worksteal_cuts_them():
    assert _slice_sizes(1454, 3) == [484, 485, 485]
    assert _slice_sizes(10, 4) == [2, 2, 3, 3]


def test_long_tests_head_the_least_loaded_slices_and_every_test_stays():
    items = [Item(f"t{i}") for i in range(12)]
    known = {"t3": 100.0, "t7": 60.0, "t8": 50.0, "t11": 20.0}
    ordered = longest_first(items, 3, known)
    assert sorted(ordered, key=lambda it: int(it.nodeid[1:])) == items  # same tests, each once
    slices = [ordered[0:4], ordered[4:8], ordered[8:12]]
    # 100 | 60 | 50 then 20 joins the lightest (50); the short ones keep collection order
    assert [s[0].nodeid for s in slices] == ["t3", "t7", "t8"]
    assert slices[2][1].nodeid == "t11"
    assert [it.nodeid for it in slices[0][1:]] == ["t0", "t1", "t2"]


def test_without_workers_the_order_is_untouched():
    items = [Item(f"t{i}") for i in range(5)]
    assert longest_first(items, 0, {"t4": 9.0}) == items
    assert longest_first(items, 1, {"t4": 9.0}) == items
