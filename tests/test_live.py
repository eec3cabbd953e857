"""KernelWatch on its own: reads follow activity, at most once per interval, never idle."""

import threading
import time

from labsteps.talk.live import KernelWatch


class Lab:
    """A stand-in for a lab host's state: what read() returns and how often it is read."""

    def __init__(self):
        self.state, self.reads, self.told = 0, [], []

    def read(self, name: str) -> dict:
        state = self.state  # as it was when the read began
        self.reads.append(time.monotonic())
        return {"state": state}

    def announce(self, name: str, message: dict) -> None:
        self.told.append(message)


def until(done, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_flood_of_activity_reads_at_most_once_per_interval():
    lab = Lab()
    watch = KernelWatch(lab.read, lab.announce, every=0.2, settle=0.01)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        lab.state += 1
        watch.poke("anna")
        time.sleep(0.001)
    # Every read in the flood found something new; the one after it looks once more and
    # finds nothing, and the watch rests.
    until(lambda: len(lab.reads) == len(lab.told) + 1)
    time.sleep(0.5)
    gaps = [b - a for a, b in zip(lab.reads, lab.reads[1:])]
    assert 4 <= len(lab.reads) <= 8 and min(gaps) >= 0.19, gaps
    assert [m["version"] for m in lab.told] == list(range(1, len(lab.reads)))
    watch.stop()


def test_a_change_that_finishes_after_the_read_is_seen_by_a_second_look():
    """A job prints "[1] 42" before it has exec'd its program, and nothing after: the read
    the output asked for sees the half-made change; one more read, a moment later, sees it
    whole, and then the watch rests."""
    lab = Lab()
    watch = KernelWatch(lab.read, lab.announce, every=1.0, settle=0.01)
    watch.poke("anna")
    until(lambda: len(lab.told) == 1)  # the read the output asked for, done
    lab.state = 1  # the job execs its program, printing nothing
    until(lambda: len(lab.told) == 2)
    assert lab.told[-1] == {"type": "kernel", "version": 2}
    assert watch.model("anna") == (2, {"state": 1})
    until(lambda: len(lab.reads) == 3)  # the look after that finds nothing new
    assert len(lab.told) == 2
    time.sleep(1.5)
    assert len(lab.reads) == 3  # and then no more reads
    watch.stop()


def test_a_look_again_does_not_hold_up_the_next_commands_read():
    lab = Lab()
    watch = KernelWatch(lab.read, lab.announce, every=1.0, settle=0.01)
    watch.poke("anna")  # a command
    until(lambda: len(lab.reads) == 2)  # its read, and the look a second later
    time.sleep(0.3)
    lab.state = 1
    asked = time.monotonic()
    watch.poke("anna")  # the next command, 1.3 s after the first
    until(lambda: len(lab.told) == 2)
    # read within the settle time, not a second after the look (the first read was over a
    # second ago)
    assert lab.reads[-1] - asked < 0.5, lab.reads[-1] - asked
    watch.stop()


def test_no_activity_no_reads_and_the_same_answer():
    lab = Lab()
    watch = KernelWatch(lab.read, lab.announce, every=0.05, settle=0.01)
    assert watch.model("anna") == (1, {"state": 0})
    time.sleep(0.3)
    assert watch.model("anna") == (1, {"state": 0}) and len(lab.reads) == 1
    lab.state = 1
    watch.poke("anna")
    assert watch.model("anna") == (2, {"state": 1})  # activity: the next ask reads anew
    until(lambda: len(lab.reads) == 3)  # the poke's own read found it fresh, and looked
    assert len(lab.reads) == 3 and len(lab.told) == 2  # once more after it
    time.sleep(0.2)
    assert len(lab.reads) == 3
    watch.stop()


def test_a_lab_host_nobody_looks_at_is_read_only_when_asked():
    lab = Lab()
    watch = KernelWatch(lab.read, lab.announce, wanted=lambda name: False, every=0.05,
                        settle=0.01)
    for _ in range(5):
        watch.poke("anna")
        time.sleep(0.06)
    assert lab.reads == []
    assert watch.model("anna")[1] == {"state": 0} and len(lab.reads) == 1
    watch.stop()


def test_a_new_lab_host_of_the_same_name_is_read_afresh_and_versions_only_grow():
    lab, who = Lab(), ["first"]
    watch = KernelWatch(lab.read, lab.announce, identity=lambda name: who[0])
    assert watch.model("anna")[0] == 1
    who[0] = "second"  # a reset made another lab host
    lab.state = 9
    assert watch.model("anna") == (2, {"state": 9})
    watch.stop()


def test_two_asking_at_once_share_one_read():
    lab = Lab()
    slow = threading.Event()

    def read(name):
        slow.wait(1)
        return lab.read(name)

    watch = KernelWatch(read, lab.announce)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(watch.model("anna")))
               for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    slow.set()
    for t in threads:
        t.join()
    assert len(lab.reads) == 1 and len(set(map(str, answers))) == 1
    watch.stop()


def test_a_room_asking_for_the_latest_model_makes_no_read_each():
    lab = Lab()
    watch = KernelWatch(lab.read, lab.announce, every=10, settle=0.01)
    assert watch.latest("trainer") == (1, {"state": 0})  # none yet: read once
    lab.state = 1
    watch.poke("trainer")  # activity, whose read is not due for a while
    assert [watch.latest("trainer") for _ in range(100)] == [(1, {"state": 0})] * 100
    assert len(lab.reads) == 1  # the version the room was told of, without 100 reads
    watch.stop()
