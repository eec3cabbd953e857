"""Turns on their own: first come first served, places told once per change, an error gives
the turn back, and nothing is left behind."""

from __future__ import annotations

import threading
import time

import pytest

from labsteps.talk.turns import Turns


class Told:
    """What the lab hosts' pages heard, per lab host, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_lab: dict[str, list[dict]] = {}

    def __call__(self, lab: str, message: dict) -> None:
        with self.lock:
            self.by_lab.setdefault(lab, []).append(message)

    def states(self, lab: str) -> list[tuple]:
        return [(m["state"], m.get("place")) for m in self.by_lab.get(lab, [])]


def until(predicate, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.005)


def queue_behind(turns: Turns, first: str, then: list[str]):
    """first holds the one turn there is; then queue behind it, one after another. Returns
    the order in which they got their turn (so far), the event that lets first go, and the
    threads to join."""
    order, release = [], threading.Event()

    def worker(lab: str) -> None:
        with turns.turn(lab, "run", "chroot"):
            order.append(lab)
            if lab == first:
                release.wait(5)

    threads = [threading.Thread(target=worker, args=(first,))]
    threads[0].start()
    until(lambda: order == [first])
    for i, lab in enumerate(then):
        threads.append(threading.Thread(target=worker, args=(lab,)))
        threads[-1].start()
        until(lambda n=i + 1: turns.waiting() == n)
    return order, release, threads


def test_first_come_first_served_and_each_hears_its_place():
    told = Told()
    turns = Turns(1, told)
    order, release, threads = queue_behind(turns, "a", ["b", "c", "d"])
    assert turns.state("b") == {"state": "queued", "place": 1, "what": "run", "step": "chroot"}
    assert turns.state("d")["place"] == 3
    release.set()
    for t in threads:
        t.join(5)
    assert order == ["a", "b", "c", "d"]
    assert told.states("a") == [("working", None), ("done", None)]
    assert told.states("b") == [("queued", 1), ("working", None), ("done", None)]
    # d moved up twice: one message for each place it had, none twice
    assert told.states("d") == [("queued", 3), ("queued", 2), ("queued", 1), ("working", None),
                                ("done", None)]
    assert turns.state("d") == {"state": "idle"}
    assert not turns._labs and not turns._told and not turns._queue and turns._busy == 0


def test_an_error_gives_the_turn_back():
    turns = Turns(1)
    with pytest.raises(RuntimeError):
        with turns.turn("a", "run", "chroot"):
            raise RuntimeError("the block failed")
    got = threading.Event()

    def second() -> None:
        with turns.turn("b", "run", "chroot"):
            got.set()

    threading.Thread(target=second).start()
    assert got.wait(2), "the turn was not given back"


def test_a_lab_host_shows_its_request_furthest_along_and_hears_done_once():
    told = Told()
    turns = Turns(2, told)
    with turns.turn("a", "run", "chroot") as work:
        work.report(block=1, blocks=2)
        work.report(block=1, blocks=2)  # no news: not said again
        with turns.turn("a", "check", "chroot"):
            assert turns.state("a") == {"state": "working", "what": "run", "step": "chroot",
                                        "block": 1, "blocks": 2}
    assert told.states("a") == [("working", None), ("working", None), ("done", None)]
    assert told.by_lab["a"][1] == {"type": "progress", "state": "working", "what": "run",
                                   "step": "chroot", "block": 1, "blocks": 2}


def test_many_at_once_keep_the_limit_and_leave_nothing():
    turns = Turns(4)
    now, most, lock = [0], [0], threading.Lock()

    def worker(i: int) -> None:
        with turns.turn(f"lab{i}", "run", "chroot"):
            with lock:
                now[0] += 1
                most[0] = max(most[0], now[0])
            time.sleep(0.002)
            with lock:
                now[0] -= 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 4
    assert not turns._labs and not turns._told and not turns._queue and turns._busy == 0


def test_the_trainers_request_goes_before_the_queue():
    told = Told()
    turns = Turns(1, told, ahead={"trainer"})
    order, release, threads = queue_behind(turns, "a", ["b", "c", "trainer"])
    assert turns.state("trainer")["place"] == 1
    assert [turns.state(lab)["place"] for lab in "bc"] == [2, 3]
    assert told.states("b") == [("queued", 1), ("queued", 2)]  # moved back: told once
    release.set()
    for t in threads:
        t.join(5)
    assert order == ["a", "trainer", "b", "c"]
