"""SweepGate on its own event loop: turns, budgets and stops, without HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from foxnb.errors import InsufficientCreditsError
from foxnb.runtime.gate import SweepGate


async def cell(gate: SweepGate, price: float | None, log: list[str]) -> str:
    """One cell: ask, "send" (one loop turn), report the answer."""
    refusal = await gate.admit()
    if refusal is not None:
        return refusal[0]
    log.append("sent")
    await asyncio.sleep(0)
    if gate.settle(created=True, credits=price, error=None):
        await asyncio.sleep(0)
        gate.priced(100.0)
    return "sent"


def run_cells(gate: SweepGate, n: int, price: float | None = 100.0) -> tuple[Counter[str], int]:
    """Run ``n`` cells at once; returns their outcomes and how often the gate was consulted."""
    calls = 0
    try_admit = gate._try_admit

    def counted() -> tuple[str, str] | str | None:
        nonlocal calls
        calls += 1
        return try_admit()

    gate._try_admit = counted  # type: ignore[method-assign]

    async def main() -> list[str]:
        log: list[str] = []
        return list(await asyncio.gather(*(cell(gate, price, log) for _ in range(n))))

    return Counter(asyncio.run(main())), calls


def test_many_waiting_cells_are_woken_a_few_at_a_time() -> None:
    """1,000 cells, 4 out at once: the gate is asked a few times per cell, not n² times."""
    outcomes, calls = run_cells(SweepGate("big"), 1000)
    assert outcomes == {"sent": 1000}
    assert calls <= 5 * 1000, calls  # waking every waiter on each answer: ~250,000


def test_budget_with_a_known_price_sends_what_fits_and_refuses_the_rest() -> None:
    gate = SweepGate("b", budget_credits=350, price_credits=100)
    outcomes, _ = run_cells(gate, 10)
    assert outcomes == {"sent": 3, "budget": 7}
    assert gate.spent_credits == 300 and gate.stop_code == "budget"


def test_unknown_price_sends_one_probe_first() -> None:
    """No price yet: one cell goes alone; its price decides how many follow."""
    gate = SweepGate("p", budget_credits=250)
    outcomes, _ = run_cells(gate, 6, price=None)
    assert outcomes == {"sent": 2, "budget": 4}
    assert gate.price_credits == 100


def test_a_402_stops_every_waiting_cell() -> None:
    gate = SweepGate("s", max_in_flight=1)

    async def main() -> list[str]:
        async def first() -> str:
            assert await gate.admit() is None
            await asyncio.sleep(0)
            gate.settle(
                created=False,
                credits=None,
                error=InsufficientCreditsError("no money", status_code=402),
            )
            return "402"

        async def later() -> str:
            refusal = await gate.admit()
            return "sent" if refusal is None else refusal[0]

        return list(await asyncio.gather(first(), *(later() for _ in range(5))))

    assert Counter(asyncio.run(main())) == {"402": 1, "sweep_stopped": 5}
    assert gate.stopped is not None and "InsufficientCreditsError" in gate.stopped


@pytest.mark.parametrize("waiting", [1, 10])
def test_stop_from_another_thread_refuses_the_waiting_cells(waiting: int) -> None:
    gate = SweepGate("t", max_in_flight=1)

    async def main() -> list[str]:
        assert await gate.admit() is None  # one out, the rest must wait
        waiters = [asyncio.ensure_future(gate.admit()) for _ in range(waiting)]
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, gate.stop, "you called stop_submitting()")
        return [r[0] if r else "sent" for r in await asyncio.gather(*waiters)]

    assert asyncio.run(main()) == ["sweep_stopped"] * waiting
