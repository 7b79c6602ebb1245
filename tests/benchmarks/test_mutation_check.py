"""benchmarks/mutation_check.py on a small repository of its own (a function and three test
files): verdicts, the runs made under another environment, the restored file, the printed lines
and the score."""
import os
import pathlib
import re
import signal

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"

CALC = "def double(x):\n    return 2 * x\n"
TESTS = {
    "test_calc.py": "from pkg.calc import double\n\n\ndef test_double():\n    assert double(3) == 6\n",
    # checks double(0) only with the switch on
    "test_switch.py": ("import os\n\nfrom pkg.calc import double\n\n\ndef test_zero():\n"
                       "    if os.environ.get('TOY_SWITCH') == '1':\n        assert double(0) == 0\n"),
    # leaves a mark where it ran
    "test_mark.py": "import os\n\n\ndef test_mark():\n    open(os.environ['TOY_MARK'], 'w').close()\n",
}


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """The module, its REPO pointed at a small repository in tmp_path."""
    monkeypatch.syspath_prepend(str(BENCH))
    import mutation_check
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "calc.py").write_text(CALC)
    (tmp_path / "tests").mkdir()
    for name, text in TESTS.items():
        (tmp_path / "tests" / name).write_text(text)
    os.utime(tmp_path / "pkg" / "calc.py", ns=(1_000_000_000, 2_000_000_000))
    monkeypatch.setattr(mutation_check, "REPO", str(tmp_path))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    yield mutation_check
    for s, handler in handlers.items():  # main() installs its own
        signal.signal(s, handler)


SWITCH = (("TOY_SWITCH", "1"),)


def mutants(m, mark):
    """(mutant, verdict) pairs covering each way a mutant is judged."""
    calc, t = "pkg/calc.py", "tests/"
    zero_bug = ("return 2 * x", "return 2 * x if x else 1")  # only test_switch with the switch sees it
    return [
        (m.Mutant("X1 tripled", calc, "return 2 * x", "return 3 * x", (t + "test_calc.py",),
                  then=(((("TOY_MARK", mark),), (t + "test_mark.py",)),)), "caught"),
        (m.Mutant("X2 same numbers", calc, "2 * x", "x + x", (t + "test_calc.py", t + "test_switch.py")), "survived"),
        (m.Mutant("X3 zero, switch off", calc, *zero_bug, (t + "test_switch.py",)), "survived"),
        (m.Mutant("X4 zero, switch on", calc, *zero_bug, (t + "test_switch.py",), env=SWITCH), "caught"),
        (m.Mutant("X5 zero, switch on in a later run", calc, *zero_bug, (t + "test_calc.py",),
                  then=((SWITCH, (t + "test_switch.py",)),)), "caught"),
        (m.Mutant("X6 no test file here", calc, "2 * x", "3 * x", (t + "test_absent.py",)), "survived"),
    ]


def test_verdicts_and_the_file_restored(toy, tmp_path):
    mark = str(tmp_path / "mark")
    calc = tmp_path / "pkg" / "calc.py"
    for mutant, verdict in mutants(toy, mark):
        assert toy.run_mutant(mutant, timeout=120)[0] == verdict, mutant.name
        assert calc.read_text() == CALC and calc.stat().st_mtime_ns == 2_000_000_000, mutant.name
    assert not os.path.exists(mark)  # X1's later run is not made once the first one failed


def test_later_runs_are_made_while_the_earlier_pass(toy, tmp_path):
    mark = str(tmp_path / "mark")
    harmless = toy.Mutant("X7", "pkg/calc.py", "2 * x", "x * 2", ("tests/test_calc.py",),
                          then=(((("TOY_MARK", mark),), ("tests/test_mark.py",)),))
    assert toy.run_mutant(harmless, timeout=120)[0] == "survived"
    assert os.path.exists(mark)


def test_main_prints_each_verdict_and_the_score(toy, tmp_path, monkeypatch, capsys):
    chosen = mutants(toy, str(tmp_path / "mark"))
    monkeypatch.setattr(toy, "MUTANTS", [m for m, _ in chosen])
    assert toy.main(["--only", "X"]) == 1
    lines = capsys.readouterr().out.splitlines()
    for (mutant, verdict), line in zip(chosen, lines):
        assert re.fullmatch(rf"{verdict:8s} +\d+ s  {re.escape(mutant.name)}", line), line
    survivors = [m.name for m, verdict in chosen if verdict == "survived"]
    assert lines[len(chosen):] == ["", "score: 3 of 6 caught (50.0 %)"] + [f"  survived: {n}" for n in survivors]


def test_main_baseline_runs_each_distinct_run_once(toy, tmp_path, monkeypatch, capsys):
    chosen = [m for m, _ in mutants(toy, str(tmp_path / "mark"))]
    monkeypatch.setattr(toy, "MUTANTS", chosen[1:4])  # X2 to X4: three distinct (environment, tests)
    assert toy.main(["--baseline"]) == 0
    out = capsys.readouterr().out
    for times, same in ((r"\(\d+ s\)", "(N s)"), (r"in [\d.]+s", "in Ts"), (r" +\[100%\]", " [100%]")):
        out = re.sub(times, same, out)  # times, and pytest's padding to the terminal's width
    assert out == ("ok (N s) tests/test_calc.py tests/test_switch.py \n  .. [100%]\n2 passed in Ts\n"
                   "ok (N s) tests/test_switch.py \n  . [100%]\n1 passed in Ts\n"
                   "ok (N s) tests/test_switch.py {'TOY_SWITCH': '1'}\n  . [100%]\n1 passed in Ts\n")


def test_main_stops_when_a_mutant_does_not_apply(toy, monkeypatch, capsys):
    twice = toy.Mutant("X8 twice", "pkg/calc.py", "x", "y", ("tests/test_calc.py",))
    monkeypatch.setattr(toy, "MUTANTS", [twice])
    assert toy.main(["--list"]) == 2
    assert capsys.readouterr().err == ("X8 twice: the text to mutate does not occur exactly once in "
                                       "pkg/calc.py\n")
    assert toy.main(["--list", "--skip-absent"]) == 0
    assert capsys.readouterr().err.endswith(" (left out)\n")


def test_every_mutant_applies_to_the_repository_as_it_stands(monkeypatch):
    """Each planted bug's text occurs exactly once in its file and its test files exist, so the
    check runs on today's code (a mutant whose code has moved on stops --list and every run)."""
    monkeypatch.syspath_prepend(str(BENCH))
    import mutation_check
    stale = [m.name for m in mutation_check.MUTANTS if mutation_check._occurrences(m) != 1]
    assert not stale
    root = BENCH.parent
    missing = [(m.name, t) for m in mutation_check.MUTANTS for _, tests in m.runs() for t in tests
               if not (root / t.split("::")[0]).exists()]
    assert not missing
