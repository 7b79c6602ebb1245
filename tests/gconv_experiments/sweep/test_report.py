"""The statistics and tables a sweep writes."""
import pytest

from gconv_experiments.sweep import report


def test_model_statistics_by_hand():
    """Errors 2% and 3%: mean 2.5%, np.std (ddof 0) 0.005, sample std 0.7071%."""
    s = report.model_statistics([0.02, 0.03])
    assert s["paper_style"] == "2.50 ± 0.0050"
    assert s["test_error_mean"] == pytest.approx(0.025, abs=1e-15)
    assert s["test_error_std_ddof0"] == pytest.approx(0.005, abs=1e-15)
    assert s["test_error_pct_std_ddof1"] == pytest.approx(100 * 0.01 / 2 ** 0.5, rel=1e-12)
    assert report.model_statistics([0.0228])["test_error_pct_std_ddof1"] is None
