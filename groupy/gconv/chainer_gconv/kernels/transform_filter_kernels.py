"""CuPy ``ElementwiseKernel`` objects for the G-filter transform: the gather and its exact adjoint.

Layouts (all C-contiguous; for the G-filter transform ``Qs = Qd = nti * k * k`` is the size of
one input filter on the group, for the original GrouPy's kernel API Qd is the size of one index
array's trailing axes):

* ``w``  (out, in, Qs): the filter bank, one row of Qs values per (out, in) pair.
* ``gather`` (nto, Qd) int32: ``tw[o, t, i, q] = w[o, i, gather[t, q]]``.
* ``tw`` (out, nto, in, Qd): the transformed filters; reshaped it is the conv weight
  (out * nto, in * nti, k, k).
* ``adjoint`` (Qs, M) int32: for each source position p, the M flat positions ``t * Qd + q`` with
  ``gather[t, q] == p`` (padded with -1). The adjoint (backward) kernel is then a *gather* plus a
  sum in a fixed order: every output element is written by one thread, there are no float
  atomics, and the result is deterministic.

float16 sums are accumulated in float; float32 and float64 in their own type.
The kernel *specs* are plain data so that tests can compile them with NVRTC without a GPU.
"""
import collections

__all__ = ['ADJOINT', 'GATHER', 'KERNEL_SPECS', 'KernelSpec', 'adjoint_gpu', 'gather_gpu']

KernelSpec = collections.namedtuple(
    'KernelSpec', ['in_params', 'out_params', 'operation', 'name', 'preamble'])

#: ``tw[o, t, i, q] = w[o, i, gather[t, q]]``, one thread per element of tw.
GATHER = KernelSpec(
    in_params='raw T w, raw int32 gather, int32 n_in, int32 n_out_t, int32 q_src, int32 q_dst',
    out_params='T tw',
    operation='''
    const ptrdiff_t q = i % q_dst;
    const ptrdiff_t oti = i / q_dst;  // (oc * n_out_t + to) * n_in + ci
    const ptrdiff_t ci = oti % n_in;
    const ptrdiff_t ot = oti / n_in;
    const ptrdiff_t to = ot % n_out_t;
    const ptrdiff_t oc = ot / n_out_t;
    tw = w[(oc * n_in + ci) * q_src + gather[to * q_dst + q]];
    ''',
    name='groupy_transform_gfilter_gather',
    preamble='')

#: ``gw[o, i, p] = sum_m gy[o, t_m, i, q_m]`` over the entries ``t_m * Q + q_m`` of ``adjoint[p]``.
ADJOINT = KernelSpec(
    in_params=('raw T gy, raw int32 adjoint, int32 n_in, int32 n_out_t, int32 q_src, '
               'int32 q_dst, int32 mult'),
    out_params='T gw',
    operation='''
    const ptrdiff_t p = i % q_src;
    const ptrdiff_t oi = i / q_src;  // oc * n_in + ci
    const ptrdiff_t ci = oi % n_in;
    const ptrdiff_t oc = oi / n_in;
    groupy_acc_t acc = 0;
    for (int m = 0; m < mult; ++m) {
        const int e = adjoint[p * mult + m];
        if (e >= 0) {
            const ptrdiff_t to = e / q_dst;
            const ptrdiff_t q = e % q_dst;
            acc += static_cast<groupy_acc_t>(gy[((oc * n_out_t + to) * n_in + ci) * q_dst + q]);
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


def gather_gpu(w, gather, out=None):
    """w (out, in, Qs) cupy array, gather (nto, Qd) int32 -> tw (out, nto, in, Qd).

    ``out``: optional array to write into, of any shape with out * nto * in * Qd elements (in
    C order) and w's dtype; it is returned."""
    import cupy
    w = cupy.ascontiguousarray(w)
    n_out, n_in, q_src = w.shape
    n_out_t, q_dst = gather.shape
    shape = (n_out, n_out_t, n_in, q_dst)
    if out is None:
        out = cupy.empty(shape, dtype=w.dtype)
    elif out.size != n_out * n_out_t * n_in * q_dst or out.dtype != w.dtype:
        raise ValueError('gather_gpu: out must have {} elements ({}) of dtype {}, got shape {} '
                         'and dtype {}'.format(n_out * n_out_t * n_in * q_dst, shape, w.dtype,
                                               out.shape, out.dtype))
    _kernel(GATHER)(w, gather, n_in, n_out_t, q_src, q_dst, out)
    return out


def adjoint_gpu(gy, adjoint):
    """gy (out, nto, in, Qd) cupy array, adjoint (Qs, M) int32 -> gw (out, in, Qs)."""
    import cupy
    gy = cupy.ascontiguousarray(gy)
    n_out, n_out_t, n_in, q_dst = gy.shape
    q_src, mult = adjoint.shape
    gw = cupy.empty((n_out, n_in, q_src), dtype=gy.dtype)
    _kernel(ADJOINT)(gy, adjoint, n_in, n_out_t, q_src, q_dst, mult, gw)
    return gw
