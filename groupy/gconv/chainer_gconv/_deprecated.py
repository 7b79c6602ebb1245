"""Arguments of the original GrouPy that Chainer 7 no longer has: accepted, ignored, warned."""
import warnings


def ignore_use_cudnn(use_cudnn, where):
    """Warn (DeprecationWarning) that ``use_cudnn`` given to `where` is ignored, unless it is
    None (not given). Chainer 7 selects cuDNN through its configuration instead."""
    if use_cudnn is not None:
        warnings.warn(
            '{}: use_cudnn={!r} is ignored (an argument of the original GrouPy for Chainer 1); '
            "use chainer.using_config('use_cudnn', 'never' / 'auto' / 'always') instead"
            .format(where, use_cudnn), DeprecationWarning, stacklevel=3)
