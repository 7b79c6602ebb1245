"""Tests for gconv_experiments/augmentation.py: exact quarter turns, agreement with
scipy.ndimage.rotate and skimage.transform.rotate, rotation direction, composition, the
release's random transforms (each against an independent computation) and the registry."""
import numpy as np
import pytest
import scipy.ndimage

from gconv_experiments import augmentation as aug


def _batch(n=6, c=2, h=9, w=9, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


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
    assert name in aug.DESCRIPTIONS and name in aug.help_text()


def test_rotate_matches_skimage_rotate_with_the_release_arguments():
    """skimage.transform.rotate(img, degrees) with its defaults (order 1, constant 0), the call
    of the release's rotate_transform_batch, is a second, independent implementation."""
    skt = pytest.importorskip("skimage.transform")
    x = _batch(n=4, c=1, h=28, w=28, dtype=np.float64) * 4 - 2  # negative values too
    degrees = np.array([3.1, -2.0, 45.0, 181.0])
    y = aug.rotate(x, np.deg2rad(degrees))
    for i in range(4):
        ref = skt.rotate(x[i, 0], degrees[i], preserve_range=True)
        np.testing.assert_allclose(y[i, 0], ref, rtol=0, atol=1e-9)


def _blob_angles(fn, n=300, seed=0):
    """Rotate a blob 10 px right of the centre of a 29x29 image with fn; the angle (degrees,
    counter-clockwise) by which its centroid moved, per image."""
    size = 29
    r, c = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size - 1) / 2
    blob = np.exp(-((r - centre) ** 2 + (c - centre - 10) ** 2) / 2.0)
    y = fn(np.repeat(blob[None, None], n, axis=0), np.random.default_rng(seed))[:, 0]
    rows = (y * r).sum(axis=(1, 2)) / y.sum(axis=(1, 2)) - centre
    cols = (y * c).sum(axis=(1, 2)) / y.sum(axis=(1, 2)) - centre
    return np.degrees(np.arctan2(-rows, cols))


def test_release_rotation_turns_images_by_at_most_3_14_degrees():
    angles = _blob_angles(aug.TRANSFORMATIONS["rotation"])
    assert np.abs(angles).max() <= 3.2  # no pixel moves more than a 3.2-degree rotation would
    assert angles.min() < -2.5 and angles.max() > 2.5  # the whole range +-pi "degrees" is used
    assert abs(angles.mean()) < 0.5


def test_uniform_rotation_turns_images_by_any_angle():
    angles = _blob_angles(aug.TRANSFORMATIONS["uniform_rotation"]) % 360
    assert np.abs(((angles + 180) % 360) - 180).max() > 90
    counts = np.histogram(angles, bins=4, range=(0, 360))[0]
    assert counts.min() > 40, counts  # about 75 per quadrant


def test_rotation_applies_one_angle_to_every_channel():
    x = _batch(n=8, c=1, h=15, w=15)
    x3 = np.repeat(x, 3, axis=1) * np.array([1, -2, 3], np.float32)[:, None, None]
    for name in ("rotation", "uniform_rotation"):
        y = aug.TRANSFORMATIONS[name](x3, np.random.default_rng(4))
        np.testing.assert_allclose(y[:, 1], -2 * y[:, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y[:, 2], 3 * y[:, 0], rtol=1e-5, atol=1e-6)


def test_translate_is_a_continuous_cubic_shift_within_2_pixels():
    """Cubic splines reproduce polynomials of degree <= 3 away from the border: on the images
    (row, column, row * column / 32) the output equals the polynomial at the shifted position."""
    n, size = 200, 32
    r, c = np.mgrid[0:size, 0:size].astype(np.float64)
    x = np.repeat(np.stack([r, c, r * c / 32])[None], n, axis=0).astype(np.float32)
    y = aug.TRANSFORMATIONS["translate"](x, np.random.default_rng(0)).astype(np.float64)
    inner = (slice(None), slice(10, 22), slice(10, 22))
    dy = (r[None] - y[:, 0])[inner].mean(axis=(1, 2))
    dx = (c[None] - y[:, 1])[inner].mean(axis=(1, 2))
    assert np.abs(dy).max() <= 2 and np.abs(dx).max() <= 2
    assert min(dy.min(), dx.min()) < -1.8 and max(dy.max(), dx.max()) > 1.8
    assert np.abs(dy - np.round(dy)).max() > 0.3  # continuous, not integer, shifts
    for i in range(n):
        expected = (r - dy[i]) * (c - dx[i]) / 32
        np.testing.assert_allclose(y[i, 2][10:22, 10:22], expected[10:22, 10:22], atol=2e-3)


def test_shift_images_reflects_the_border():
    x = _batch(n=2, c=3, h=8, w=8, dtype=np.float64)
    y = aug.shift_images(x, [[1, 0], [0, -1]])
    np.testing.assert_allclose(y[0, :, 1:], x[0, :, :-1], atol=1e-9)  # content moves down
    np.testing.assert_allclose(y[0, :, 0], x[0, :, 0], atol=1e-9)  # row -1 reflects to row 0
    np.testing.assert_allclose(y[1, :, :, :-1], x[1, :, :, 1:], atol=1e-9)  # moves left
    np.testing.assert_allclose(y[1, :, :, -1], x[1, :, :, -1], atol=1e-9)
    const = np.full((3, 3, 10, 10), 0.7, np.float32)  # no zero fill anywhere
    np.testing.assert_allclose(aug.translate(const, np.random.default_rng(1)), const, atol=1e-5)


def _release_d4(img):
    """The release's dihedral_transform_batch elements g = 0..7 (its D4 matrices applied to the
    centred grid), written out as index formulas out[a, b] = img[row(a, b), col(a, b)]."""
    n = img.shape[-1] - 1
    a, b = np.mgrid[0:n + 1, 0:n + 1]
    index = [(a, b), (b, n - a), (n - a, n - b), (n - b, a),
             (a, n - b), (n - b, n - a), (n - a, b), (b, a)]
    return [img[:, i, j] for i, j in index]


def test_dihedral_draws_the_releases_elements_in_its_order():
    x = _batch(n=64, c=3, h=7, w=7)
    y = aug.TRANSFORMATIONS["dihedral"](x, np.random.default_rng(3))
    g = np.random.default_rng(3).integers(0, 8, size=64)  # the draw of the release's g
    for i in range(64):
        np.testing.assert_array_equal(y[i], _release_d4(x[i])[g[i]])
    assert set(g) == set(range(8))
    # the 8 elements are distinct: D4 as a group
    assert len({e.tobytes() for e in _release_d4(x[0])}) == 8


@pytest.mark.parametrize("name, candidates", [
    ("hflip", lambda img: [img, img[:, :, ::-1]]),
    ("flip", lambda img: [img, img[:, ::-1, :], img[:, :, ::-1]]),
    ("rot90", lambda img: [np.rot90(img, k, axes=(1, 2)) for k in range(4)]),
])
def test_discrete_transforms_pick_each_element_about_equally_often(name, candidates):
    x = _batch(n=300, c=1, h=5, w=5)
    y = aug.TRANSFORMATIONS[name](x, np.random.default_rng(3))
    counts = np.zeros(len(candidates(x[0])), int)
    for i in range(len(x)):
        hits = [j for j, cand in enumerate(candidates(x[i])) if np.array_equal(cand, y[i])]
        assert len(hits) == 1, f"image {i} is not one {name} transform of its input"
        counts[hits[0]] += 1
    expected = len(x) / len(counts)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts


@pytest.mark.parametrize("name, first", [("translate_hflip", "hflip"),
                                         ("translate_dihedral", "dihedral")])
def test_compound_release_names_apply_their_parts_in_the_release_order(name, first):
    x = _batch(n=8, c=3, h=8, w=8)
    rng = np.random.default_rng(9)
    expected = aug.translate(aug.TRANSFORMATIONS[first](x, rng), rng)
    np.testing.assert_array_equal(aug.TRANSFORMATIONS[name](x, np.random.default_rng(9)), expected)


def test_parse_and_apply_transformations():
    assert aug.parse_transformations("") == ()
    assert aug.parse_transformations(None) == ()
    assert aug.parse_transformations("translate, hflip") == ("translate", "hflip")
    x = _batch()
    assert aug.apply_transformations(x, "", np.random.default_rng(0)) is x
    y = aug.apply_transformations(x, "rot90,hflip", np.random.default_rng(5))
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(y, aug.hflip(aug.random_rot90(x, rng), rng))


@pytest.mark.parametrize("spec", ["rotate", "rotation,,hflip", "hflip,shear", "translation"])
def test_unknown_transformation_lists_valid_names(spec):
    with pytest.raises(ValueError, match="valid names.*rotation.*uniform_rotation.*translate.*hflip"):
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
        aug.uniform_rotation(x, np.random.RandomState(0))
    with pytest.raises(ValueError, match="square"):
        aug.random_rot90(_batch(h=4, w=6), np.random.default_rng(0))
    with pytest.raises(ValueError, match="square"):
        aug.dihedral(_batch(h=4, w=6), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"shifts must have shape \(6, 2\)"):
        aug.shift_images(x, np.zeros((6, 3)))
    with pytest.raises(TypeError, match="string"):
        aug.parse_transformations(["rotation"])
