"""PyTorch twins of the project's Chainer models, for the side-by-side benchmark only.

Runs in the separate PyTorch virtualenv (``benchmarks/.venv-torch``, made by
``benchmarks/setup_torch_env.sh``); PyTorch is never a dependency of the project.

The twins have the layers, shapes, parameter layout and names of the Chainer models
(``gconv_experiments/MNIST_ROT/models/{Z2CNN,P4CNN,P4CNN_RP,P4MCNN}.py``,
``gconv_experiments/CIFAR10/models/{AllCNNC,P4AllCNNC,P4MAllCNNC,P4MResNet}.py``), so the
Chainer parameters load into them and the logits are compared (``--check``):

* a G-convolution keeps ``W`` (out, in, nis, k, k); its conv2d weight stacks the filter moved by
  every output stabiliser element g, then one ``F.conv2d`` on (N, in * nis, H, W). For p4,
  g = r: ``rot90(W, r)`` with the input orientation axis rolled by r; for p4m, g = (m, r)
  (index m * 4 + r): the planes n * 4 + s are taken from n' * 4 + s' with n' = (n + m) % 2,
  s' = (s - (-1)**(n + m) r) % 4, each rotated by r and, if m, flipped on the row axis (the
  formulas of ``groupy.gconv.make_gconv_indices``, derived there from the group law);
* batch normalisation: one statistic per feature map shared over the stabiliser
  (``BatchNorm3d`` on (N, C, G, H, W)), eps = 2e-5 as Chainer's;
* dropout, 2x2 max pooling, orientation max, plane max / mean as in the Chainer models.

The training-step runner is ``torch_worker.py``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 2e-5  # chainer.links.BatchNormalization's default


def _p4m_plane_perm(m, r):
    """Source plane n' * 4 + s' of every target plane n * 4 + s under g = (m, r)."""
    return [((n + m) % 2) * 4 + (s - (-1) ** (n + m) * r) % 4 for n in (0, 1) for s in range(4)]


class GConv(nn.Module):
    """Plain (nos == 1), p4 (nos == 4) or p4m (nos == 8) convolution with Chainer's names W, b.

    x (N, in, nis, H, W) or (N, in, H, W) -> (N, out, nos, H', W') (planar: (N, out, H', W'))."""

    def __init__(self, cin, cout, ksize, nis=1, nos=1, stride=1, pad=0, bias=True):
        super().__init__()
        self.nis, self.nos, self.stride, self.pad = nis, nos, stride, pad
        shape = (cout, cin, ksize, ksize) if nos == 1 else (cout, cin, nis, ksize, ksize)
        self.W = nn.Parameter(torch.randn(*shape) * (1.0 / (nis * cin * ksize ** 2)) ** 0.5)
        self.b = nn.Parameter(torch.zeros(cout)) if bias else None
        if nos == 8:
            self.perms = [torch.tensor(_p4m_plane_perm(m, r) if nis == 8 else [0])
                          for m in (0, 1) for r in range(4)]

    def filter_stack(self):
        w = self.W
        if self.nos == 1:
            return w
        out, cin, nis, k, _ = w.shape
        moved = []
        for g in range(self.nos):
            m, r = divmod(g, 4)
            if self.nos == 8:
                wg = torch.rot90(w.index_select(2, self.perms[g]), r, dims=(3, 4))
                if m:
                    wg = torch.flip(wg, dims=(3,))
            else:
                wg = torch.rot90(w, r, dims=(3, 4))
                if nis == 4:
                    wg = torch.roll(wg, shifts=r, dims=2)
            moved.append(wg)
        return torch.stack(moved, dim=1).reshape(out * self.nos, cin * nis, k, k)

    def forward(self, x):
        n = x.shape[0]
        x = x.reshape(n, -1, x.shape[-2], x.shape[-1])
        b = self.b
        if b is not None and self.nos > 1:
            b = b.repeat_interleave(self.nos)
        y = F.conv2d(x, self.filter_stack(), b, stride=self.stride, padding=self.pad)
        if self.nos == 1:
            return y
        return y.reshape(n, -1, self.nos, y.shape[-2], y.shape[-1])


def bn(channels, planar):
    return (nn.BatchNorm2d if planar else nn.BatchNorm3d)(channels, eps=BN_EPS)


class ConvBNAct(nn.Module):
    """conv -> batch norm (per feature map, shared over the stabiliser) -> ReLU."""

    def __init__(self, conv, channels, planar):
        super().__init__()
        self.conv, self.bn = conv, bn(channels, planar)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def pool2x2(h):
    """2x2 / stride-2 max pooling of (N, C, H, W) or, per stabiliser channel, (N, C, G, H, W)."""
    if h.dim() == 4:
        return F.max_pool2d(h, 2, 2)
    n, c, g, hh, ww = h.shape
    return F.max_pool2d(h.reshape(n, c * g, hh, ww), 2, 2).reshape(n, c, g, hh // 2, ww // 2)


class MnistCNN(nn.Module):
    """Z2CNN ('z2', 20 maps, dropout 0.3 after 1, 3, 4, 5, 6), P4CNN ('p4', 10), P4MCNN
    ('p4m', 7) (no dropout) and P4CNN_RP ('rp': planar maps, P4ConvZ2 + orientation max)."""

    def __init__(self, kind, dropout=0.0):
        super().__init__()
        self.kind, self.dropout = kind, dropout
        c = {'z2': 20, 'p4': 10, 'p4m': 7, 'rp': 20}[kind]
        nos = {'z2': 1, 'p4': 4, 'p4m': 8, 'rp': 4}[kind]
        self.drop_after = (1, 3, 4, 5, 6) if kind == 'z2' else (1, 3, 4, 5)

        def conv(cin, cout, k, first):
            nis = 1 if first or kind in ('z2', 'rp') else nos
            return GConv(cin, cout, k, nis=nis, nos=nos)

        for i in range(1, 7):
            cin = 1 if i == 1 else c
            setattr(self, 'l%d' % i, ConvBNAct(conv(cin, c, 3, i == 1), c, kind == 'z2'))
        self.top = conv(c, 10, 4, False)

    def forward(self, x):
        h = x
        for i in range(1, 7):
            h = getattr(self, 'l%d' % i)(h)
            if self.kind == 'rp':
                h = h.amax(dim=2)
            if i == 2:
                h = pool2x2(h)
            if self.dropout and i in self.drop_after:
                h = F.dropout(h, self.dropout, self.training)
        h = self.top(h)
        if self.kind != 'z2':
            h = h.amax(dim=2)  # orientation max pooling
        return h.amax(dim=(2, 3))


class AllCNNC(nn.Module):
    """All-CNN-C with BN + ReLU after all nine convolutions (each with a bias), l7 3x3 pad 1."""

    def __init__(self, kind, dropout=True):
        super().__init__()
        nos = {'z2': 1, 'p4': 4, 'p4m': 8}[kind]
        w1, w2 = {'z2': (96, 192), 'p4': (48, 96), 'p4m': (32, 64)}[kind]
        self.dropout = dropout

        def cba(cin, cout, k=3, stride=1, pad=1, first=False):
            conv = GConv(cin, cout, k, nis=1 if first else nos, nos=nos, stride=stride, pad=pad)
            return ConvBNAct(conv, cout, nos == 1)

        self.l1 = cba(3, w1, first=True)
        self.l2 = cba(w1, w1)
        self.l3 = cba(w1, w1, stride=2)
        self.l4 = cba(w1, w2)
        self.l5 = cba(w2, w2)
        self.l6 = cba(w2, w2, stride=2)
        self.l7 = cba(w2, w2)
        self.l8 = cba(w2, w2, k=1, pad=0)
        self.l9 = cba(w2, 10, k=1, pad=0)

    def _drop(self, h, ratio):
        return F.dropout(h, ratio, self.training) if self.dropout else h

    def forward(self, x):
        h = self._drop(x, 0.2)
        h = self._drop(self.l3(self.l2(self.l1(h))), 0.5)
        h = self._drop(self.l6(self.l5(self.l4(h))), 0.5)
        h = self.l9(self.l8(self.l7(h)))
        return h.mean(dim=tuple(range(2, h.dim())))


class ResBlock(nn.Module):
    """Pre-activation block: conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut(x)."""

    def __init__(self, cin, cout, nos, stride):
        super().__init__()
        planar = nos == 1
        self.bn1 = bn(cin, planar)
        self.conv1 = ConvBNAct(GConv(cin, cout, 3, nos, nos, stride=stride, pad=1), cout, planar)
        self.conv2 = GConv(cout, cout, 3, nos, nos, pad=1)
        self.fiber_map = (GConv(cin, cout, 1, nos, nos, stride=stride)
                          if cin != cout or stride != 1 else None)

    def forward(self, x):
        h = self.conv2(self.conv1(F.relu(self.bn1(x))))
        return h + (x if self.fiber_map is None else self.fiber_map(x))


class ResNet(nn.Module):
    """Pre-activation (p4m-)ResNet: conv1, 3 stages of `num_blocks` blocks, BN-ReLU, the plane
    mean of the (N, C * G, 8, 8) map, a 1x1 convolution (the release's head)."""

    def __init__(self, kind, num_blocks, widths):
        super().__init__()
        nos = {'z2': 1, 'p4m': 8}[kind]
        self.conv1 = GConv(3, widths[0], 3, 1, nos, pad=1)
        blocks, cin = [], widths[0]
        for stage, width in enumerate(widths):
            for i in range(num_blocks):
                blocks.append(ResBlock(cin, width, nos, 2 if stage > 0 and i == 0 else 1))
                cin = width
        self.blocks = nn.ModuleList(blocks)
        self.bn_out = bn(widths[-1], nos == 1)
        self.top = GConv(widths[-1] * nos, 10, 1)

    def forward(self, x):
        h = self.conv1(x)
        for block in self.blocks:
            h = block(h)
        h = F.relu(self.bn_out(h))
        h = h.reshape(h.shape[0], -1, h.shape[-2], h.shape[-1]).mean(dim=(2, 3), keepdim=True)
        return self.top(h).reshape(h.shape[0], -1)


MODELS = {
    'Z2CNN': lambda nd: MnistCNN('z2', dropout=0 if nd else 0.3),
    'P4CNN': lambda nd: MnistCNN('p4'),
    'P4CNN_RP': lambda nd: MnistCNN('rp'),
    'P4MCNN': lambda nd: MnistCNN('p4m'),
    'AllCNNC': lambda nd: AllCNNC('z2', dropout=not nd),
    'P4AllCNNC': lambda nd: AllCNNC('p4', dropout=not nd),
    'P4MAllCNNC': lambda nd: AllCNNC('p4m', dropout=not nd),
    'P4MResNet44': lambda nd: ResNet('p4m', 7, (11, 23, 45)),
}


def build(name, no_dropout=False):
    """The twin of model `name` (a key of MODELS); no_dropout for the logits check."""
    return MODELS[name](no_dropout)
