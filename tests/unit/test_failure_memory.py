"""The memory of segments that could not be made: recalled until its time is up, and
never more than its size, whatever is asked."""

from __future__ import annotations

from mediaserver.streaming.failures import FailureMemory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_is_recalled_until_its_time_is_up() -> None:
    clock = Clock()
    memory = FailureMemory(ttl_s=300, clock=clock)
    memory.remember("a" * 24, 3, "the video could not be converted")
    assert memory.recall("a" * 24, 3) == "the video could not be converted"
    assert memory.recall("a" * 24, 4) is None  # another segment
    assert memory.recall("b" * 24, 3) is None  # another stream
    clock.now += 299
    assert memory.recall("a" * 24, 3) is not None
    clock.now += 1
    assert memory.recall("a" * 24, 3) is None  # tried again: the file may be mended
    assert len(memory) == 0


def test_the_memory_keeps_only_the_newest_failures() -> None:
    memory = FailureMemory(size=3, clock=Clock())
    for index in range(10):
        memory.remember("c" * 24, index, f"failed at {index}")
    assert len(memory) == 3
    assert [memory.recall("c" * 24, n) for n in range(6, 10)] == [
        None,
        "failed at 7",
        "failed at 8",
        "failed at 9",
    ]
    memory.remember("c" * 24, 7, "failed again")  # remembered anew: the newest again
    memory.remember("d" * 24, 0, "another stream")
    assert memory.recall("c" * 24, 7) == "failed again"
    assert memory.recall("c" * 24, 8) is None
