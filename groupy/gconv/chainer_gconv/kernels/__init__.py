"""CuPy kernels of the G-convolution layers (imported lazily: CuPy is optional)."""
from groupy.gconv.chainer_gconv.kernels.transform_filter_kernels import (  # noqa: F401
    ADJOINT, GATHER, KERNEL_SPECS, KernelSpec, adjoint_gpu, gather_gpu)

__all__ = ['ADJOINT', 'GATHER', 'KERNEL_SPECS', 'KernelSpec', 'adjoint_gpu', 'gather_gpu']
