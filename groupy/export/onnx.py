"""ONNX export of a collapsed network (:func:`export_onnx`), through onnx-chainer, checked in
onnxruntime. Needs the ``export`` extra (onnx-chainer, onnx, onnxruntime)."""
import warnings
from typing import Optional

import numpy

import chainer

__all__ = ['export_onnx', 'initializers_as_constants', 'run_onnxruntime', 'supported_opsets']


def _require(module):
    try:
        return __import__(module)
    except ImportError as e:
        raise ImportError('groupy.export: ONNX export needs {} (pip install "groupy[export]": '
                          'onnx-chainer, onnx, onnxruntime); {}'.format(module, e)) from None


def supported_opsets() -> range:
    """The ONNX opsets export_onnx writes: those onnx-chainer converts to (7 to 11). Below them
    the converters write nodes onnxruntime cannot run; above, nodes the ONNX checker rejects."""
    onnx_chainer = _require('onnx_chainer')
    return range(onnx_chainer.MINIMUM_OPSET_VERSION, onnx_chainer.MAXIMUM_OPSET_VERSION + 1)


def initializers_as_constants(model_proto):
    """Remove the graph inputs that are initializers (onnx-chainer lists the parameters as
    inputs too), so runtimes treat the weights as constants. Modifies and returns the proto."""
    names = {init.name for init in model_proto.graph.initializer}
    keep = [i for i in model_proto.graph.input if i.name not in names]
    del model_proto.graph.input[:]
    model_proto.graph.input.extend(keep)
    return model_proto


def run_onnxruntime(path, x):
    """The outputs of the ONNX file ``path`` for the input batch x (NumPy), on the CPU."""
    ort = _require('onnxruntime')
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})


def export_onnx(net: chainer.Link, x, path: str, opset_version: Optional[int] = None,
                check: bool = True) -> Optional[float]:
    """Write ``net`` (a CollapsedNet or any Chain of standard links/functions) to ``path`` as
    ONNX, traced on the batch x (N, C, H, W) (NumPy, the net on the CPU; the batch size and map
    size of x are the ones in the file). Parameters are stored as initializers only, not graph
    inputs. ``opset_version``: one of :func:`supported_opsets` (None: the newest of them), else
    ValueError.

    Returns:
        float or None: with ``check``, the max absolute difference between onnxruntime's output
        on x and ``net(x)`` in Chainer (test mode).

    >>> import os, tempfile, numpy
    >>> from groupy.export import collapse
    >>> from groupy.gconv.chainer_gconv import P4ConvZ2
    >>> net = collapse(P4ConvZ2(1, 2, ksize=3), input_shape=(1, 1, 5, 5))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     diff = export_onnx(net, numpy.ones((1, 1, 5, 5), numpy.float32),
    ...                        os.path.join(folder, 'net.onnx'))
    >>> diff < 1e-5
    True
    """
    onnx_chainer = _require('onnx_chainer')
    onnx = _require('onnx')
    opsets = supported_opsets()
    if opset_version is not None and opset_version not in opsets:
        raise ValueError('export_onnx: opset_version must be one of the opsets onnx-chainer converts '
                         'to, {} to {}, got {!r}'.format(opsets[0], opsets[-1], opset_version))
    x = numpy.asarray(x)
    # groupy's fast CPU nodes keep Chainer's class names (onnx-chainer converts them); with the
    # fast paths off they compute with Chainer's own code, the reference the file is checked on
    with chainer.using_config('train', False), \
            chainer.using_config('groupy_fast_cpu_conv', False), warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=DeprecationWarning, module='onnx_chainer')
        model_proto = onnx_chainer.export(net, x, filename=None, opset_version=opset_version,
                                          input_names=['x'], output_names=['y'])
        with chainer.no_backprop_mode():
            expected = net(x).array
    initializers_as_constants(model_proto)
    onnx.checker.check_model(model_proto)
    onnx.save(model_proto, path)
    if not check:
        return None
    got = run_onnxruntime(path, x)[0]
    return float(numpy.abs(numpy.asarray(got, numpy.float64) - expected).max())
