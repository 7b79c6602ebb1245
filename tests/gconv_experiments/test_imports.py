"""Import structure: a model module loads neither the training code nor the sweep (so that a
model can be imported, e.g. for export, without them), and the packages of gconv_experiments
import each other without cycles."""
import ast
import os
import pathlib
import subprocess
import sys

import gconv_experiments

ROOT = pathlib.Path(gconv_experiments.__file__).parent
REPO = str(ROOT.parent)


def test_a_model_module_loads_no_training_or_sweep_code():
    code = ("import sys, gconv_experiments.MNIST_ROT.models.P4CNN\n"
            "print(sorted(m for m in sys.modules if m.startswith(('gconv_experiments.training', "
            "'gconv_experiments.sweep'))))")
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def _package_of(module):
    """'gconv_experiments.training.loop' -> 'training'; top-level modules are their own 'package'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _package_graph():
    graph = {}
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        source = _package_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                target = _package_of(name) if name.startswith("gconv_experiments.") else None
                if source and target and target != source:
                    graph.setdefault(source, set()).add(target)
    return graph


def _cycle(graph):
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_import_cycle_between_packages():
    graph = _package_graph()
    assert "training" in graph and "sweep" in graph  # the graph is read at all
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None
