"""The G-CNN paper's pictures of feature maps on p4 and p4m, from the first layer of the MNIST-rot
models, and the rotating p4 feature map of the original GrouPy README as an animated GIF.

    python -m gconv_experiments.paper_plots --out DIR [--weights P4CNN_snapshot.h5]
        [--p4m_weights P4MCNN_snapshot.h5] [--digit 7] [--channel C]

writes into DIR

* ``p4_fmaps.png``: a P4CNN first-layer feature map (one channel, 4 planes, the layout of
  :func:`groupy.gfunc.plot.plot_p4.plot_p4`) of a digit, and of the digit rotated by 90 degrees;
* ``p4m_fmaps.png``: a P4MCNN first-layer feature map of the digit, of its rotation by 90
  degrees and of its vertical reflection (rows flipped);
* ``p4_anim.gif``: the p4 map rotating in steps of 45 degrees (8 frames, 0.5 s each): at
  multiples of 90 degrees the drawing of ``r^k f`` (planes rolled along the arrows, each rotated
  by 90 degrees), in between the drawing turned by 45 degrees (only multiples of 90 degrees
  belong to p4).

Without weights the models are randomly initialised (seed 0): the pictures then show random
filters' responses, which are just as equivariant. ``--weights`` / ``--p4m_weights`` load a
snapshot written by training (``gconv_experiments.training.load_weights``); the model's width
(``channels``) is read from the snapshot. The digit is sklearn's bundled 8x8 digit number
``--digit``, upscaled to 28x28 as in the demo's data (MNIST_ROT/digits_rot.py). The printed
equivariance errors compare the maps of the transformed digits with the transformed maps.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import chainer  # noqa: E402
import h5py  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import Affine2D  # noqa: E402

from gconv_experiments.command_errors import run_command  # noqa: E402
from gconv_experiments.training import ConfigError, load_weights  # noqa: E402
from groupy.garray import C4_array, D4_array, p4_array, p4m_array  # noqa: E402
from groupy.gfunc import P4FuncArray, P4MFuncArray  # noqa: E402
from groupy.gfunc.plot import rings  # noqa: E402
from groupy.gfunc.plot.plot_p4 import plot_p4  # noqa: E402
from groupy.gfunc.plot.plot_p4m import plot_p4m  # noqa: E402

__all__ = ["N_FRAMES", "FRAME_MS", "STABILISER", "input_digit", "snapshot_channels", "build_model", "first_layer_maps", "rotated", "reflected", "point_element", "p4_maps", "p4m_maps", "maps_figure", "animation_frame", "save_gif", "build_parser", "main", "cli"]

N_FRAMES, FRAME_MS = 8, 500  # as the original README's p4_anim.gif
STABILISER = {"P4CNN": 4, "P4MCNN": 8}


def input_digit(index: int = 7) -> np.ndarray:
    """sklearn's bundled digit `index`, upscaled to 28x28 in [0, 1]: float32 (1, 1, 28, 28)."""
    from sklearn.datasets import load_digits
    from gconv_experiments.MNIST_ROT.digits_rot import upscale_digits
    images = load_digits().images
    if not 0 <= index < len(images):
        raise ConfigError(f"--digit must be in [0, {len(images)}), got {index}")
    return upscale_digits(images[index:index + 1] / 16.0)[:, None]


def snapshot_channels(path: str, name: str) -> int:
    """The `channels` of the `name` model saved in snapshot `path`, checking its group."""
    try:
        with h5py.File(path, "r") as f:
            w = f.get("l2/conv/W") or f.get("model/l2/conv/W")
            shape = None if w is None else w.shape
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the snapshot ({e})") from None
    if shape is None or len(shape) != 5:
        raise ConfigError(f"{path}: not a P4CNN / P4MCNN snapshot (no l2/conv/W)")
    if shape[2] != STABILISER[name]:
        other = {4: "P4CNN (--weights)", 8: "P4MCNN (--p4m_weights)"}.get(shape[2], "another")
        raise ConfigError(f"{path}: holds a {other} model, not a {name}")
    return int(shape[0])


def build_model(name: str, weights: "str | None" = None, seed: int = 0) -> chainer.Chain:
    """P4CNN or P4MCNN, random (numpy seed `seed`) or with the weights of snapshot `weights`."""
    from gconv_experiments.MNIST_ROT.models.P4CNN import P4CNN
    from gconv_experiments.MNIST_ROT.models.P4MCNN import P4MCNN
    cls = {"P4CNN": P4CNN, "P4MCNN": P4MCNN}[name]
    np.random.seed(seed)
    if weights is None:
        return cls()
    return load_weights(weights, cls(channels=snapshot_channels(weights, name)))


def first_layer_maps(model: chainer.Chain, x: np.ndarray, channel: "int | None" = None) -> np.ndarray:
    """Channel `channel` of the model's first layer (conv, BN with its running statistics,
    ReLU) on images x (N, 1, 28, 28): ndarray (N, G, 26, 26). ``channel=None``: the channel
    whose planes differ most on x[0] (mean |plane - mean of the planes|), the most
    orientation-selective one."""
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        h = model.l1(x).array
    if channel is None:
        spread = np.abs(h[0] - h[0].mean(axis=1, keepdims=True)).mean(axis=(1, 2, 3))
        channel = int(np.argmax(spread))
    if not 0 <= channel < h.shape[1]:
        raise ConfigError(f"--channel must be in [0, {h.shape[1]}), got {channel}")
    return h[:, channel]


def rotated(x: np.ndarray) -> np.ndarray:
    """r x: a quarter turn of the images' planes (np.rot90's direction, as groupy's r)."""
    return np.ascontiguousarray(np.rot90(x, 1, axes=(-2, -1)))


def reflected(x: np.ndarray) -> np.ndarray:
    """m x: the vertical reflection (rows flipped, u -> -u, as groupy's m)."""
    return np.ascontiguousarray(np.flip(x, axis=-2))


def point_element(planes: np.ndarray, m: int, r: int) -> np.ndarray:
    """The element m^m r^r of D4 (of C4 for m = 0 and 4 planes) acting about the centre of the
    planes' grid: the origin for odd sizes, the pixel corner (-1/2, -1/2) for even ones (the
    half-shifted C4 / D4 of groupy.garray), so that it maps the grid onto itself."""
    even = planes.shape[-1] % 2 == 0
    if planes.shape[-3] == 4:
        return p4_array.C4_halfshift[r] if even else C4_array.rotation(r)
    return p4m_array.D4_halfshift[4 * m + r] if even else D4_array.D4[4 * m + r]


def p4_maps(model: chainer.Chain, x: np.ndarray, channel: "int | None" = None) -> tuple:
    """The p4 maps of x and of r x (2, 4, h, w), and max |map(r x) - r map(x)|."""
    maps = first_layer_maps(model, np.concatenate([x, rotated(x)]), channel)
    r = point_element(maps[0], 0, 1)
    error = np.abs(maps[1] - (r * P4FuncArray(maps[0])).v).max()
    return maps, float(error)


def p4m_maps(model: chainer.Chain, x: np.ndarray, channel: "int | None" = None) -> tuple:
    """The p4m maps of x, r x and m x (3, 8, h, w), and the two equivariance errors."""
    maps = first_layer_maps(model, np.concatenate([x, rotated(x), reflected(x)]), channel)
    f = P4MFuncArray(maps[0])
    r, m = point_element(maps[0], 0, 1), point_element(maps[0], 1, 0)
    errors = [np.abs(maps[1] - (r * f).v).max(), np.abs(maps[2] - (m * f).v).max()]
    return maps, [float(e) for e in errors]


def maps_figure(plot, maps: list, titles: list, panel: float = 3.2) -> Figure:
    """One Figure with a `plot` (plot_p4 / plot_p4m) panel per map, all on one colour scale."""
    fig = Figure(figsize=(panel * len(maps), panel + 0.3))
    value_range = (float(np.min(maps)), float(np.max(maps)))
    for k, (planes, title) in enumerate(zip(maps, titles)):
        ax = fig.add_axes((k / len(maps), 0.0, 1.0 / len(maps), 0.92))
        plot(planes, ax=ax, fontsize=11 if plot is plot_p4 else 8, labelpad_factor_1=0.8,
             labelpad_factor_2=0.8, title=title, value_range=value_range,
             **({} if plot is plot_p4 else {"rlabels": "cayley2", "labelpad_factor_3": 0.8,
                                            "labelpad_factor_4": 0.8}))
    return fig


def animation_frame(planes: np.ndarray, k: int, value_range: tuple, size_px: int = 192) -> np.ndarray:
    """Frame k (0..7) of the rotating p4 map `planes` (4, h, w): an RGB uint8 image."""
    fig = Figure(figsize=(size_px / 96, size_px / 96), dpi=96)
    ax = fig.add_axes((0, 0, 1, 1))
    turned = (point_element(planes, 0, k // 2) * P4FuncArray(planes)).v
    transform = Affine2D().rotate_deg(45.0 * (k % 2)) + ax.transData
    style = rings.style(planes, "gray", value_range)
    radius = 1.45
    for s in range(4):
        rings.draw_plane(ax, turned[s], rings.ring_position(s, radius), style, transform)
    rings.ring_arrows(ax, radius, +1, "red", "-")
    rings.finish(ax, radius + 0.75 * rings.SIZE, None)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_gif(frames: list, path: str, duration_ms: int = FRAME_MS) -> None:
    """Write RGB frames (list of (H, W, 3) uint8) as a looping GIF."""
    from PIL import Image
    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gconv_experiments.paper_plots", allow_abbrev=False,
                                description="Draw the G-CNN paper's p4 / p4m feature-map figures.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="folder for p4_fmaps.png, p4m_fmaps.png, p4_anim.gif")
    p.add_argument("--weights", help="P4CNN snapshot (HDF5 from training); default random weights")
    p.add_argument("--p4m_weights", help="P4MCNN snapshot; default random weights")
    p.add_argument("--digit", type=int, default=7,
                   help="index into sklearn's bundled digits (7: a 7, not symmetric)")
    p.add_argument("--channel", type=int, default=None,
                   help="first-layer feature map to draw (default: the most orientation-selective)")
    return p


def main(argv: "list | None" = None) -> dict:
    """Write the three pictures; returns {name: path} and prints the equivariance errors."""
    args = build_parser().parse_args(argv)
    x = input_digit(args.digit)
    paths = {name: os.path.join(args.out, name)
             for name in ("p4_fmaps.png", "p4m_fmaps.png", "p4_anim.gif")}

    p4_model = build_model("P4CNN", args.weights)  # both first: a bad snapshot fails fast
    p4m_model = build_model("P4MCNN", args.p4m_weights)
    os.makedirs(args.out, exist_ok=True)
    p4, p4_error = p4_maps(p4_model, x, args.channel)
    rings.save(maps_figure(plot_p4, p4, ["$f$", "$r f$"]), paths["p4_fmaps.png"])
    p4m, p4m_errors = p4m_maps(p4m_model, x, args.channel)
    rings.save(maps_figure(plot_p4m, p4m, ["$f$", "$r f$", "$m f$"]), paths["p4m_fmaps.png"])
    value_range = (float(p4[0].min()), float(p4[0].max()))
    save_gif([animation_frame(p4[0], k, value_range) for k in range(N_FRAMES)],
             paths["p4_anim.gif"])

    print(f"p4 map of r x vs r (map of x): max abs difference {p4_error:.1e}")
    print(f"p4m map of r x / m x vs r / m (map of x): {p4m_errors[0]:.1e} / {p4m_errors[1]:.1e}")
    for path in paths.values():
        print(f"wrote {path}")
    return paths


def cli(argv: "list | None" = None) -> int:
    """Command-line entry: main() with bad input as one `paper_plots: error: ...` line (exit status 2)."""
    return run_command(lambda: main(argv) and None, "paper_plots", {ConfigError: 2})


if __name__ == "__main__":
    sys.exit(cli())
