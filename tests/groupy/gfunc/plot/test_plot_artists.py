"""What the p4 / p4m drawings say, read from their matplotlib artists (not pixels): every label
names the element of the plane it is written beside, every rotation arrow runs from the plane of
h to the plane of r h, every mirror line joins h and m h, and the labels sit on the documented
side (inner ring: towards the centre; outer ring: outwards).

Which plane an artist belongs to is read from the image drawn there (plane i of the function
holds the constant value i); the element of plane 4 m + r is m^m r^r, represented here by 2x2
matrices (R a quarter turn, M a mirror: M R M = R^-1, the relation of D4), and a label is
parsed as a product of its letters, so the expectations come from the group, not the code."""
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from groupy.gfunc.plot.plot_p4 import plot_p4
from groupy.gfunc.plot.plot_p4m import plot_p4m

R = np.array([[0, -1], [1, 0]])
M = np.array([[-1, 0], [0, 1]])
I = np.eye(2, dtype=int)


def element(plane):
    """The matrix of m^m r^r for plane index 4 m + r."""
    m, r = divmod(plane, 4)
    return np.linalg.matrix_power(M, m) @ np.linalg.matrix_power(R, r)


def parse_word(word):
    """The matrix of a word such as 'e', 'r^2', 'mr^3', 'r^3m' (letters multiplied in order)."""
    word = word.replace(' ', '')
    tokens = re.findall(r'e|m|r(?:\^(\d))?', word)
    assert ''.join(re.findall(r'e|m|r(?:\^\d)?', word)) == word, word
    g = I
    for letter, power in zip(re.findall(r'e|m|r', word), tokens):
        if letter == 'm':
            g = g @ M
        elif letter == 'r':
            g = g @ np.linalg.matrix_power(R, int(power or 1))
    return g


def parse_label(text):
    """All the matrices a label names ('$mr$\\n$=$\\n$r^3m$' names two, which must agree)."""
    words = [w for w in text.replace('$', '').replace('\n', '').split('=') if w.strip()]
    assert words, text
    return [parse_word(w) for w in words]


def draw(plot, n_planes, **kwargs):
    fig = Figure()
    ax = fig.add_subplot()
    f = np.arange(float(n_planes))[:, None, None] * np.ones((n_planes, 3, 3))
    plot(f, ax=ax, **kwargs)
    centres = {}
    for image in ax.images:
        values = np.asarray(image.get_array())
        assert values.min() == values.max()
        x0, x1, y0, y1 = image.get_extent()
        centres[int(values.min())] = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    assert sorted(centres) == list(range(n_planes))
    return ax, centres


def nearest_plane(point, centres):
    return min(centres, key=lambda i: np.linalg.norm(np.asarray(point) - centres[i]))


LABEL_SETS = {plot_p4m: ['cayley_mr', 'cayley_rm', 'cayley2'], plot_p4: ['cayley']}


@pytest.mark.parametrize('plot,n_planes,rlabels', [
    (plot, 8 if plot is plot_p4m else 4, rlabels)
    for plot in LABEL_SETS for rlabels in LABEL_SETS[plot]])
def test_each_label_names_the_element_of_its_plane(plot, n_planes, rlabels):
    ax, centres = draw(plot, n_planes, rlabels=rlabels)
    texts = ax.texts
    assert len(texts) == n_planes
    labelled = set()
    for text in texts:
        plane = nearest_plane(text.xy, centres)
        labelled.add(plane)
        for g in parse_label(text.get_text()):
            np.testing.assert_array_equal(g, element(plane), err_msg=(
                'label {!r} beside plane {} (m={}, r={})'.format(text.get_text(), plane,
                                                                 *divmod(plane, 4))))
    assert labelled == set(range(n_planes))


def test_p4_index_labels_are_the_rotation_count():
    ax, centres = draw(plot_p4, 4, rlabels='indices')
    assert sorted((nearest_plane(t.xy, centres), t.get_text()) for t in ax.texts) == \
        [(r, str(r)) for r in range(4)]


@pytest.mark.parametrize('plot,n_planes', [(plot_p4, 4), (plot_p4m, 8)])
def test_labels_face_the_centre_on_the_inner_ring_and_away_on_the_outer(plot, n_planes):
    ax, centres = draw(plot, n_planes)
    for text in ax.texts:
        plane = nearest_plane(text.xy, centres)
        centre = centres[plane]
        out = centre / np.linalg.norm(centre)  # from the figure centre through the plane
        side = np.asarray(text.xy) - centre  # the edge the label is attached to
        offset = np.asarray(text.xyann, dtype=float)  # points, away from that edge
        sign = -1 if plane < 4 else +1  # inner ring (m = 0) inwards, outer ring outwards
        assert side @ out == pytest.approx(sign * 0.5), (text.get_text(), side)
        assert offset @ out * sign > 0, (text.get_text(), offset)


def arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


@pytest.mark.parametrize('plot,n_planes', [(plot_p4, 4), (plot_p4m, 8)])
def test_rotation_arrows_run_from_h_to_r_h(plot, n_planes):
    """Arrow from the plane of h to the plane of r h (left multiplication: on the outer ring
    r m r^k = m r^(k-1), clockwise), the head at the r h end, the arc bulging away from the
    centre."""
    ax, centres = draw(plot, n_planes)
    found = []
    for arrow in arrows(ax):
        start, end = arrow._posA_posB
        h, g = nearest_plane(start, centres), nearest_plane(end, centres)
        np.testing.assert_array_equal(element(g), R @ element(h), err_msg=(h, g))
        found.append(h)
        style = arrow.get_arrowstyle()
        assert style._endarrow_head and not style._beginarrow_head
        path = arrow.get_path().vertices
        chord_mid = (np.asarray(start) + np.asarray(end)) / 2
        assert np.linalg.norm(path, axis=1).max() > np.linalg.norm(chord_mid) + 0.1
    assert sorted(found) == list(range(n_planes))  # one arrow out of every plane


def test_mirror_lines_join_h_and_m_h():
    ax, centres = draw(plot_p4m, 8)
    assert len(ax.lines) == 4
    joined = set()
    for line in ax.lines:
        (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
        a, b = nearest_plane((x0, y0), centres), nearest_plane((x1, y1), centres)
        assert np.linalg.norm(centres[a] - (x0, y0)) < 1e-9
        assert np.linalg.norm(centres[b] - (x1, y1)) < 1e-9
        np.testing.assert_array_equal(element(b), M @ element(a), err_msg=(a, b))
        joined |= {a, b}
    assert joined == set(range(8))
