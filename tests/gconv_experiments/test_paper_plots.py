"""gconv_experiments.paper_plots: the figures are the first-layer feature maps of P4CNN / P4MCNN
(checked against a direct correlation with np.rot90-rotated filters), the maps of the rotated
and reflected digit are the rotated / reflected maps (np.rot90 / np.flip with the planes
permuted), the GIF has the original's 8 frames of 0.5 s with frame 2k the drawing of r^k f, and
the command line runs with random weights and with snapshots."""
import numpy as np
import pytest
import scipy.signal
from chainer import serializers
from PIL import Image

from gconv_experiments import paper_plots as pp
from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
from gconv_experiments.MNIST_ROT.models.P4MCNN import P4MCNN


@pytest.fixture(scope="module")
def digit():
    return pp.input_digit(7)


def direct_p4_first_layer(model, x, channel):
    """ReLU(BN(correlate(x, rot90(W, s)) + b)) with the fresh BN statistics (mean 0, var 1)."""
    w = model.l1.conv.W.array[channel, 0, 0]
    b = model.l1.conv.b.array[channel]
    eps = model.l1.bn.eps
    planes = [scipy.signal.correlate2d(x[0, 0], np.rot90(w, s), mode="valid") + b
              for s in range(4)]
    return np.maximum(np.stack(planes) / np.sqrt(1 + eps), 0)


def test_p4_maps_are_the_first_layer_and_rotate_with_the_digit(digit):
    model = pp.build_model("P4CNN")
    maps, error = pp.p4_maps(model, digit, channel=2)
    assert maps.shape == (2, 4, 26, 26)
    np.testing.assert_allclose(maps[0], direct_p4_first_layer(model, digit, 2), atol=1e-5)
    # map of r x: plane s is plane s - 1 of the map of x, turned a quarter (np.rot90)
    for s in range(4):
        np.testing.assert_allclose(maps[1, s], np.rot90(maps[0, (s - 1) % 4]), atol=1e-5)
    assert error < 1e-5


def test_p4m_maps_rotate_and_reflect_with_the_digit(digit):
    maps, errors = pp.p4m_maps(pp.build_model("P4MCNN"), digit)
    assert maps.shape == (3, 8, 26, 26) and max(errors) < 1e-5
    f, rf, mf = maps
    for s in range(4):  # on the planes m=0: r (0, s) = (0, s + 1) and m (0, s) = (1, s)
        np.testing.assert_allclose(rf[s], np.rot90(f[(s - 1) % 4]), atol=1e-5)
        np.testing.assert_allclose(mf[4 + s], np.flip(f[s], axis=0), atol=1e-5)


def test_default_channel_is_the_most_orientation_selective(digit):
    model = pp.build_model("P4CNN")
    every = [pp.first_layer_maps(model, digit, c)[0] for c in range(10)]
    spread = [np.abs(m - m.mean(axis=0)).mean() for m in every]
    np.testing.assert_array_equal(pp.first_layer_maps(model, digit)[0], every[int(np.argmax(spread))])
    with pytest.raises(pp.ConfigError, match=r"--channel must be in \[0, 10\)"):
        pp.first_layer_maps(model, digit, 10)


def test_animation_frame_2k_is_the_drawing_of_r_k_f():
    planes = np.random.default_rng(0).uniform(size=(4, 6, 6))
    rf = np.stack([np.rot90(planes[(s - 1) % 4]) for s in range(4)])
    r2f = np.stack([np.rot90(planes[(s - 2) % 4], 2) for s in range(4)])
    frames = [pp.animation_frame(planes, k, (0, 1)) for k in range(3)]
    assert frames[0].shape == (192, 192, 3)
    np.testing.assert_array_equal(frames[2], pp.animation_frame(rf, 0, (0, 1)))
    np.testing.assert_array_equal(pp.animation_frame(planes, 4, (0, 1)),
                                  pp.animation_frame(r2f, 0, (0, 1)))
    assert not np.array_equal(frames[1], frames[0]) and not np.array_equal(frames[1], frames[2])


def saved(model_cls, path, seed):
    np.random.seed(seed)
    model = model_cls(channels=3)
    serializers.save_hdf5(str(path), model)  # the model at the root, as training's snapshots
    return model


def test_cli_random_and_with_weights(tmp_path, capsys):
    out = tmp_path / "figs"
    paths = pp.main(["--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["p4_anim.gif", "p4_fmaps.png", "p4m_fmaps.png"]
    for name in ("p4_fmaps.png", "p4m_fmaps.png"):
        with Image.open(paths[name]) as im:
            assert im.format == "PNG" and im.size[0] > 400
    with Image.open(paths["p4_anim.gif"]) as gif:
        assert gif.n_frames == 8 and gif.info["duration"] == 500 and gif.info["loop"] == 0
    printed = capsys.readouterr().out
    assert "max abs difference" in printed and printed.count("wrote ") == 3

    p4_model = saved(P4CNN, tmp_path / "p4.h5", 1)
    p4m_model = saved(P4MCNN, tmp_path / "p4m.h5", 2)
    loaded = pp.build_model("P4CNN", str(tmp_path / "p4.h5"))
    np.testing.assert_array_equal(loaded.l1.conv.W.array, p4_model.l1.conv.W.array)
    assert pp.build_model("P4MCNN", str(tmp_path / "p4m.h5")).l2.conv.W.shape == (3, 3, 8, 3, 3)
    assert pp.cli(["--out", str(tmp_path / "w"), "--weights", str(tmp_path / "p4.h5"),
                   "--p4m_weights", str(tmp_path / "p4m.h5")]) == 0
    assert (tmp_path / "w" / "p4_anim.gif").is_file()
    del p4m_model
    assert pp.cli(["--out", str(tmp_path / "x"), "--p4m_weights", str(tmp_path / "p4.h5")]) == 2
    assert "holds a P4CNN (--weights) model, not a P4MCNN" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    assert pp.cli(["--out", str(tmp_path / "y"), "--weights", str(tmp_path / "junk.h5")]) == 2
    assert "cannot read the snapshot" in capsys.readouterr().err
