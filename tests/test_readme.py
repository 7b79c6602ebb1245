"""The commands and snippets that README.md and the documentation pages show keep working.

Every fenced ``bash``/``python`` block of README.md and docs/**/*.md (the notebook cells of the
docs run when the site is built; they are not fenced blocks) carries a marker on the line
before it, an HTML comment that neither GitHub nor Sphinx shows:

* ``<!-- check: run -->``: the block runs here as written: shell lines one by one (``python`` and
  ``.venv/bin/python`` mean this interpreter), Python as a script, ``>>>`` blocks as doctests;
  in a scratch folder that links to the repository's packages and results;
* ``<!-- check: parse -->``: each command's flags are parsed by the program's own argument
  parser, without running it (trainings that take hours, data that is not here);
* ``<!-- check: skip REASON -->``: not run, for the reason given (creates a venv, trains for
  minutes, needs a cluster).

A block without a marker fails, so that nothing shown is left unchecked. The README's headline
table must be rows of results/mnist_rot/results.md, the file it is quoted from.
"""
import doctest
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LINKED = ("groupy", "gconv_experiments", "results", "benchmarks")
CHECKED_LANGUAGES = ("bash", "sh", "shell", "console", "python", "py", "pycon")
MARKER = re.compile(r"<!--\s*check:\s*(run|parse|skip)\b\s*(.*?)\s*-->")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([^\s`]*)")

# Runs in a fresh interpreter, for the commands of one block: argparse's parsing is replaced so
# that a program stops right after its user-facing parser (one with -h) accepted the whole
# command line; an argparse error exits with status 2 as usual.
PARSE_ONLY = r"""
import argparse, json, os, runpy, sys

class Parsed(Exception):
    pass

original = argparse.ArgumentParser.parse_known_args
def parse_known_args(self, args=None, namespace=None):
    result = original(self, args, namespace)
    if self.add_help and not result[1]:
        raise Parsed()
    return result
argparse.ArgumentParser.parse_known_args = parse_known_args

start = os.getcwd()
for folder, kind, target, argv, env in json.loads(sys.argv[1]):
    os.chdir(os.path.join(start, folder))
    os.environ.update(env)
    sys.argv = [target] + argv
    try:
        if kind == "-m":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except Parsed:
        print("PARSED OK:", target, *argv)
        continue
    print("NEVER PARSED:", target, *argv)
    sys.exit(3)
"""


def documents():
    files = [ROOT / "README.md"]
    files += sorted(p for p in (ROOT / "docs").rglob("*.md")
                    if "_build" not in p.parts and "_generated" not in p.parts)
    return files


def code_blocks(path):
    """[(line number, language, marker (kind, reason) or None, code)] of the fenced blocks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, language = match.group(1), match.group(2)
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        previous = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = MARKER.search(previous)
        if language.lower() in CHECKED_LANGUAGES:
            blocks.append((i + 1, language.lower(), marker and (marker.group(1), marker.group(2)),
                           "\n".join(lines[i + 1:j])))
        i = j + 1
    return blocks


def all_blocks():
    return [pytest.param(path, line, language, marker, code, id=f"{path.relative_to(ROOT)}:{line}")
            for path in documents() for line, language, marker, code in code_blocks(path)]


def shell_commands(code):
    """The commands of a shell block: continuation lines joined, comments dropped."""
    commands, current = [], ""
    for raw in code.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        words = shlex.split(current, comments=True)
        if words:
            commands.append(words)
        current = ""
    return commands


def scratch_folder(tmp_path):
    for name in LINKED:
        os.symlink(ROOT / name, tmp_path / name)
    return tmp_path


def environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    return env


def split_command(words):
    """(folder relative to the scratch folder, argv after the interpreter, env vars) of one
    command; argv[0] is '-m' MODULE or a script path."""
    folder, env = ".", {}
    if "&&" in words:  # cd DIR && ...
        cut = words.index("&&")
        assert words[:cut][:1] == ["cd"], f"only 'cd DIR && command' is understood: {words}"
        folder, words = words[1], words[cut + 1:]
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, value = words[0].split("=", 1)
        env[name], words = value, words[1:]
    if words and words[0] == "mpiexec":  # mpiexec [options] python ...: the program itself
        words = words[next(i for i, w in enumerate(words) if w.endswith("python")):]
    assert words and words[0] in ("python", ".venv/bin/python"), \
        f"a command the check does not know how to run: {' '.join(words)}"
    return folder, words[1:], env


def run(argv, cwd, env, timeout=300):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_block_is_marked():
    unmarked = [f"{path.relative_to(ROOT)}:{line}" for path in documents()
                for line, language, marker, code in code_blocks(path) if marker is None]
    assert not unmarked, "code blocks without a <!-- check: run|parse|skip --> marker: " + \
        ", ".join(unmarked)


@pytest.mark.parametrize("path, line, language, marker, code", all_blocks())
def test_block(path, line, language, marker, code, tmp_path):
    if marker is None:
        pytest.fail("no <!-- check: ... --> marker (test_every_block_is_marked)")
    kind, reason = marker
    if kind == "skip":
        assert reason, "a skipped block says why"
        pytest.skip(reason)
    folder = scratch_folder(tmp_path)
    env = environment()
    if language in ("python", "py", "pycon"):
        assert kind == "run", "Python blocks run"
        if code.lstrip().startswith(">>>"):
            run_doctest(code, folder, path, line)
        else:
            proc = run([sys.executable, "-c", code], folder, env)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    to_parse = []
    for words in shell_commands(code):
        where, argv, extra_env = split_command(words)
        if kind == "run":
            if "export" in reason:
                pytest.importorskip("onnx", reason="the export extra is not installed")
                pytest.importorskip("onnxruntime", reason="the export extra is not installed")
            proc = run([sys.executable] + argv, folder / where, dict(env, **extra_env))
            assert proc.returncode == 0, f"{' '.join(words)}\n{proc.stdout}{proc.stderr}"
        elif argv[0] == "-m":
            to_parse.append([where, "-m", argv[1], argv[2:], extra_env])
        else:
            to_parse.append([where, "-f", argv[0], argv[1:], extra_env])
    if to_parse:
        proc = run([sys.executable, "-c", PARSE_ONLY, json.dumps(to_parse)], folder, env)
        assert proc.returncode == 0 and proc.stdout.count("PARSED OK") == len(to_parse), \
            proc.stdout + proc.stderr


def run_doctest(code, folder, path, line):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        parser = doctest.DocTestParser()
        test = parser.get_doctest(code, {}, f"{path.name}:{line}", str(path), line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        result = runner.summarize(verbose=False)
    finally:
        os.chdir(cwd)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


def test_readme_results_are_quoted_from_the_results_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    results = (ROOT / "results" / "mnist_rot" / "results.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| released protocol")
            or line.startswith("| uniform rotation")]
    assert rows, "README.md quotes no row of results/mnist_rot/results.md"
    for row in rows:
        assert row in results, f"not a row of results/mnist_rot/results.md: {row}"
