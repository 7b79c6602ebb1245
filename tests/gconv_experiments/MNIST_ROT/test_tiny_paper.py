"""The tiny paper's claims section: the right groups compared, the verdicts from real numbers."""
from gconv_experiments.MNIST_ROT.tiny_paper import claims_markdown, group_errors


def _runs(setting, model, errors, upright=None):
    upright = upright or errors
    return [dict(setting=setting, model=model, test_error=e / 100, upright_error=u / 100, problem=None)
            for e, u in zip(errors, upright)]


def _verdicts(text):
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    return {int(r[0][2:]): r[3].rstrip(" |") for r in rows}


def _all_runs(drop=(3.0, 3.2), sgd_p4=(2.0, 2.1), sgd_p4m=(3.0, 3.1), p4m=(4.0, 4.1), up_z2=(5.0, 5.0)):
    return (_runs("released", "Z2CNN", (5.0, 5.1), up_z2) + _runs("released", "P4CNN_RP", (3.3, 3.4))
            + _runs("released", "P4CNN", (2.5, 2.6)) + _runs("p4mcnn", "P4MCNN", p4m)
            + _runs("dropout", "P4CNN", drop) + _runs("momentum_sgd", "P4CNN", sgd_p4)
            + _runs("momentum_sgd", "P4MCNN", sgd_p4m))


def test_each_claim_is_judged_on_its_own_groups():
    v = _verdicts(claims_markdown(_all_runs()))
    assert v[1] == "supported"          # dropout 3.1 worse than released 2.55
    assert v[2] == "supported"          # SGD below Adam for both models
    assert v[3] == "not supported"      # P4MCNN above P4CNN under both optimisers
    assert v[4] == "supported (every G-CNN below Z2CNN)"


def test_verdicts_flip_with_the_numbers():
    v = _verdicts(claims_markdown(_all_runs(drop=(2.0, 2.1), sgd_p4=(3.0, 3.1), sgd_p4m=(5.0, 5.1),
                                            p4m=(1.0, 1.1), up_z2=(2.0, 2.0))))
    assert v[1] == "not supported"
    assert v[2] == "not supported"
    assert v[3].startswith("mixed: ")   # best under Adam, not under SGD (5.05 against 3.05)
    assert v[4] == "partly: P4MCNN below Z2CNN"


def test_a_difference_within_the_seed_spread_is_marked_as_noise():
    v = _verdicts(claims_markdown(_all_runs(drop=(2.0, 3.2))))  # mean 2.6 against 2.55, std 0.85
    assert v[1] == "supported (within seed-to-seed noise)"


def test_unfinished_and_problem_runs_are_left_out():
    runs = _all_runs()
    runs = [r for r in runs if r["setting"] != "momentum_sgd"]
    runs[0]["problem"] = "summary.json damaged"
    assert group_errors(runs)[("released", "Z2CNN")][0] == [5.1]
    v = _verdicts(claims_markdown(runs))
    assert v[2] == "not known yet (runs unfinished)"
    assert v[3] == "so far not supported; not final (runs unfinished)"
    assert "P4CNN max" in claims_markdown(runs) and "not testable" in claims_markdown(runs)
