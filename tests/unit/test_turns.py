"""Turn-taking: a busy engine thread sleeps briefly every ``busy_s`` so a waiting thread can take
the GIL, and never pauses when its loop had to wait anyway."""

from __future__ import annotations

import asyncio
import socket
import threading

from foxnb._turns import Turns, TurnTakingSelector, take_turn, turn_taking_loop


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_thread_pauses_once_it_has_run_for_busy_s() -> None:
    t = FakeTime()
    turns = Turns(busy_s=0.001, pause_s=0.0003, clock=t.clock, sleep=t.sleep)
    t.now += 0.0009
    turns.take_turn()
    assert t.sleeps == []
    t.now += 0.0002  # 1.1 ms of running since the start
    turns.take_turn()
    assert t.sleeps == [0.0003]
    t.now += 0.0005  # a new turn started after the pause
    turns.take_turn()
    assert t.sleeps == [0.0003]


def test_a_thread_that_waited_starts_a_new_turn() -> None:
    t = FakeTime()
    turns = Turns(busy_s=0.001, pause_s=0.0003, clock=t.clock, sleep=t.sleep)
    t.now += 0.0008
    turns.waited()  # e.g. its loop blocked on the sockets
    t.now += 0.0008
    turns.take_turn()
    assert t.sleeps == []


def test_the_selector_takes_a_turn_and_a_look_that_blocked_resets_it() -> None:
    t = FakeTime()
    turns = Turns(busy_s=0.001, pause_s=0.0003, clock=t.clock, sleep=t.sleep)
    selector = TurnTakingSelector(turns)
    left, right = socket.socketpair()
    try:
        selector.register(left, 1)  # EVENT_READ
        t.now += 0.002
        assert selector.select(0) == []  # busy for 2 ms: it paused first, then looked
        assert t.sleeps == [0.0003]
        t.now += 0.0008
        assert selector.select(0.01) == []  # nothing to read: it blocked 10 ms, a new turn
        t.now += 0.0008  # 1.6 ms since the pause, 0.8 ms since the look that blocked
        turns.take_turn()
        assert t.sleeps == [0.0003]
        right.send(b"x")
        assert [key.fileobj for key, _ in selector.select(1)] == [left]
    finally:
        selector.close()
        left.close()
        right.close()


def test_take_turn_does_nothing_off_a_turn_taking_thread() -> None:
    took: list[bool] = []

    def elsewhere() -> None:
        take_turn()  # no loop of foxnb's made here: nothing to do, nothing raised
        took.append(True)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert took == [True]


def test_a_turn_taking_loop_runs_coroutines_over_real_sockets() -> None:
    result: list[bytes] = []

    def engine() -> None:
        loop = turn_taking_loop()
        try:

            async def roundtrip() -> bytes:
                server = await asyncio.start_server(echo, "127.0.0.1", 0)
                port = server.sockets[0].getsockname()[1]
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"ping\n")
                line = await reader.readline()
                writer.close()
                server.close()
                return line

            async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(await reader.readline())
                await writer.drain()
                writer.close()

            result.append(loop.run_until_complete(roundtrip()))
        finally:
            loop.close()

    thread = threading.Thread(target=engine)
    thread.start()
    thread.join(10)
    assert result == [b"ping\n"]
