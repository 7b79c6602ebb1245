"""Partial G-convolutions: equal to the full G-conv with every gate open (values and gradients),
dropped planes zero, the straight-through gradient of the relaxed-Bernoulli gates, the
equivariance that remains (predicted and measured), serialisation, the training helpers."""
import itertools

import numpy
import pytest

import chainer
import chainer.functions as F
from chainer import gradient_check, testing

from groupy.garray.D4_array import D4Array
from groupy.gconv.chainer_gconv import (P4ConvP4, P4ConvZ2, P4MConvP4M, P4MConvZ2,
                                        check_equivariance, equivariant_elements,
                                        orientation_max_pooling)
from groupy.gconv.chainer_gconv.partial import (PartialP4ConvP4, PartialP4MConvP4M,
                                                partial_links, predicted_equivariance,
                                                stabiliser_of)
from groupy.gconv.chainer_gconv.partial_gate import logistic_noise, relaxed_bernoulli_gate
from groupy.gconv.chainer_gconv.partial_training import (anneal_temperature,
                                                         set_gate_learning_rate,
                                                         temperature_schedule)

PAIRS = [(PartialP4ConvP4, P4ConvP4, 4), (PartialP4MConvP4M, P4MConvP4M, 8)]


def pair(partial_cls, full_cls, seed=0, cin=2, cout=3, **kwargs):
    numpy.random.seed(seed)
    partial = partial_cls(cin, cout, ksize=3, pad=1, **kwargs)
    full = full_cls(cin, cout, ksize=3, pad=1)
    full.W.array[...] = partial.W.array
    partial.b.array[...] = full.b.array[...] = numpy.random.RandomState(seed).randn(cout)
    return partial, full


def gmap(g, n=2, c=2, size=7, seed=1):
    return numpy.random.RandomState(seed).randn(n, c, g, size, size).astype(numpy.float32)


def run(link, x, gy, train):
    """y and the gradients of sum(y * gy) with respect to x, W, b (cleared first)."""
    link.cleargrads()
    xv = chainer.Variable(x.copy())
    with chainer.using_config('train', train):
        y = link(xv)
    F.sum(y * gy).backward()
    return y.array, xv.grad, link.W.grad, link.b.grad


@pytest.mark.parametrize('partial_cls,full_cls,g', PAIRS)
@pytest.mark.parametrize('train', [False, True])
def test_all_gates_open_is_the_full_gconv(partial_cls, full_cls, g, train):
    # |logistic noise| <= log(1e6) ~ 13.8, so logits of 30 keep every gate open in training too
    partial, full = pair(partial_cls, full_cls, initial_gate_logit=30.0)
    x = gmap(g)
    gy = numpy.random.RandomState(2).randn(2, 3, g, 7, 7).astype(numpy.float32)
    got, want = run(partial, x, gy, train), run(full, x, gy, train)
    for a, b in zip(got, want):
        numpy.testing.assert_array_equal(a, b)
    assert partial.last_kept.all() and partial.kept_elements().indices == tuple(range(g))


@pytest.mark.parametrize('partial_cls,full_cls,g', PAIRS)
def test_dropped_planes_are_zero_and_kept_planes_unchanged(partial_cls, full_cls, g):
    logits = numpy.where(numpy.arange(g - 1) % 2 == 0, -1.0, 1.5)  # drop r1, r3, ...
    partial, full = pair(partial_cls, full_cls, initial_gate_logit=logits)
    kept = [0] + [i + 1 for i in range(g - 1) if logits[i] > 0]
    dropped = sorted(set(range(g)) - set(kept))
    assert partial.kept_elements().indices == tuple(kept)
    x = gmap(g)
    with chainer.using_config('train', False):
        y, y_full = partial(x).array, full(x).array
        with chainer.no_backprop_mode():  # the cached filter bank of pure inference
            y_cached = partial(x).array
    numpy.testing.assert_array_equal(y[:, :, dropped], 0)
    numpy.testing.assert_array_equal(y[:, :, kept], y_full[:, :, kept])
    numpy.testing.assert_array_equal(y_cached, y)
    assert numpy.abs(y_full[:, :, dropped]).min() > 0 or numpy.abs(y_full[:, :, dropped]).max() > 0.1


@pytest.mark.parametrize('partial_cls,full_cls,g', PAIRS)
def test_gradient_check_with_dropped_planes(partial_cls, full_cls, g):
    numpy.random.seed(0)
    link = partial_cls(1, 2, ksize=3, dtype=numpy.float64,
                       initial_gate_logit=numpy.linspace(-1, 1, g - 1))
    link.b.array[:] = [0.3, -0.2]
    x = gmap(g, n=1, c=1, size=4).astype(numpy.float64)
    gy = numpy.random.RandomState(3).randn(1, 2, g, 2, 2)
    with chainer.using_config('train', False):  # gates fixed: gradients w.r.t. x, W, b
        gradient_check.check_backward(link, x, gy, params=(link.W, link.b),
                                      dtype=numpy.float64, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize('partial_cls,full_cls,g', PAIRS)
def test_straight_through_gradient_is_the_relaxed_estimator(partial_cls, full_cls, g):
    logits = numpy.random.RandomState(4).randn(g - 1).astype(numpy.float32)
    temperature = 0.7
    partial, full = pair(partial_cls, full_cls, initial_gate_logit=logits, temperature=temperature)
    x = gmap(g)
    gy = numpy.random.RandomState(5).randn(2, 3, g, 7, 7).astype(numpy.float32)
    numpy.random.seed(0)
    y, _, _, _ = run(partial, x, gy, train=True)
    numpy.random.seed(0)
    z = logits + logistic_noise(numpy, (g - 1,), numpy.float32)
    hard = numpy.r_[1.0, (z > 0)].astype(numpy.float32)
    soft = 1 / (1 + numpy.exp(-z.astype(numpy.float64) / temperature))
    assert 0 < hard[1:].sum() < g - 1, 'the seed should give a mix of open and closed gates'
    numpy.testing.assert_array_equal(partial.last_kept, hard > 0)
    with chainer.using_config('train', True):
        y_full = full(x).array
    numpy.testing.assert_allclose(y, y_full * hard[None, None, :, None, None], rtol=1e-6,
                                  atol=1e-6)
    # d loss / d gate_s = sum(gy_s * y_full_s) (also for closed gates), times d soft / d logit
    d_gate = (gy * y_full).sum(axis=(0, 1, 3, 4)).astype(numpy.float64)[1:]
    expected = d_gate * soft * (1 - soft) / temperature
    assert numpy.abs(expected).max() > 1e-3
    numpy.testing.assert_allclose(partial.gate_logits.grad, expected, rtol=1e-4, atol=1e-6)


def test_gate_samples_are_bernoulli_and_reproducible():
    link = PartialP4MConvP4M(1, 1, initial_gate_logit=numpy.linspace(-2, 2, 7))
    numpy.random.seed(0)
    with chainer.using_config('train', True):
        samples = numpy.stack([link.sample_gates().array for _ in range(4000)])
        numpy.random.seed(0)
        again = link.sample_gates().array
    numpy.testing.assert_array_equal(again, samples[0])
    assert set(numpy.unique(samples)) <= {0.0, 1.0} and (samples[:, 0] == 1).all()
    numpy.testing.assert_allclose(samples[:, 1:].mean(axis=0),
                                  1 / (1 + numpy.exp(-numpy.linspace(-2, 2, 7))), atol=0.03)


def test_training_mode_can_use_the_deterministic_gates():
    link = PartialP4ConvP4(1, 1, initial_gate_logit=[0.01, -0.01, 0.01])
    x = gmap(4, c=1)
    with chainer.using_config('train', True), chainer.using_config('sample_partial_gates', False):
        kept = [tuple(link(x) is not None and link.last_kept) for _ in range(20)]
    assert set(kept) == {(True, True, False, True)}
    with chainer.using_config('train', True):
        kept = [tuple(link(x) is not None and link.last_kept) for _ in range(20)]
    assert len(set(kept)) > 1  # sampled: each gate open with probability ~1/2


def test_relaxed_gate_gradient_matches_finite_differences_of_the_relaxation():
    # the backward pass is the gradient of soft = sigmoid((a + L) / T)
    a = numpy.array([0.3, -0.2, 0.05])
    noise = numpy.array([0.1, 0.4, -0.2])
    gy = numpy.array([1.0, -2.0, 0.5])
    av = chainer.Variable(a.copy())
    g = relaxed_bernoulli_gate(av, 0.4, noise)
    numpy.testing.assert_array_equal(g.array, [1.0, 1.0, 0.0])
    F.sum(g * gy).backward()
    gradient_check.check_backward(lambda v: F.sigmoid((v + noise) / 0.4), (a,), gy,
                                  dtype=numpy.float64)
    soft = 1 / (1 + numpy.exp(-(a + noise) / 0.4))
    numpy.testing.assert_allclose(av.grad, gy * soft * (1 - soft) / 0.4, rtol=1e-12)


def _d4_product(g, h):
    mg, rg = divmod(g, 4)
    mh, rh = divmod(h, 4)
    p = (D4Array(numpy.array([mg, rg]), 'int') * D4Array(numpy.array([mh, rh]), 'int')).data
    return int(p[0]) * 4 + int(p[1])


@pytest.mark.parametrize('stabiliser,order', [('C4', 4), ('D4', 8)])
def test_stabiliser_of_every_kept_set(stabiliser, order):
    product = (lambda g, h: (g + h) % 4) if stabiliser == 'C4' else _d4_product
    subgroups = 0
    for r in range(order):
        for rest in itertools.combinations(range(1, order), r):
            k = {0, *rest}
            stab = {g for g in range(order) if {product(g, s) for s in k} == k}
            assert set(stabiliser_of(k, stabiliser).indices) == stab
            closed = all(product(a, b) in k for a in k for b in k)
            subgroups += closed
            assert (stab == k) == closed
    assert subgroups == (3 if stabiliser == 'C4' else 10)


def test_kept_element_names_follow_the_plane_order_of_d4():
    link = PartialP4MConvP4M(1, 1, initial_gate_logit=[-1, 1, -1, 1, -1, 1, -1])
    kept = link.kept_elements()
    assert kept.indices == (0, 2, 4, 6) and kept.names == ('e', 'r2', 'm', 'm r2')
    assert link.equivariant_elements() == kept  # a subgroup (the Klein four-group)
    link.gate_logits.array[:] = [1, -1, -1, -1, -1, -1, -1]
    assert link.equivariant_elements().names == ('e',)  # {e, r1} is not a subgroup
    assert 'temperature=0.5' in str(link) and "kept=('e', 'r1')" in str(link)


class _TwoLayer(chainer.Chain):
    """Z2 -> p4 (full) -> p4 (partial) -> max over the kept planes -> global max: invariant."""

    def __init__(self, partial_cls=PartialP4ConvP4, lifting=P4ConvZ2, logits=(-1.0, 1.0, -1.0)):
        super().__init__()
        with self.init_scope():
            self.l1 = lifting(1, 4, ksize=3)
            self.l2 = partial_cls(4, 3, ksize=3, initial_gate_logit=numpy.asarray(logits))

    def forward(self, x):
        h = self.l2(F.relu(self.l1(x)))
        return F.max(orientation_max_pooling(h, mask=self.l2.last_kept), axis=(2, 3))


def test_two_layer_net_keeping_e_r2_is_invariant_to_180_not_90_degrees():
    numpy.random.seed(0)
    net = _TwoLayer()
    errors = check_equivariance(net, 'Z2', 'invariant', input_shape=(2, 1, 9, 9))
    assert errors['r=2'] < 1e-5
    assert errors['r=1'] > 1e-2 and errors['r=3'] > 1e-2
    assert equivariant_elements(net, 'Z2', 'invariant', input_shape=(2, 1, 9, 9)) == \
        predicted_equivariance(net) == ((0, 2), ('e', 'r2'))
    # the p4 output of the partial layer itself: equivariant to r2 only
    x = numpy.random.RandomState(0).randn(2, 1, 9, 9).astype(numpy.float32)
    errors = check_equivariance(lambda x: net.l2(F.relu(net.l1(x))), 'Z2', 'p4', x=x)
    assert errors['r=2'] < 1e-5 and errors['r=1'] > 1e-2


@pytest.mark.parametrize('logits,expected', [
    ((-1, 1, -1, -1, 1, -1, 1), ('e', 'r2', 'm r1', 'm r3')),  # a Klein four-group
    ((-1, 1, -1, 1, -1, 1, -1), ('e', 'r2', 'm', 'm r2')),     # the other one
    ((1, 1, 1, -1, -1, -1, -1), ('e', 'r1', 'r2', 'r3')),      # C4
    ((-1, -1, -1, 1, -1, -1, -1), ('e', 'm')),                 # one mirror
    ((1, -1, -1, -1, -1, -1, -1), ('e',)),                     # {e, r1}: not a subgroup
])
def test_measured_equivariance_of_a_partial_p4m_net_is_the_predicted_one(logits, expected):
    numpy.random.seed(1)
    net = _TwoLayer(PartialP4MConvP4M, P4MConvZ2, logits=logits)
    measured = equivariant_elements(net, 'Z2', 'invariant', input_shape=(2, 1, 9, 9))
    assert measured == predicted_equivariance(net)  # D4: the net has p4m layers
    assert measured == equivariant_elements(net, 'Z2', 'invariant', input_shape=(2, 1, 9, 9),
                                            stabiliser='D4')
    assert measured.names == expected


def test_gates_and_temperature_survive_an_hdf5_snapshot(tmp_path):
    link = PartialP4MConvP4M(2, 2, initial_gate_logit=numpy.random.RandomState(0).randn(7),
                             temperature=0.5)
    link.temperature = 0.123456789012345678
    path = str(tmp_path / 'link.h5')
    chainer.serializers.save_hdf5(path, link)
    other = PartialP4MConvP4M(2, 2)
    assert other.temperature == 0.5
    chainer.serializers.load_hdf5(path, other)
    assert other.gate_logits.array.tobytes() == link.gate_logits.array.tobytes()
    assert other.W.array.tobytes() == link.W.array.tobytes()
    assert type(other.temperature) is float and other.temperature == link.temperature
    assert other.kept_elements() == link.kept_elements()


def test_temperature_annealing_and_gate_learning_rate():
    numpy.random.seed(0)
    model = _TwoLayer()
    assert temperature_schedule(0.0) == 0.5 and temperature_schedule(1.0) == 1e-4
    assert anneal_temperature(model, 0.25) == [pytest.approx(0.5 - 0.25 * (0.5 - 1e-4))]
    assert anneal_temperature(model, 1.0, start=2.0, end=0.1) == [0.1]
    assert partial_links(model) == [model.l2]
    with pytest.raises(ValueError, match='progress must be in'):
        anneal_temperature(model, 1.5)
    with pytest.raises(ValueError, match='optimizer.setup'):
        set_gate_learning_rate(model)
    for optimizer, name in ((chainer.optimizers.Adam(alpha=1e-2), 'alpha'),
                            (chainer.optimizers.MomentumSGD(lr=1e-1), 'lr')):
        optimizer.setup(model)
        assert set_gate_learning_rate(model, 1e-4) == 1
        assert getattr(model.l2.gate_logits.update_rule.hyperparam, name) == 1e-4
        assert getattr(model.l2.W.update_rule.hyperparam, name) == getattr(optimizer, name)
    # one Adam step moves each parameter by about its rate
    model = _TwoLayer(logits=(0.5, 0.5, 0.5))
    optimizer = chainer.optimizers.Adam(alpha=1e-2)
    optimizer.setup(model)
    set_gate_learning_rate(model, 1e-4)
    before = {n: p.array.copy() for n, p in model.namedparams()}
    x = numpy.random.RandomState(0).randn(4, 1, 9, 9).astype(numpy.float32)
    with chainer.using_config('train', True):
        loss = F.sum(model(x))
    model.cleargrads()
    loss.backward()
    optimizer.update()
    step = {n: numpy.abs(p.array - before[n]).max() for n, p in model.namedparams()}
    assert 0.5e-4 < step['/l2/gate_logits'] <= 1.01e-4
    assert 0.5e-2 < step['/l2/W'] <= 1.01e-2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='temperature must be a finite float > 0'):
        PartialP4ConvP4(1, 1, temperature=0)
    with pytest.raises(ValueError, match=r'initial_gate_logit must be .* shape \(3,\)'):
        PartialP4ConvP4(1, 1, initial_gate_logit=[1.0, 2.0])
    with pytest.raises(ValueError, match='temperature must be > 0'):
        relaxed_bernoulli_gate(numpy.zeros(2, numpy.float32), -1.0)
    with pytest.raises(ValueError, match="stabiliser must be 'C4' or 'D4'"):
        stabiliser_of([0], 'D8')
    with pytest.raises(ValueError, match='tolerance must be >= 0'):
        equivariant_elements(_TwoLayer(), 'Z2', 'invariant', tolerance=-1,
                             input_shape=(1, 1, 9, 9))


@pytest.mark.parametrize('partial_cls,full_cls,g', PAIRS)
def test_a_zero_logit_drops_its_plane_in_test_mode(partial_cls, full_cls, g):
    """Kept in test mode means logit > 0: a logit of exactly 0 drops its plane, in the output
    as in kept_elements() and last_kept."""
    partial, full = pair(partial_cls, full_cls)
    partial.gate_logits.array[:] = 1.0
    partial.gate_logits.array[0] = 0.0  # plane 1
    partial.gate_logits.array[2] = -1.0  # plane 3
    x = gmap(g)
    with chainer.using_config('train', False):
        y, y_full = partial(x).array, full(x).array
    kept = [0, 2] + list(range(4, g))
    assert partial.kept_elements().indices == tuple(kept)
    assert partial.last_kept.tolist() == [i in kept for i in range(g)]
    assert numpy.abs(y[:, :, [1, 3]]).max() == 0.0
    numpy.testing.assert_allclose(y[:, :, kept], y_full[:, :, kept], rtol=1e-6, atol=1e-6)


def test_zero_temperature_and_zero_gate_rate():
    """A gate at temperature 0 is refused (the relaxation divides by it); a gate learning rate
    of 0 is accepted: it freezes the gates while the rest trains."""
    with pytest.raises(ValueError, match='temperature must be > 0, got 0.0'):
        relaxed_bernoulli_gate(numpy.zeros(2, numpy.float32), 0.0)
    with pytest.raises(ValueError, match='lr must be >= 0'):
        set_gate_learning_rate(_TwoLayer(), -1e-4)
    model = _TwoLayer()
    optimizer = chainer.optimizers.Adam(alpha=1e-2)
    optimizer.setup(model)
    assert set_gate_learning_rate(model, 0.0) == 1
    assert model.l2.gate_logits.update_rule.hyperparam.alpha == 0.0


@pytest.mark.gpu
@pytest.mark.parametrize('partial_cls,full_cls,g', PAIRS)
def test_cupy_matches_numpy(partial_cls, full_cls, g):
    logits = numpy.where(numpy.arange(g - 1) % 2 == 0, -1.0, 1.5)
    partial, _ = pair(partial_cls, full_cls, initial_gate_logit=logits)
    x = gmap(g)
    gy = numpy.random.RandomState(2).randn(2, 3, g, 7, 7).astype(numpy.float32)
    want = run(partial, x, gy, train=False)
    partial.to_gpu()
    import cupy
    got = run(partial, cupy.asarray(x), cupy.asarray(gy), train=False)
    for a, b in zip(got, want):
        testing.assert_allclose(cupy.asnumpy(a), b, atol=1e-4, rtol=1e-4)
    cupy.random.seed(0)
    y, _, _, _ = run(partial, cupy.asarray(x), cupy.asarray(gy), train=True)
    assert partial.gate_logits.grad is not None and partial.last_kept.shape == (g,)
    numpy.testing.assert_array_equal(cupy.asnumpy(y)[:, :, ~partial.last_kept], 0)
