"""The gate to money and experiments, for both SQL backends (owners and leases: ``leases.py``).

Each operation is one transaction. On PostgreSQL the run's row is locked (``FOR UPDATE``) while
it is decided on, and ``begin_send`` with a rule serializes on an advisory lock per experiment
so two writers never count the same budget room twice. On SQLite every write transaction is
``BEGIN IMMEDIATE``, which serializes all of them.
"""

from __future__ import annotations

from typing import Any

from ..._json import loads
from .kinds import STOPPED_CODE, ExperimentState, Owner, SendDecision, SendRule
from .leases import SqlLeases
from .rules import NO_CREDITS_REASON, RunFacts, Tally, Verdict, decide, tally
from .sql import MAYBE_IN_FLIGHT, SEND_LOCK


class SqlStore(SqlLeases):
    """A runs store over SQL: see :class:`~foxnb.runtime.store.base.RunStore`."""

    # ---- the gate to money ------------------------------------------------------------
    def begin_send(
        self,
        run_id: str,
        owner: Owner,
        now: float,
        fields: dict[str, Any],
        rule: SendRule | None = None,
    ) -> SendDecision:
        def work(conn: Any) -> SendDecision:
            if rule is not None:
                self._lock(conn, SEND_LOCK, rule.experiment)
            row = self._one(
                conn,
                "SELECT owner, lease_until, status, fields FROM runs "
                f"WHERE run_id = ?{self.FOR_UPDATE}",
                run_id,
            )
            if row is None:
                return SendDecision("lost", reason=f"no run {run_id!r} in {self.location}")
            current, lease_until, status, run_fields = row
            run = loads(run_fields)
            if current != str(owner) or lease_until is None or lease_until <= now:
                return SendDecision("lost", reason=f"{run_id} is not leased by {owner}", run=run)
            if status != "queued":
                return SendDecision("lost", reason=f"{run_id} is {status}, not queued", run=run)
            pricing = False
            if rule is not None:
                verdict = self._verdict(conn, rule, now, owner)
                if verdict.stop:
                    self._stop(conn, rule.experiment, verdict.reason or "", verdict.code)
                if verdict.action != "send":
                    return SendDecision(verdict.action, verdict.code, verdict.reason, run)
                pricing = verdict.pricing
            self._apply(conn, [{"run_id": run_id, "at": now, "status": "submitting", **fields}])
            if pricing:
                self._run(conn, "UPDATE runs SET pricing = ? WHERE run_id = ?", str(owner), run_id)
            sent = {**run, "at": now, "status": "submitting", **fields}
            return SendDecision("send", run=sent, pricing=pricing)

        decision: SendDecision = self._retrying(work)
        return decision

    def _verdict(self, conn: Any, rule: SendRule, now: float, owner: Owner) -> Verdict:
        budget, stopped, stop_code = self._experiment_row(conn, rule.experiment)
        if rule.budget_credits is not None:
            budget = rule.budget_credits
        # Without a budget only the creates in flight count: neither the price nor the rows
        # that cannot be in flight are read (a 10,000-cell sweep would otherwise read every
        # row of it for every create).
        spending = budget is not None
        price = self._price(conn, rule.experiment, rule.backend, rule.models) if spending else None
        counts = self._tally(conn, rule.experiment, rule.backend, now, price, owner, spending)
        return decide(rule, budget, price, stopped, stop_code, counts)

    def priced(self, run_id: str, credits: float | None) -> None:
        with self._tx() as conn:
            row = self._one(
                conn,
                "UPDATE runs SET pricing = NULL WHERE run_id = ? AND pricing IS NOT NULL "
                "RETURNING experiment",
                run_id,
            )
            if row is not None and row[0] is not None and credits is None:
                self._stop(conn, row[0], NO_CREDITS_REASON, "budget")

    # ---- experiments --------------------------------------------------------------------
    def stop_experiment(self, name: str, reason: str, code: str = STOPPED_CODE) -> None:
        with self._tx() as conn:
            # After any send being decided now (begin_send holds this lock until it commits):
            # once this commits, a run still queued is never sent, so it may be counted as
            # unsent. Without the lock PostgreSQL let a decision made just before the stop
            # commit just after it: a run counted as unsent was sent.
            self._lock(conn, SEND_LOCK, name)
            self._stop(conn, name, reason, code)

    def _stop(self, conn: Any, name: str, reason: str, code: str | None) -> None:
        self._run(
            conn,
            "INSERT INTO experiments (name, stopped, stop_code) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET stopped = excluded.stopped, "
            "stop_code = excluded.stop_code WHERE experiments.stopped IS NULL",
            name,
            reason,
            code or STOPPED_CODE,
        )

    def clear_stop(self, name: str) -> None:
        with self._tx() as conn:
            self._run(
                conn, "UPDATE experiments SET stopped = NULL, stop_code = NULL WHERE name = ?", name
            )

    def set_budget(self, name: str, budget_credits: float | None) -> None:
        with self._tx() as conn:
            self._run(
                conn,
                "INSERT INTO experiments (name, budget_credits) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET budget_credits = excluded.budget_credits",
                name,
                budget_credits,
            )

    def experiment(
        self,
        name: str,
        now: float,
        backend: str | None = None,
        models: frozenset[str] = frozenset(),
    ) -> ExperimentState:
        conn = self._conn()
        budget, stopped, stop_code = self._experiment_row(conn, name)
        price = self._price(conn, name, backend, models)
        counts = self._tally(conn, name, backend, now, price)
        return ExperimentState(
            name, budget, stopped, stop_code, counts.spent_credits, price, counts.in_flight
        )

    def _experiment_row(self, conn: Any, name: str) -> tuple[float | None, str | None, str | None]:
        row = self._one(
            conn, "SELECT budget_credits, stopped, stop_code FROM experiments WHERE name = ?", name
        )
        return (None, None, None) if row is None else (row[0], row[1], row[2])

    def _price(
        self, conn: Any, name: str, backend: str | None, models: frozenset[str]
    ) -> float | None:
        """The largest credits figure of a task of ``backend`` and one of ``models`` (the
        experiment's own models when empty), from any experiment."""
        if models:
            marks = ", ".join("?" * len(models))
            which, params = f"model IN ({marks})", tuple(sorted(models))
        else:
            which, params = "model IN (SELECT model FROM runs WHERE experiment = ?)", (name,)
        sql = f"SELECT max(credits) FROM runs WHERE {which} AND task_ids <> '[]'"
        if backend is not None:
            sql, params = sql + " AND backend = ?", (*params, backend)
        row = self._one(conn, sql, *params)
        return None if row is None or row[0] is None else float(row[0])

    def _tally(
        self,
        conn: Any,
        name: str,
        backend: str | None,
        now: float,
        price: float | None,
        asking: Owner | None = None,
        spending: bool = True,
    ) -> Tally:
        """The experiment's spent credits and creates in flight (``spending=False``: only the
        creates in flight are right; the rows that could not be in flight are not read)."""
        sql = (
            "SELECT status, owner, lease_until, pricing, task_ids <> '[]', reused, credits "
            "FROM runs WHERE experiment = ?"
        )
        params: tuple[Any, ...] = (name,)
        if backend is not None:
            sql, params = sql + " AND backend = ?", (name, backend)
        if not spending:
            sql += f" AND ({MAYBE_IN_FLIGHT})"
        facts = []
        for status, owner, lease_until, pricing, has_task, reused, credits in self._all(
            conn, sql, *params
        ):
            live = owner is not None and lease_until is not None and lease_until > now
            facts.append(
                RunFacts(
                    status=status,
                    lease_live=live,
                    pricing_live=live and pricing == owner,
                    has_task=bool(has_task),
                    reused=bool(reused),
                    credits=credits,
                    mine=asking is not None and owner == str(asking),
                )
            )
        return tally(facts, price)
