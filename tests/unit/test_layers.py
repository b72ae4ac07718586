"""The architecture holds: imports point one way down the layers, there is no cycle, and no
module reaches for another module's private names.

The layers, lowest first (docs/architecture.md draws them). A module may import its own
layer and the ones below; type-only imports (under ``if TYPE_CHECKING:``) create no runtime
dependency and are not counted. The only upward imports are the display hooks listed in
``DISPLAY_HOOKS``: a ``Job`` or ``Sweep`` displayed in a notebook draws itself with a widget.
The checker is tested on small synthetic packages too, so it is known to fail when a cycle,
an upward import or a private import comes back.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import foxnb

LAYERS: list[tuple[str, ...]] = [
    ("foxnb._version", "foxnb.errors", "foxnb._json"),
    ("foxnb._checks",),
    ("foxnb._answers",),
    ("foxnb.config", "foxnb.models"),
    ("foxnb._files", "foxnb.media", "foxnb.sample", "foxnb._frames", "foxnb._measures"),
    ("foxnb._video_serve",),
    ("foxnb._video_process", "foxnb._turns"),
    ("foxnb.scores", "foxnb._inputs"),
    ("foxnb._wire",),
    ("foxnb._http", "foxnb.client"),
    ("foxnb.runtime",),
    ("foxnb._html",),
    ("foxnb._frontend", "foxnb._serve"),
    ("foxnb.experiments",),
    ("foxnb.widgets",),
    ("foxnb.session", "foxnb._session_outcomes"),
    ("foxnb.cli", "foxnb.__main__", "foxnb"),
]
"""Lowest first. A package name covers every module under it."""

DISPLAY_HOOKS = {
    ("foxnb.runtime.jobs", "foxnb.widgets.display"),  # Job._ipython_display_
    ("foxnb.experiments.sweep", "foxnb.widgets.sweep_view"),  # Sweep._ipython_display_
    ("foxnb.experiments.chain", "foxnb.widgets.chain_view"),  # Chain._ipython_display_
    ("foxnb.runtime.jobs", "foxnb.widgets.waiting"),  # job.wait()'s progress line
    ("foxnb.experiments.sweep", "foxnb.widgets.waiting"),  # sweep.wait()'s progress line
}
"""The named upward imports: how a displayed object draws itself in a notebook, and the
progress line a blocking ``wait()`` draws."""

SIMULATOR = "foxnb.sim"
SIMULATOR_MAY_IMPORT = ("foxnb.sim", "foxnb.sample")
"""The simulator stands apart: it never imports the client or anything above it."""


@dataclass
class Graph:
    """A package's modules and the imports between them that run (not TYPE_CHECKING ones)."""

    modules: dict[str, Path]
    edges: dict[str, set[str]] = field(default_factory=dict)
    private: list[str] = field(default_factory=list)

    def nearest(self, dotted: str) -> str | None:
        """The module ``dotted`` names, or the closest package containing it, if it is ours."""
        while dotted:
            if dotted in self.modules:
                return dotted
            dotted = dotted.rpartition(".")[0]
        return None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def build_graph(root: Path) -> Graph:
    """Read every module under the package folder ``root`` (ASTs only, nothing imported)."""
    graph = Graph({module_name(root, p): p for p in sorted(root.rglob("*.py"))})
    for name, path in graph.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {
            id(node)
            for branch in ast.walk(tree)
            if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
            for node in ast.walk(branch)
        }
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = graph.nearest(alias.name)
                    if target:
                        graph.edges.setdefault(name, set()).add(target)
                        aliases[alias.asname or alias.name] = target
            elif isinstance(node, ast.ImportFrom):
                base = resolve(package, node.level, node.module)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in graph.modules:  # importing a module
                        graph.edges.setdefault(name, set()).add(full)
                        aliases[alias.asname or alias.name] = full
                        continue
                    target = graph.nearest(base)
                    if target:
                        graph.edges.setdefault(name, set()).add(target)
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            graph.private.append(f"{name} imports {alias.name} from {target}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and f"{aliases[node.value.id]}.{node.attr}" not in graph.modules
            ):
                graph.private.append(f"{name} uses {aliases[node.value.id]}.{node.attr}")
    return graph


def resolve(package: str, level: int, module: str | None) -> str:
    """The absolute name of a (possibly relative) ``from … import``'s module."""
    if level == 0:
        return module or ""
    parts = package.split(".")
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


def layer_of(module: str, layers: list[tuple[str, ...]]) -> int | None:
    """The index of the layer holding ``module`` (the most specific match), else None.

    A name covers its submodules too, except a top-level package name, which means only
    its ``__init__``.
    """
    best: tuple[int, int] | None = None
    for index, names in enumerate(layers):
        for name in names:
            covers = "." in name and module.startswith(name + ".")
            if module == name or covers:
                depth = name.count(".")
                if best is None or depth > best[1]:
                    best = (index, depth)
    return None if best is None else best[0]


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.edges.get(node, ())):
            if nxt == node:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph.modules):
        if node not in index:
            visit(node)
    return found


def upward(graph: Graph, layers: list[tuple[str, ...]], allowed: set[tuple[str, str]]) -> list[str]:
    """Imports from a lower layer into a higher one, other than ``allowed``."""
    problems = []
    for source, targets in graph.edges.items():
        low = layer_of(source, layers)
        for target in targets:
            high = layer_of(target, layers)
            if low is None or high is None:  # the simulator: checked on its own
                continue
            if high > low and (source, target) not in allowed:
                problems.append(f"{source} (layer {low}) imports {target} (layer {high})")
    return sorted(problems)


def unlayered(graph: Graph, layers: list[tuple[str, ...]], apart: str) -> list[str]:
    return sorted(
        m
        for m in graph.modules
        if layer_of(m, layers) is None and not (m == apart or m.startswith(apart + "."))
    )


ROOT = Path(foxnb.__file__).parent


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(ROOT)


def test_every_module_has_a_layer(graph: Graph) -> None:
    """A new module must be placed in a layer (or it could import anything)."""
    assert unlayered(graph, LAYERS, SIMULATOR) == []


def test_no_import_points_up_a_layer(graph: Graph) -> None:
    """Runtime imports go down (or sideways); the display hooks are the named exceptions."""
    assert upward(graph, LAYERS, DISPLAY_HOOKS) == []


def test_no_import_cycle(graph: Graph) -> None:
    """No group of modules imports each other, imports inside functions included."""
    assert cycles(graph) == []


def test_no_module_imports_another_modules_private_names(graph: Graph) -> None:
    """``from x import _name`` and ``x._name`` across modules are refused."""
    assert graph.private == []


def test_the_simulator_imports_only_itself(graph: Graph) -> None:
    """Third-party clients must work against the simulator unchanged: it is independent."""
    leaks = [
        f"{source} imports {target}"
        for source, targets in graph.edges.items()
        if source.startswith(SIMULATOR)
        for target in targets
        if not target.startswith(SIMULATOR_MAY_IMPORT)
    ]
    assert leaks == []


# -------------------------------------------------------------- the checker itself can fail


def write_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_finds_a_reintroduced_cycle(tmp_path: Path) -> None:
    """A cycle held open by an import inside a function is still a cycle."""
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "session.py": "from .sweep import run\n",
            "sweep.py": "def run():\n    from .session import connect\n",
        },
    )
    assert cycles(build_graph(root)) == [["pkg.session", "pkg.sweep"]]


def test_checker_finds_upward_and_private_imports(tmp_path: Path) -> None:
    """An upward import and a private name are reported; a TYPE_CHECKING import is not."""
    root = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": (
                "from typing import TYPE_CHECKING\nfrom .high import show\n"
                "if TYPE_CHECKING:\n    from .high import Thing\n"
            ),
            "high.py": "from . import low\nfrom .low import _secret\nlow._helper()\n",
        },
    )
    graph = build_graph(root)
    layers = [("pkg.low",), ("pkg.high", "pkg")]
    assert upward(graph, layers, set()) == ["pkg.low (layer 0) imports pkg.high (layer 1)"]
    assert sorted(graph.private) == [
        "pkg.high imports _secret from pkg.low",
        "pkg.high uses pkg.low._helper",
    ]
