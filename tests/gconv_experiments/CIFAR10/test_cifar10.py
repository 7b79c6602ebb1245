"""CIFAR-10 reading, splitting, the release's GCN + ZCA (against a direct computation of its
formulas), label alignment, caching, damaged caches and bad-input errors on tiny archives."""
import gzip
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gconv_experiments.CIFAR10 import cifar10

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_read_archive_and_folder_agree(tmp_path, tiny_archive, tiny_batches, cifar_writers):
    from_tar = cifar10.read_batches(tiny_archive)
    folder = cifar_writers.write_folder(str(tmp_path / 'x' / 'cifar-10-batches-py'), tiny_batches)
    from_dir = cifar10.read_batches(str(tmp_path / 'x'))  # parent folder is searched too
    assert cifar10.find_source(str(tmp_path / 'x')) == folder
    for name in cifar10.ALL_BATCHES:
        x, t = from_tar[name]
        assert x.dtype == np.uint8 and x.shape == (20, 3, 32, 32)
        np.testing.assert_array_equal(x.reshape(20, -1), tiny_batches[name][b'data'])
        np.testing.assert_array_equal(t, tiny_batches[name][b'labels'])
        np.testing.assert_array_equal(from_dir[name][0], x)
    # channel-major layout: the first 1024 values are the red plane
    np.testing.assert_array_equal(from_tar['test_batch'][0][3, 0].ravel(),
                                  tiny_batches['test_batch'][b'data'][3, :1024])


def test_split_sizes_and_cache_files(tmp_path, tiny_archive):
    datadir = str(tmp_path)
    data = cifar10.load(datadir)
    sizes = {s: len(data[s][0]) for s in cifar10.SPLITS}
    assert sizes == {'train': 80, 'val': 20, 'train_all': 100, 'test': 20}
    for s, (x, t) in data.items():
        assert x.dtype == np.float32 and x.shape[1:] == (3, 32, 32)
        assert t.dtype == np.int32 and t.shape == (len(x),)
        assert np.all(np.isfinite(x))
    for s in cifar10.SPLITS:
        assert os.path.isfile(os.path.join(datadir, 'preprocessed', s + '.npz'))
    assert not [f for f in os.listdir(os.path.join(datadir, 'preprocessed')) if f.startswith('.')]
    np.testing.assert_array_equal(cifar10.load_split(datadir, 'valid')[1], data['val'][1])


# ---------------------------------------------------------------- the release's formulas, directly

def release_gcn(x):
    """cifar10.py normalize() of the release, on float32 images (N, 3, 32, 32), in float64."""
    x = x.astype(np.float64)
    x = x - x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.sqrt(x.var(axis=(1, 2, 3), ddof=1, keepdims=True))
    std[std < 1e-8] = 1.0
    return x / std


def release_pca(fit):
    """PCA.fit of the release on data (D, n) -> (U, S, m) and its ZCA transform (whiten=True)."""
    m = fit.mean(axis=1)[:, None]
    u, s, _ = np.linalg.svd((fit - m) / np.sqrt(fit.shape[1] - 1), full_matrices=False)
    u, s = u[:, :fit.shape[1]], s[:fit.shape[1]]
    return lambda d: u @ np.diag(1.0 / (s + 1e-5)) @ u.T @ (d - m), u, s


def test_global_contrast_normalize_is_the_releases():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(7, 3, 4, 4)).astype(np.uint8)
    y = cifar10.global_contrast_normalize(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, release_gcn(x), rtol=1e-6, atol=1e-6)
    flat = y.reshape(7, -1).astype(np.float64)
    np.testing.assert_allclose(flat.std(axis=1, ddof=1), 1, rtol=1e-6)  # no other scale
    # a constant image has std 0 < 1e-8: it is divided by 1 and becomes zeros, not NaN
    np.testing.assert_array_equal(cifar10.global_contrast_normalize(np.full((1, 3, 2, 2), 7.0)), 0)
    tiny = np.zeros((1, 3, 2, 2)); tiny[0, 0, 0, 0] = 1e-9  # std ~ 5e-10: kept, not divided
    np.testing.assert_allclose(cifar10.global_contrast_normalize(tiny), release_gcn(tiny) * 1, atol=1e-15)


@pytest.mark.parametrize('n, d', [(50, 12), (9, 20)])  # eigendecomposition / SVD path
def test_fit_zca_is_the_releases_formula(n, d):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, d)) @ (rng.standard_normal((d, d)) * np.logspace(0, 1.5, d)) + 5
    mean, w = cifar10.fit_zca(x)
    transform, u, s = release_pca(x.T)
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(w, w.T, atol=1e-9 * np.abs(w).max())  # ZCA, not PCA, whitening
    z = rng.standard_normal((5, d)) * 3 + 5
    got = cifar10.apply_zca(z, mean, w, dtype=np.float64)
    want = transform(z.T).T
    if n > d:
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7 * np.abs(want).max())
    else:  # equal on the span of the centred fitting data, where the release's W is defined
        span = u[:, :n - 1]
        np.testing.assert_allclose(got @ span, want @ span, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    # the inverse scale is 1 / (sqrt(eigenvalue) + 1e-5): W's eigenvalues
    k = min(n - 1, d)
    lam = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False, ddof=1)))[::-1][:k]
    eig = np.linalg.eigvalsh(u[:, :k].T @ w @ u[:, :k])
    np.testing.assert_allclose(np.sort(eig), np.sort(1 / (np.sqrt(lam) + 1e-5)), rtol=1e-6)
    with pytest.raises(ValueError, match='at least 2 samples'):
        cifar10.fit_zca(x[:1])


def test_tiny_archive_matches_the_release_computed_from_the_source_batches(tmp_path, tiny_archive,
                                                                           tiny_batches):
    """Every cached split equals the release's preprocessing of the source pickles, image by
    image in the source order, with each image's label from the same position of the source
    batches; ZCA fitted on train (40k) for train/val and on train_all (50k) for train_all/test."""
    data = cifar10.load(str(tmp_path))
    imgs = {k: v[b'data'].reshape(-1, 3, 32, 32).astype(np.float32) for k, v in tiny_batches.items()}
    labels = {k: np.array(v[b'labels']) for k, v in tiny_batches.items()}
    batches = {'train': ['data_batch_%d' % i for i in range(1, 5)], 'val': ['data_batch_5'],
               'train_all': ['data_batch_%d' % i for i in range(1, 6)], 'test': ['test_batch']}
    src = {k: np.concatenate([imgs[b] for b in v]) for k, v in batches.items()}
    # the GCN output as stored (float32, as in the release): the ZCA's near-null direction
    # (weight 1e5) amplifies that rounding far beyond the tolerance, by an amount that depends
    # on the LAPACK build (fails with numpy 2.5's, passes narrowly with 1.26's)
    flat = {k: release_gcn(v).astype(np.float32).astype(np.float64).reshape(len(v), -1).T
            for k, v in src.items()}
    pcas = {'train': release_pca(flat['train']), 'train_all': release_pca(flat['train_all'])}
    for split, fit in (('train', 'train'), ('val', 'train'), ('train_all', 'train_all'),
                       ('test', 'train_all')):
        x, t = data[split]
        np.testing.assert_array_equal(t, np.concatenate([labels[b] for b in batches[split]]))
        transform, u, _ = pcas[fit]
        want = transform(flat[split]).T
        got = x.reshape(len(x), -1).astype(np.float64)
        span = u[:, :u.shape[1] - 1]  # 79 (99) directions of the 80 (100) centred fitting images
        scale = np.abs(want @ span).max()
        np.testing.assert_allclose(got @ span, want @ span, atol=2e-4 * scale, err_msg=split)
        if split == fit:  # fitted on itself: nothing outside the span
            np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max(), err_msg=split)
    # fitted on train only, train_all's first 80 images are NOT the train split's
    assert np.abs(data['train_all'][0][:80] - data['train'][0]).max() > 1e-2


def test_cache_reused_then_invalidated(tmp_path, tiny_archive, tiny_batches, cifar_writers):
    datadir = str(tmp_path)
    assert cifar10.prepare(datadir) is True
    fn = os.path.join(datadir, 'preprocessed', 'train.npz')
    stamp = os.stat(fn).st_mtime_ns
    assert cifar10.prepare(datadir) is False
    assert os.stat(fn).st_mtime_ns == stamp
    before = cifar10.load_split(datadir, 'test')[0]
    # a different source (same sizes) rebuilds the cache
    tiny_batches['test_batch'][b'data'] = 255 - tiny_batches['test_batch'][b'data']
    cifar_writers.write_archive(tiny_archive, tiny_batches)
    assert cifar10.prepare(datadir) is True
    assert not np.allclose(cifar10.load_split(datadir, 'test')[0], before)
    # changed preprocessing settings rebuild too; the source gone -> cache still served
    assert cifar10.prepare(datadir, regularizer=1e-3) is True
    os.remove(tiny_archive)
    assert cifar10.prepare(datadir) is False
    # a half-written cache (no fingerprint) is not trusted
    os.remove(os.path.join(datadir, 'preprocessed', 'fingerprint.json'))
    with pytest.raises(ValueError, match='no complete cache'):
        cifar10.prepare(datadir)


def _damage(fn, how):
    with open(fn, 'rb') as f:
        blob = bytearray(f.read())
    if how == 'truncate':
        blob = blob[:len(blob) // 2]
    else:  # flip bytes in the middle of the data, same size
        mid = len(blob) // 2
        blob[mid:mid + 8] = bytes(255 - c for c in blob[mid:mid + 8])
    with open(fn, 'wb') as f:
        f.write(bytes(blob))


@pytest.mark.parametrize('how', ['truncate', 'flip'])
def test_damaged_cache_is_detected_and_rebuilt(tmp_path, tiny_archive, how):
    datadir = str(tmp_path)
    good = cifar10.load(datadir)
    fn = os.path.join(datadir, 'preprocessed', 'train.npz')
    _damage(fn, how)
    with pytest.raises(cifar10.CacheError, match=r'train\.npz: truncated or damaged.*'
                                                  r'python -m gconv_experiments\.CIFAR10\.cifar10 '
                                                  r'--datadir .* --force'):
        cifar10.load_split(datadir, 'train')
    again = cifar10.load(datadir)  # rebuilt from the source
    for split in cifar10.SPLITS:
        np.testing.assert_array_equal(again[split][0], good[split][0])
        np.testing.assert_array_equal(again[split][1], good[split][1])


def test_damaged_cache_without_source_names_the_file_and_the_command(tmp_path, tiny_archive):
    datadir = str(tmp_path)
    cifar10.prepare(datadir)
    os.remove(tiny_archive)
    fn = os.path.join(datadir, 'preprocessed', 'test.npz')
    _damage(fn, 'truncate')
    with pytest.raises(cifar10.CacheError, match=r'test\.npz: missing, truncated or damaged.*'
                                                  r'cifar10 --datadir'):
        cifar10.load(datadir)


def _expect_error(source, match):
    with pytest.raises(ValueError, match=match):
        cifar10.read_batches(source)


def test_missing_batch(tmp_path, tiny_batches, cifar_writers):
    tar = cifar_writers.write_archive(str(tmp_path / 'a.tar.gz'), tiny_batches, skip={'data_batch_3'})
    _expect_error(tar, r'a\.tar\.gz: archive lacks data_batch_3')
    folder = cifar_writers.write_folder(str(tmp_path / 'cifar-10-batches-py'), tiny_batches,
                                        skip={'test_batch'})
    _expect_error(folder, r'test_batch: missing CIFAR-10 batch file')


def test_nothing_there(tmp_path):
    _expect_error(str(tmp_path / 'nope'), 'no such file or folder')
    _expect_error(str(tmp_path), 'expected cifar-10-python.tar.gz or cifar-10-batches-py')


@pytest.mark.parametrize('break_it, match', [
    (lambda d: d.update({b'data': d[b'data'][:, :3000]}), r"b'data' must be a uint8 array of shape \(n, 3072\)"),
    (lambda d: d.update({b'data': d[b'data'].astype(np.float32)}), "b'data' must be a uint8"),
    (lambda d: d.update({b'labels': d[b'labels'][:-1]}), "b'labels' must be 20 integers"),
    (lambda d: d[b'labels'].__setitem__(4, 10), r"b'labels' must lie in 0\.\.9"),
    (lambda d: d[b'labels'].__setitem__(0, -1), r"b'labels' must lie in 0\.\.9"),
    (lambda d: d.pop(b'labels'), "missing key b'labels'"),
])
def test_bad_batch_contents(tmp_path, tiny_batches, cifar_writers, break_it, match):
    break_it(tiny_batches['data_batch_2'])
    tar = cifar_writers.write_archive(str(tmp_path / 'c.tar.gz'), tiny_batches)
    _expect_error(tar, 'data_batch_2: ' + match)


def test_not_a_pickle_and_foreign_pickle(tmp_path, tiny_batches, cifar_writers):
    folder = cifar_writers.write_folder(str(tmp_path / 'cifar-10-batches-py'), tiny_batches)
    with open(os.path.join(folder, 'data_batch_4'), 'wb') as f:
        f.write(b'this is not a pickle')
    _expect_error(folder, 'data_batch_4: not a readable CIFAR-10 batch pickle')
    with open(os.path.join(folder, 'data_batch_4'), 'wb') as f:
        pickle.dump(os.system, f)  # a pickle that would call a function is refused
    _expect_error(folder, r'data_batch_4: not a readable .*refusing to load posix\.system')


def test_truncated_and_corrupt_archive(tmp_path, tiny_archive):
    with open(tiny_archive, 'rb') as f:
        blob = f.read()
    cut = str(tmp_path / 'cut.tar.gz')
    with open(cut, 'wb') as f:
        f.write(blob[:len(blob) // 2])
    _expect_error(cut, r'cut\.tar\.gz: corrupt or truncated archive')
    junk = str(tmp_path / 'junk.tar.gz')
    with open(junk, 'wb') as f:
        f.write(gzip.compress(b'\x00garbage' * 1000)[:200] + b'x' * 50)
    _expect_error(junk, r'junk\.tar\.gz: corrupt or truncated archive')


def test_load_split_errors(tmp_path):
    with pytest.raises(ValueError, match='unknown CIFAR-10 split'):
        cifar10.load_split(str(tmp_path), 'validation')
    with pytest.raises(cifar10.CacheError, match=r'train\.npz: expected a preprocessed CIFAR-10 split'):
        cifar10.load_split(str(tmp_path), 'train')


def test_cli_ok_and_error(tmp_path, tiny_archive, capsys):
    assert cifar10.main(['--datadir', str(tmp_path / 'out'), '--source', tiny_archive]) == 0
    out = capsys.readouterr().out
    assert 'built cache' in out and 'train_all: data float32 (100, 3, 32, 32)' in out
    assert cifar10.main(['--datadir', str(tmp_path / 'out'), '--source', tiny_archive]) == 0
    assert 'reused cache' in capsys.readouterr().out
    assert cifar10.main(['--datadir', str(tmp_path / 'none')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('cifar10: error: ') and 'cifar-10-python.tar.gz' in err


def test_cli_names_a_missing_batch_file(tmp_path, tiny_batches, cifar_writers, capsys):
    folder = cifar_writers.write_folder(str(tmp_path / 'cifar-10-batches-py'), tiny_batches,
                                        skip={'data_batch_4'})
    assert cifar10.main(['--datadir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f'{os.path.join(folder, "data_batch_4")}: missing CIFAR-10 batch file' in err
    assert 'No such file' not in err


def test_a_zca_fitted_on_too_few_images_is_warned_about_and_kept(tmp_path, tiny_archive):
    """80 (train) and 100 (train_all) images for 3072 dimensions: singular covariances, a warning
    naming each fit size, the numbers still the release's (held-out images come out large)."""
    with pytest.warns(cifar10.SingularZCAWarning) as caught:
        data = cifar10.load(str(tmp_path))
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    for n, message in zip((100, 80), messages):
        assert message.startswith(f'ZCA whitening fitted on {n} images, not more than the 3072 input dimensions: '
                                  f'the covariance is singular'), message
        assert message.endswith('use at least 3073 training images'), message
    assert np.abs(data['train'][0]).max() < 10 and np.abs(data['test'][0]).max() > 1e3


def test_a_zca_fitted_on_more_images_than_dimensions_is_not_warned_about():
    x = np.random.default_rng(3).standard_normal((13, 3, 2, 2))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        cifar10.fit_zca(x)
    with pytest.warns(cifar10.SingularZCAWarning, match='fitted on 12 images, not more than the 12 input'):
        cifar10.fit_zca(x[:12])


def test_the_preprocessing_command_shows_the_warning(tmp_path, tiny_archive):
    proc = subprocess.run([sys.executable, '-m', 'gconv_experiments.CIFAR10.cifar10', '--datadir', str(tmp_path / 'out'),
                           '--source', tiny_archive], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert 'SingularZCAWarning: ZCA whitening fitted on 80 images, not more than the 3072 input' in proc.stderr
    assert 'SingularZCAWarning: ZCA whitening fitted on 100 images' in proc.stderr
