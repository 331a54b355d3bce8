"""The direction of imports (design.md §1), checked on the real import graph (grimp, the library
behind import-linter) and by importing in a clean interpreter:

- `consensus` imports nothing of ours, and neither Flask nor SQLAlchemy;
- `annotation` and `rewards` import nothing of `app` but the leaves every domain package stands
  on: the database leaf `app.extensions` and the people leaf `app.identity`;
- `annotation` never imports `rewards` (app → rewards → annotation → consensus);
- `rewards.chain` loads neither Flask nor SQLAlchemy (on main `import rewards.chain.merkle` loaded
  both, through rewards/__init__'s signal wiring);
- no two modules of ours import each other, directly or round a longer loop.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("app", "annotation", "consensus", "rewards")
LEAVES = ("app.extensions", "app.identity")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*OURS, include_external_packages=True, exclude_type_checking_imports=True,
                             cache_dir=None)


def _imports_of(graph, package: str) -> set[tuple[str, str]]:
    """(importer, imported) for every import made by a module of `package`."""
    pairs = set()
    for module in graph.find_descendants(package) | {package}:
        for imported in graph.find_modules_directly_imported_by(module):
            pairs.add((module, imported))
    return pairs


def _top(module: str) -> str:
    return module.split(".")[0]


def test_consensus_imports_nothing_of_ours_nor_the_web_or_the_database(graph):
    bad = {(a, b) for a, b in _imports_of(graph, "consensus")
           if _top(b) in {"app", "annotation", "rewards", "flask", "sqlalchemy", "flask_sqlalchemy"}}
    assert not bad, sorted(bad)


@pytest.mark.parametrize("package", ["annotation", "rewards"])
def test_domain_packages_import_only_the_leaves_of_app(graph, package):
    bad = {(a, b) for a, b in _imports_of(graph, package)
           if _top(b) == "app" and b != "app" and not b.startswith(tuple(f"{leaf}" for leaf in LEAVES))}
    assert not bad, sorted(bad)


def test_the_leaves_import_nothing_of_the_domains_or_the_web(graph):
    for leaf in LEAVES:
        bad = {(a, b) for a, b in _imports_of(graph, leaf)
               if _top(b) in {"annotation", "rewards", "consensus"}
               or (_top(b) == "app" and not b.startswith(LEAVES) and b != "app")}
        assert not bad, sorted(bad)


def test_annotation_never_imports_rewards(graph):
    bad = {(a, b) for a, b in _imports_of(graph, "annotation") if _top(b) == "rewards"}
    assert not bad, sorted(bad)


@pytest.mark.parametrize("module", ["rewards.chain.merkle", "rewards.chain.client", "rewards.chain.build",
                                    "consensus"])
def test_importing_it_loads_neither_flask_nor_sqlalchemy(module):
    code = (f"import sys, {module}\n"
            "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy', 'flask_sqlalchemy'})\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_import_cycles_between_our_modules(graph):
    modules = sorted(m for m in graph.modules if _top(m) in OURS)
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if _top(i) in OURS
                 and not m.startswith(i + ".")}  # a module importing its own package's __init__
             for m in modules}
    cycles = [scc for scc in _strongly_connected(modules, edges) if len(scc) > 1]
    assert not cycles, cycles


def _strongly_connected(nodes, edges):
    """Tarjan's algorithm, iteratively (no recursion limit on a big graph)."""
    index, low, on_stack, stack, result, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(sorted(component))
    return result
