"""The layering ARCHITECTURE.md states: groupy never imports gconv_experiments, no import cycle
between packages, and a model file needs neither the training code nor the sweep."""
import ast
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
TOPS = ("groupy", "gconv_experiments")


def _modules():
    """{dotted module name: (path, dotted package name)} of every module of both packages."""
    modules = {}
    for top in TOPS:
        for path in sorted((REPO / top).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
                package = ".".join(parts)
            else:
                package = ".".join(parts[:-1])
            modules[".".join(parts)] = (path, package)
    return modules


MODULES = _modules()


def _imports(path):
    """Every absolute import of our packages in a file, lazy ones (inside functions) included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in TOPS)
    return found


def _package_of(name):
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return MODULES[name][1] if name else None


def _related(a, b):
    """a and b are the same package or one contains the other (a package may import its own
    subpackages and they its modules: that is not a cycle between packages)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def test_groupy_never_imports_gconv_experiments():
    offenders = [f"{name}: {target}" for name, (path, _) in MODULES.items() if name.startswith("groupy")
                 for target in sorted(_imports(path)) if target.startswith("gconv_experiments")]
    assert offenders == []


def test_no_import_cycle_between_packages():
    edges = {}
    for name, (path, package) in MODULES.items():
        for target in _imports(path):
            other = _package_of(target)
            if other is not None and not _related(package, other):
                edges.setdefault(package, {}).setdefault(other, name)

    def reachable(start):
        seen, stack = set(), [start]
        while stack:
            for nxt in edges.get(stack.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    cycles = sorted(f"{a} <-> {b} ({edges[a].get(b) or '...'})" for a in edges for b in reachable(a)
                    if a < b and a in reachable(b))
    assert cycles == []


@pytest.mark.parametrize("model", ["gconv_experiments.MNIST_ROT.models.P4CNN",
                                   "gconv_experiments.CIFAR10.models.P4MResNet"])
def test_a_model_loads_neither_the_training_code_nor_the_sweep(model):
    code = (f"import sys; import {model}; "
            "print(sorted(m for m in sys.modules if m.startswith(('gconv_experiments.training', "
            "'gconv_experiments.sweep'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
