"""The layering rules, read from the source: the kernel imports nothing else of the project, the simulator
only the kernel, the onboard package the simulator only in the commands that start it, and no module imports
itself back through others (imports inside functions count too: they hide cycles as well as any)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hsi_kernel", "hsi_sim", "hsi_robot_nodes", "hsi_offline")

ALLOWED = {
    "hsi_kernel": {"hsi_kernel"},
    "hsi_sim": {"hsi_kernel", "hsi_sim"},
    "hsi_robot_nodes": {"hsi_kernel", "hsi_robot_nodes"},
    "hsi_offline": set(PACKAGES),
}
# the onboard commands that start the simulated robot (hsi-robot sim / demo / bringup --sim / bench)
STARTS_SIM = (
    "hsi_robot_nodes.cli",
    "hsi_robot_nodes.demo",
    "hsi_robot_nodes.bringup",
    "hsi_robot_nodes.bench",
)


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = p.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = p
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports (anywhere in the file), resolved to the most specific known module."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {n: imports_of(n, p, known) for n, p in known.items()}


def test_layers() -> None:
    bad = []
    for mod, deps in graph().items():
        top = mod.split(".")[0]
        for d in deps:
            dtop = d.split(".")[0]
            if dtop in ALLOWED[top]:
                continue
            if top == "hsi_robot_nodes" and dtop == "hsi_sim" and mod.startswith(STARTS_SIM):
                continue
            bad.append(f"{mod} -> {d}")
    assert not bad, "imports against the layering rules:\n" + "\n".join(sorted(bad))


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    cycles = find_cycles(graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_safety_path_loads_no_mujoco() -> None:
    """The code between a policy and the motors must not need the simulator's physics engine."""
    code = (
        "import sys, hsi_robot_nodes.bridge.safety, hsi_robot_nodes.bridge.runtime, hsi_kernel.motor; "
        "bad = [m for m in ('mujoco', 'hsi_sim', 'torch', 'hsi_offline') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kernel_imports_alone() -> None:
    """Every kernel module imports in a fresh interpreter without the other project packages."""
    names = sorted(n for n in modules() if n.startswith("hsi_kernel"))
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('hsi_sim', 'hsi_robot_nodes', 'hsi_offline')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
