"""The base class of every experiment model: class scores in, loss and accuracy out."""
import chainer
import chainer.functions as F

__all__ = ["Classifier"]


class Classifier(chainer.Chain):
    """Base class of the experiment models: a subclass defines `logits(x)` -> (N, n_classes);
    calling the model as `model(x, t)` gives (softmax cross-entropy loss, accuracy).

    >>> import chainer.links as L, numpy as np
    >>> class Linear(Classifier):
    ...     def __init__(self):
    ...         super().__init__()
    ...         with self.init_scope():
    ...             self.fc = L.Linear(4, 3)
    ...     def logits(self, x):
    ...         return self.fc(x)
    >>> loss, acc = Linear()(np.zeros((2, 4), np.float32), np.array([0, 1], np.int32))
    >>> loss.shape, acc.shape
    ((), ())
    """

    def logits(self, x) -> chainer.Variable:
        """Class scores (N, n_classes) of the inputs x."""
        raise NotImplementedError(f"{type(self).__name__} must define logits(x)")

    def forward(self, x, t) -> tuple:
        """(softmax cross-entropy loss, accuracy) of the inputs x with labels t."""
        y = self.logits(x)
        return F.softmax_cross_entropy(y, t), F.accuracy(y, t)
