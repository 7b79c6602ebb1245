"""CuPy ``ElementwiseKernel``s for the G-filter transform: the gather and its exact adjoint.

Layouts (all C-contiguous, ``Q = nti * k * k`` = size of one input filter on the group):

* ``w``  (out, in, Q): the filter bank, one row of Q values per (out, in) pair.
* ``gather`` (nto, Q) int32: ``tw[o, t, i, q] = w[o, i, gather[t, q]]``.
* ``tw`` (out, nto, in, Q): the transformed filters; reshaped it is the conv weight
  (out * nto, in * nti, k, k).
* ``adjoint`` (Q, M) int32: for each source position p, the M flat positions ``t * Q + q`` with
  ``gather[t, q] == p`` (padded with -1). The adjoint (backward) kernel is then a *gather* plus a
  sum in a fixed order: every output element is written by one thread, there are no float
  atomics, and the result is deterministic.

float16 sums are accumulated in float; float32 and float64 in their own type.
The kernel *specs* are plain data so that tests can compile them with NVRTC without a GPU.
"""
import collections

KernelSpec = collections.namedtuple(
    'KernelSpec', ['in_params', 'out_params', 'operation', 'name', 'preamble'])

#: ``tw[o, t, i, q] = w[o, i, gather[t, q]]``, one thread per element of tw.
GATHER = KernelSpec(
    in_params='raw T w, raw int32 gather, int32 n_in, int32 n_out_t, int32 q_size',
    out_params='T tw',
    operation='''
    const ptrdiff_t q = i % q_size;
    const ptrdiff_t oti = i / q_size;  // (oc * n_out_t + to) * n_in + ci
    const ptrdiff_t ci = oti % n_in;
    const ptrdiff_t ot = oti / n_in;
    const ptrdiff_t to = ot % n_out_t;
    const ptrdiff_t oc = ot / n_out_t;
    tw = w[(oc * n_in + ci) * q_size + gather[to * q_size + q]];
    ''',
    name='groupy_transform_gfilter_gather',
    preamble='')

#: ``gw[o, i, p] = sum_m gy[o, t_m, i, q_m]`` over the entries ``t_m * Q + q_m`` of ``adjoint[p]``.
ADJOINT = KernelSpec(
    in_params='raw T gy, raw int32 adjoint, int32 n_in, int32 n_out_t, int32 q_size, int32 mult',
    out_params='T gw',
    operation='''
    const ptrdiff_t p = i % q_size;
    const ptrdiff_t oi = i / q_size;  // oc * n_in + ci
    const ptrdiff_t ci = oi % n_in;
    const ptrdiff_t oc = oi / n_in;
    groupy_acc_t acc = 0;
    for (int m = 0; m < mult; ++m) {
        const int e = adjoint[p * mult + m];
        if (e >= 0) {
            const ptrdiff_t to = e / q_size;
            const ptrdiff_t q = e % q_size;
            acc += static_cast<groupy_acc_t>(gy[((oc * n_out_t + to) * n_in + ci) * q_size + q]);
        }
    }
    gw = static_cast<T>(acc);
    ''',
    name='groupy_transform_gfilter_adjoint',
    preamble='''
    template <typename U> struct groupy_acc { typedef U type; };
    template <> struct groupy_acc<float16> { typedef float type; };
    typedef groupy_acc<T>::type groupy_acc_t;
    ''')

KERNEL_SPECS = (GATHER, ADJOINT)

_compiled = {}


def _kernel(spec):
    """The ``cupy.ElementwiseKernel`` for ``spec``, built once (CuPy caches the binaries)."""
    kernel = _compiled.get(spec.name)
    if kernel is None:
        import cupy
        kernel = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.operation,
                                        spec.name, preamble=spec.preamble)
        _compiled[spec.name] = kernel
    return kernel


def gather_gpu(w, gather):
    """w (out, in, Q) cupy array, gather (nto, Q) int32 -> tw (out, nto, in, Q)."""
    import cupy
    w = cupy.ascontiguousarray(w)
    n_out, n_in, q_size = w.shape
    n_out_t = gather.shape[0]
    tw = cupy.empty((n_out, n_out_t, n_in, q_size), dtype=w.dtype)
    _kernel(GATHER)(w, gather, n_in, n_out_t, q_size, tw)
    return tw


def adjoint_gpu(gy, adjoint):
    """gy (out, nto, in, Q) cupy array, adjoint (Q, M) int32 -> gw (out, in, Q)."""
    import cupy
    gy = cupy.ascontiguousarray(gy)
    n_out, n_out_t, n_in, q_size = gy.shape
    gw = cupy.empty((n_out, n_in, q_size), dtype=gy.dtype)
    _kernel(ADJOINT)(gy, adjoint, n_in, n_out_t, q_size, adjoint.shape[1], gw)
    return gw
