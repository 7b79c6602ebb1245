"""PyTorch twins of the project's Chainer models, for the side-by-side benchmark only.

Runs in the separate PyTorch virtualenv (``benchmarks/.venv-torch``, made by
``benchmarks/setup_torch_env.sh``); PyTorch is never a dependency of the project.

The twins have the same layers, shapes, parameter layout and names as the Chainer models
(``gconv_experiments/MNIST_ROT/models/{Z2CNN,P4CNN}.py``,
``gconv_experiments/CIFAR10/models/{AllCNNC,P4AllCNNC}.py``), so the Chainer parameters can be
loaded into them and the logits compared (``--check``):

* a p4 convolution keeps ``W`` of shape (out, in, nis, k, k); its conv2d weight stacks, for each
  output rotation r, ``rot90(W, r)`` on the spatial axes with the input orientation axis rolled
  by r (``torch.rot90`` + ``torch.roll``), then one ``F.conv2d`` on (N, in * nis, H, W);
* batch normalisation has one statistic per feature map shared over the orientations
  (``BatchNorm3d`` on (N, C, 4, H, W)), eps = 2e-5 as Chainer's;
* dropout, 2x2 max pooling, orientation max / mean pooling as in the Chainer models.

As a script it is the PyTorch side of ``benchmarks/run_benchmarks.py``: it times training steps
(forward, backward, Adam update) of one model in a fresh process and prints one JSON line with
the step times and the peak resident set size (see ``benchmarks/step_worker.py`` for the Chainer
side and the JSON fields).
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from step_common import random_batch, run_worker, step_parser, time_steps

BN_EPS = 2e-5  # chainer.links.BatchNormalization's default


class PlainConv(nn.Module):
    """Z2 -> Z2 convolution with Chainer's parameter names W (out, in, k, k) and b (out,)."""

    def __init__(self, cin, cout, ksize, stride=1, pad=0, bias=True):
        super().__init__()
        self.stride, self.pad = stride, pad
        self.W = nn.Parameter(torch.randn(cout, cin, ksize, ksize) * (1.0 / (cin * ksize ** 2)) ** 0.5)
        self.b = nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.W, self.b, stride=self.stride, padding=self.pad)


class P4Conv(nn.Module):
    """p4 convolution (P4ConvZ2 when nis == 1, P4ConvP4 when nis == 4).

    x (N, in, nis, H, W) or (N, in, H, W) -> (N, out, 4, H', W')."""

    def __init__(self, cin, cout, ksize, nis, stride=1, pad=0, bias=True):
        super().__init__()
        self.nis, self.stride, self.pad = nis, stride, pad
        std = (1.0 / (nis * cin * ksize ** 2)) ** 0.5
        self.W = nn.Parameter(torch.randn(cout, cin, nis, ksize, ksize) * std)
        self.b = nn.Parameter(torch.zeros(cout)) if bias else None

    def filter_stack(self):
        w = self.W
        rotated = []
        for r in range(4):
            wr = torch.rot90(w, r, dims=(3, 4))
            if self.nis == 4:
                wr = torch.roll(wr, shifts=r, dims=2)
            rotated.append(wr)
        out, cin, nis, k, _ = w.shape
        return torch.stack(rotated, dim=1).reshape(out * 4, cin * nis, k, k)

    def forward(self, x):
        n = x.shape[0]
        x = x.reshape(n, -1, x.shape[-2], x.shape[-1])
        b = None if self.b is None else self.b.repeat_interleave(4)
        y = F.conv2d(x, self.filter_stack(), b, stride=self.stride, padding=self.pad)
        return y.reshape(n, -1, 4, y.shape[-2], y.shape[-1])


class ConvBNAct(nn.Module):
    """conv -> batch norm (one statistic per feature map, shared over orientations) -> ReLU."""

    def __init__(self, conv, channels, planar):
        super().__init__()
        self.conv = conv
        self.bn = (nn.BatchNorm2d if planar else nn.BatchNorm3d)(channels, eps=BN_EPS)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class MnistCNN(nn.Module):
    """Z2CNN (planar, 20 channels) or P4CNN (p4, 10 channels) of Cohen & Welling, MNIST-rot."""

    def __init__(self, group, channels=None, dropout=0.3, in_channels=1, n_classes=10):
        super().__init__()
        self.group, self.dropout = group, dropout
        planar = group == 'z2'
        c = channels or (20 if planar else 10)

        def conv(cin, cout, k, first=False):
            if planar:
                return PlainConv(cin, cout, k)
            return P4Conv(cin, cout, k, nis=1 if first else 4)

        for i in range(1, 7):
            cin = in_channels if i == 1 else c
            setattr(self, 'l%d' % i, ConvBNAct(conv(cin, c, 3, first=i == 1), c, planar))
        self.top = conv(c, n_classes, 4)

    def forward(self, x):
        h = x
        for i in range(1, 7):
            h = getattr(self, 'l%d' % i)(h)
            if i == 2:
                if self.group == 'z2':
                    h = F.max_pool2d(h, 2, 2)
                else:
                    n, c, g, hh, ww = h.shape
                    h = F.max_pool2d(h.reshape(n, c * g, hh, ww), 2, 2).reshape(
                        n, c, g, hh // 2, ww // 2)
            if self.dropout:
                h = F.dropout(h, self.dropout, self.training)
        h = self.top(h)
        if self.group != 'z2':
            h = h.amax(dim=2)  # orientation max pooling
        return h.mean(dim=(2, 3))


class AllCNNC(nn.Module):
    """All-CNN-C with BN (planar widths 96/192, p4 widths 48/96), as the CIFAR10 models."""

    def __init__(self, group, widths=None, dropout=True, num_classes=10):
        super().__init__()
        planar = group == 'z2'
        w1, w2 = widths or ((96, 192) if planar else (48, 96))
        self.dropout = dropout

        def conv(cin, cout, k=3, stride=1, pad=1, first=False, bias=False):
            if planar:
                return PlainConv(cin, cout, k, stride, pad, bias=bias)
            return P4Conv(cin, cout, k, nis=1 if first else 4, stride=stride, pad=pad, bias=bias)

        def cba(*args, **kwargs):
            return ConvBNAct(conv(*args, **kwargs), args[1], planar)

        self.l1 = cba(3, w1, first=True)
        self.l2 = cba(w1, w1)
        self.l3 = cba(w1, w1, stride=2)
        self.l4 = cba(w1, w2)
        self.l5 = cba(w2, w2)
        self.l6 = cba(w2, w2, stride=2)
        self.l7 = cba(w2, w2, pad=0)
        self.l8 = cba(w2, w2, k=1, pad=0)
        self.l9 = conv(w2, num_classes, k=1, pad=0, bias=True)

    def _drop(self, h, ratio):
        return F.dropout(h, ratio, self.training) if self.dropout else h

    def forward(self, x):
        h = self._drop(x, 0.2)
        h = self._drop(self.l3(self.l2(self.l1(h))), 0.5)
        h = self._drop(self.l6(self.l5(self.l4(h))), 0.5)
        h = self.l9(self.l8(self.l7(h)))
        return h.mean(dim=tuple(range(2, h.dim())))


MODELS = {
    'Z2CNN': lambda **kw: MnistCNN('z2', dropout=0 if kw.get('no_dropout') else 0.3),
    'P4CNN': lambda **kw: MnistCNN('p4', dropout=0 if kw.get('no_dropout') else 0.3),
    'AllCNNC': lambda **kw: AllCNNC('z2', dropout=not kw.get('no_dropout')),
    'P4AllCNNC': lambda **kw: AllCNNC('p4', dropout=not kw.get('no_dropout')),
}


def load_chainer_params(model, params):
    """Copy Chainer parameters {'/l1/conv/W': array, '/l1/bn/gamma': ...} into the twin."""
    names = {'gamma': 'weight', 'beta': 'bias', 'avg_mean': 'running_mean',
             'avg_var': 'running_var'}
    state = model.state_dict()
    loaded = set()
    for path, array in params.items():
        parts = path.strip('/').split('/')
        key = '.'.join(parts[:-1] + [names.get(parts[-1], parts[-1])])
        if key not in state:
            raise KeyError('no parameter {} in the torch twin for Chainer {}'.format(key, path))
        if tuple(state[key].shape) != tuple(array.shape):
            raise ValueError('{}: shape {} in torch, {} in Chainer'.format(
                key, tuple(state[key].shape), array.shape))
        state[key] = torch.from_numpy(np.asarray(array))
        loaded.add(key)
    missing = {k for k, v in model.named_parameters()} - loaded
    if missing:
        raise KeyError('torch parameters without a Chainer value: {}'.format(sorted(missing)))
    model.load_state_dict(state)


def run_steps(args):
    torch.manual_seed(args.seed)
    device = torch.device('cuda' if args.device == 'gpu' else 'cpu')
    model = MODELS[args.model]().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, t = random_batch(args)
    x, t = torch.from_numpy(x).to(device), torch.from_numpy(t.astype(np.int64)).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        if device.type == 'cuda':
            torch.cuda.synchronize()

    measured = time_steps(step, args)
    return {'side': 'torch', 'model': args.model, **measured,
            'threads': torch.get_num_threads(), 'version': torch.__version__,
            'device': args.device}


def run_check(args):
    """Load the Chainer parameters and input from an npz, return the twin's logits there."""
    data = np.load(args.check)
    model = MODELS[args.model](no_dropout=True)
    load_chainer_params(model, {k[len('param:'):]: data[k] for k in data.files
                                if k.startswith('param:')})
    model.train()  # batch statistics, as Chainer in training mode
    with torch.no_grad():
        logits = model(torch.from_numpy(data['x'])).numpy()
    np.save(args.out, logits)
    return {'side': 'torch', 'model': args.model, 'logits': args.out}


def main(argv=None):
    p = step_parser('PyTorch side of benchmarks/run_benchmarks.py', MODELS,
                    'npz with Chainer parameters and input: compare logits')
    p.add_argument('--out', help='where --check writes the logits (.npy)')
    return run_worker(p, argv, run_check, run_steps)


if __name__ == '__main__':
    sys.exit(main())
