"""Tests for gconv_experiments/augmentation.py: exact quarter turns, agreement with
scipy.ndimage.rotate, rotation direction, composition, the random transforms and the registry."""
import numpy as np
import pytest
import scipy.ndimage

from gconv_experiments import augmentation as aug


def _batch(n=6, c=2, h=9, w=9, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def _d4_images(img):
    """The 8 D4 transforms of one (C, H, W) image."""
    rots = [np.rot90(img, k, axes=(1, 2)) for k in range(4)]
    return rots + [r[:, :, ::-1] for r in rots]


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quarter_turns_match_rot90_exactly(k, size, dtype):
    x = _batch(h=size, w=size, dtype=dtype)
    y = aug.rotate(x, k * np.pi / 2)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, np.rot90(x, k, axes=(2, 3)), rtol=0, atol=1e-6)


def test_per_image_angles_match_scipy_rotate():
    x = _batch(n=5, h=11, w=13, dtype=np.float64)
    angles = np.random.default_rng(1).uniform(0, 2 * np.pi, 5)
    for order in (0, 1):
        y = aug.rotate(x, angles, order=order)
        for i in range(5):
            for c in range(2):
                ref = scipy.ndimage.rotate(x[i, c], np.degrees(angles[i]), reshape=False,
                                           order=order, mode="grid-constant", cval=0.0)
                np.testing.assert_allclose(y[i, c], ref, rtol=0, atol=1e-6)


def test_positive_angle_is_counter_clockwise_as_displayed():
    # A blob right of the centre (column offset +6) rotated by +30 degrees moves up
    # (smaller row) by 6 sin 30 = 3 rows and ends 6 cos 30 columns right of the centre.
    n = 31
    r, c = np.mgrid[0:n, 0:n].astype(np.float64)
    centre = (n - 1) / 2
    blob = np.exp(-((r - centre) ** 2 + (c - centre - 6) ** 2) / 4.0)
    y = aug.rotate(blob[None, None], np.pi / 6)[0, 0]
    row_mean = (y * r).sum() / y.sum()
    col_mean = (y * c).sum() / y.sum()
    np.testing.assert_allclose([row_mean, col_mean], [centre - 3, centre + 6 * np.cos(np.pi / 6)],
                               atol=0.05)


def test_composition_of_quarter_turns_and_inverse():
    x = _batch()
    np.testing.assert_array_equal(aug.rotate(aug.rotate(x, np.pi / 2), np.pi), aug.rotate(x, 1.5 * np.pi))
    # A smooth image rotated by a and then by -a comes back (interpolation error only).
    n = 33
    r, c = np.mgrid[0:n, 0:n].astype(np.float64)
    smooth = np.exp(-((r - 14) ** 2 + (c - 18) ** 2) / 30.0)[None, None]
    back = aug.rotate(aug.rotate(smooth, 0.7), -0.7)
    np.testing.assert_allclose(back, smooth, atol=0.03)  # bilinear smoothing only


def test_rotation_zero_fill_and_range():
    x = np.ones((3, 1, 10, 10), np.float32)
    y = aug.rotate(x, np.pi / 4)
    assert y[0, 0, 0, 0] == 0 and y[0, 0, 4, 4] == pytest.approx(1.0)
    assert y.min() >= 0 and y.max() <= 1 + 1e-6


@pytest.mark.parametrize("name", sorted(aug.TRANSFORMATIONS))
def test_random_transforms_shape_dtype_and_determinism(name):
    x = _batch(n=16)
    fn = aug.TRANSFORMATIONS[name]
    y1 = fn(x, np.random.default_rng(7))
    y2 = fn(x, np.random.default_rng(7))
    assert y1.shape == x.shape and y1.dtype == x.dtype
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, fn(x, np.random.default_rng(8)))


@pytest.mark.parametrize("name,group", [("rot90", slice(0, 4)), ("dihedral", slice(0, 8)),
                                        ("hflip", [0, 4])])
def test_discrete_transforms_pick_group_elements(name, group):
    x = _batch(n=64)
    y = aug.TRANSFORMATIONS[name](x, np.random.default_rng(3))
    used = set()
    for i in range(len(x)):
        candidates = np.array(_d4_images(x[i]))[group]
        hits = [j for j, cand in enumerate(candidates) if np.array_equal(cand, y[i])]
        assert hits, f"image {i} is not a {name} transform of its input"
        used.add(hits[0])
    assert len(used) == len(np.array(_d4_images(x[0]))[group])  # every element drawn


def test_random_rotation_angles_uniform_and_bilinear():
    x = _batch(n=4, h=15, w=15, dtype=np.float64)
    rng = np.random.default_rng(11)
    angles = np.random.default_rng(11).uniform(0, 2 * np.pi, size=4)
    np.testing.assert_array_equal(aug.random_rotation(x, rng), aug.rotate(x, angles))


def test_translation_shifts_within_range_with_zero_fill():
    x = np.ones((200, 1, 12, 12), np.float64)
    y = aug.random_translation(x, np.random.default_rng(0), max_shift=3)
    zero_rows = (y[:, 0].sum(axis=2) == 0).sum(axis=1)
    zero_cols = (y[:, 0].sum(axis=1) == 0).sum(axis=1)
    assert zero_rows.max() == 3 and zero_cols.max() == 3 and zero_rows.min() == 0
    # The content is an exact shifted copy of the input.
    x = _batch(n=50, h=12, w=12)
    y = aug.random_translation(x, np.random.default_rng(1), max_shift=2)
    for i in range(50):
        assert any(np.array_equal(y[i, :, max(dy, 0):12 + min(dy, 0), max(dx, 0):12 + min(dx, 0)],
                                  x[i, :, max(-dy, 0):12 + min(-dy, 0), max(-dx, 0):12 + min(-dx, 0)])
                   for dy in range(-2, 3) for dx in range(-2, 3))
    assert np.array_equal(aug.random_translation(x, np.random.default_rng(1), max_shift=0), x)


def test_parse_and_apply_transformations():
    assert aug.parse_transformations("") == ()
    assert aug.parse_transformations(None) == ()
    assert aug.parse_transformations("translation, hflip") == ("translation", "hflip")
    x = _batch()
    assert aug.apply_transformations(x, "", np.random.default_rng(0)) is x
    y = aug.apply_transformations(x, "rot90,hflip", np.random.default_rng(5))
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(y, aug.random_hflip(aug.random_rot90(x, rng), rng))


@pytest.mark.parametrize("spec", ["rotate", "rotation,,hflip", "hflip,shear"])
def test_unknown_transformation_lists_valid_names(spec):
    with pytest.raises(ValueError, match="valid names.*rotation.*rot90.*hflip.*dihedral.*translation"):
        aug.parse_transformations(spec)
    with pytest.raises(ValueError, match="unknown transformation"):
        aug.apply_transformations(_batch(), spec, np.random.default_rng(0))


def test_bad_arguments():
    x = _batch()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        aug.rotate(x[0], 0.1)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        aug.rotate(x, np.zeros(5))
    with pytest.raises(ValueError, match="order"):
        aug.rotate(x, 0.1, order=3)
    with pytest.raises(TypeError, match="floating"):
        aug.rotate(x.astype(np.uint8), 0.1)
    with pytest.raises(TypeError, match="Generator"):
        aug.random_rotation(x, np.random.RandomState(0))
    with pytest.raises(ValueError, match="square"):
        aug.random_rot90(_batch(h=4, w=6), np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_shift"):
        aug.random_translation(x, np.random.default_rng(0), max_shift=-1)
    with pytest.raises(TypeError, match="string"):
        aug.parse_transformations(["rotation"])
