"""tests/conftest.py: once_per_session (one computation in the session, its result for all),
and the order in which the workers are handed the tests (slow ones first)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import pytest_collection_modifyitems


@dataclass
class Item:
    name: str
    slow: bool

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "slow" and self.slow else None


def test_slow_tests_come_first_each_part_in_its_own_order():
    items = [Item("a", False), Item("b", True), Item("c", False), Item("d", True), Item("e", False)]
    pytest_collection_modifyitems(items)
    assert [item.name for item in items] == ["b", "d", "a", "c", "e"]


def test_this_session_hands_out_its_slow_tests_first(request):
    slow = [item.get_closest_marker("slow") is not None for item in request.session.items]
    if not any(slow):
        pytest.skip("no test marked slow is among those this run selected")
    assert slow == sorted(slow, reverse=True)


def test_the_first_asker_computes_and_a_later_one_reads_the_result(once_per_session):
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"runs": [1, 2]}

    assert once_per_session("test-once", compute) == {"runs": [1, 2]}
    # The second asker takes the path another xdist worker takes: the pickled result.
    assert once_per_session("test-once", compute) == {"runs": [1, 2]}
    assert calls == [1]


def test_a_failure_is_raised_once_and_told_to_every_later_asker(once_per_session):
    def fails() -> None:
        raise ValueError("sam is not there")

    with pytest.raises(ValueError, match="sam is not there"):
        once_per_session("test-once-fails", fails)
    with pytest.raises(pytest.fail.Exception, match="ValueError: sam is not there"):
        once_per_session("test-once-fails", fails)


def test_a_result_that_cannot_be_pickled_is_told_to_every_later_asker(once_per_session):
    def unpicklable():
        return lambda: None

    assert callable(once_per_session("test-once-unpicklable", unpicklable))
    with pytest.raises(pytest.fail.Exception, match="cannot be pickled"):
        once_per_session("test-once-unpicklable", unpicklable)
