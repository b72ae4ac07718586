"""What ``fx.chain(...)`` was asked to do, checked, and kept in ``<workdir>/chains/`` for resume.

A chain's runs are in the ledger like any other (``experiment`` = the chain's name, ``hop``,
``candidate``, from 1); what is not a run — the prompts still to come, the seed, ``best_of``, the
pick rule and the budget — is written to ``chains/<name>.json`` before the first hop is
recorded, with the chain's state (``running``, ``done``, ``stopped``). ``fx.resume()``
continues every chain whose file still says ``running``: the process that drove it died.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .._files import AtomicWriter
from .._inputs import parse_tags, reject_unknown, source
from ..errors import ValidationError
from ..models import REQUEST_FIELDS
from .choose import check_pick

SPEC_FORMAT = "foxnb-chain/1"
MAX_BEST_OF = 8
CHAIN_OPTIONS = tuple(f for f in REQUEST_FIELDS if f != "seed")
"""The request fields a chain passes to every hop's runs (``seed`` is the chain's own)."""


@dataclass(frozen=True)
class ChainSpec:
    """A checked ``fx.chain(...)`` call; ``fields`` are the other request fields of every run."""

    name: str
    video: str
    prompts: tuple[str, ...]
    seed: int
    best_of: int
    pick: str
    budget_credits: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    state: str = "running"
    reason: str | None = None
    updated_at: float = 0.0

    def seeds(self) -> list[int]:
        """The seeds of one hop's candidates: ``seed``, ``seed + 1``, …"""
        return [self.seed + i for i in range(self.best_of)]

    def to_json(self) -> dict[str, Any]:
        return {"format": SPEC_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChainSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["prompts"] = tuple(known.get("prompts") or ())
        known["tags"] = tuple(known.get("tags") or ())
        return cls(**known)


def make_spec(
    video: object,
    *,
    name: str | None,
    prompts: object,
    seed: object,
    best_of: object,
    pick: object,
    budget_credits: object,
    tags: object,
    fields: dict[str, Any],
) -> ChainSpec:
    """Check every argument of ``fx.chain`` (each error names its argument)."""
    if not isinstance(video, str | Path) or not str(video).strip():
        raise ValidationError("video", "must be a local video file or an http(s) URL")
    video_source = source(video)
    if name is None:
        name = f"chain-{Path(video_source).stem or 'video'}"
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "must be a non-empty text naming the chain")
    if isinstance(prompts, str) or not isinstance(prompts, list | tuple) or not prompts:
        raise ValidationError("prompts", "must be a list of texts, one per hop")
    if not all(isinstance(p, str) for p in prompts):
        raise ValidationError("prompts", "must be a list of texts, one per hop")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed", f"must be a non-negative integer, got {seed!r}")
    if isinstance(best_of, bool) or not isinstance(best_of, int) or not 1 <= best_of <= MAX_BEST_OF:
        raise ValidationError(
            "best_of", f"must be an integer from 1 to {MAX_BEST_OF}, got {best_of!r}"
        )
    budget_ok = isinstance(budget_credits, int | float) and not isinstance(budget_credits, bool)
    if budget_credits is not None and not (budget_ok and budget_credits > 0):  # type: ignore[operator]
        raise ValidationError(
            "budget_credits",
            f"must be a positive number of credits or None, got {budget_credits!r}",
        )
    reject_unknown(fields, CHAIN_OPTIONS, "an option of chain()")
    return ChainSpec(
        name=name,
        video=video_source,
        prompts=tuple(prompts),
        seed=seed,
        best_of=best_of,
        pick=check_pick(pick),
        budget_credits=None if budget_credits is None else float(budget_credits),  # type: ignore[arg-type]
        fields=dict(fields),
        tags=tuple(parse_tags(tags)),
        updated_at=time.time(),
    )


def spec_path(workdir: Path, name: str) -> Path:
    """``<workdir>/chains/<name>.json``, with a file-safe name (and a hash keeping it unique)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60].strip("._") or "chain"
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return workdir / "chains" / f"{safe}-{digest}.json"


def save_spec(workdir: Path, spec: ChainSpec) -> ChainSpec:
    """Write ``spec`` (stamped with the time) atomically; returns what was written."""
    spec = replace(spec, updated_at=time.time())
    data = json.dumps(spec.to_json(), indent=1, ensure_ascii=False).encode()
    with AtomicWriter(spec_path(workdir, spec.name)) as out:
        out.write(data)
        out.commit()
    return spec


def load_specs(workdir: Path) -> list[ChainSpec]:
    """Every chain spec in ``workdir/chains`` (unreadable files are skipped), oldest first."""
    specs = []
    for path in sorted((workdir / "chains").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == SPEC_FORMAT:
                specs.append(ChainSpec.from_json(data))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(specs, key=lambda spec: spec.updated_at)
