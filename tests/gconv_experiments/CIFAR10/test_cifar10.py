"""CIFAR-10 reading, splitting, GCN + ZCA, caching and bad-input errors on tiny archives."""
import gzip
import os
import pickle

import numpy as np
import pytest

from gconv_experiments.CIFAR10 import cifar10


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
    assert sizes == {'train': 80, 'valid': 20, 'train_all': 100, 'test': 20}
    for s, (x, t) in data.items():
        assert x.dtype == np.float32 and x.shape[1:] == (3, 32, 32)
        assert t.dtype == np.int32 and t.shape == (len(x),)
        assert np.all(np.isfinite(x))
    np.testing.assert_array_equal(data['train_all'][0][:80], data['train'][0])
    np.testing.assert_array_equal(data['train_all'][0][80:], data['valid'][0])
    for s in cifar10.SPLITS:
        assert os.path.isfile(os.path.join(datadir, 'preprocessed', s + '.npz'))
    assert not [f for f in os.listdir(os.path.join(datadir, 'preprocessed')) if f.startswith('.')]


def test_global_contrast_normalize():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(7, 3, 4, 4)).astype(np.uint8)
    y = cifar10.global_contrast_normalize(x)
    flat = y.reshape(7, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-12)
    raw = x.reshape(7, -1).astype(np.float64)
    expected_std = raw.std(axis=1, ddof=1) / np.sqrt(10 + raw.var(axis=1, ddof=1))
    np.testing.assert_allclose(flat.std(axis=1, ddof=1), expected_std, rtol=1e-12)
    # a constant image has no contrast and becomes zeros, not NaN
    assert np.all(cifar10.global_contrast_normalize(np.full((1, 3, 2, 2), 7.0)) == 0)


def test_zca_whitens_to_identity_when_samples_exceed_dims():
    rng = np.random.default_rng(2)
    mixing = rng.standard_normal((12, 12)) * np.logspace(0, 1.5, 12)
    x = rng.standard_normal((4000, 12)) @ mixing + 5.0
    mean, w = cifar10.fit_zca(x, epsilon=1e-9)
    np.testing.assert_allclose(w, w.T, atol=1e-12)  # ZCA (not PCA) whitening is symmetric
    y = cifar10.apply_zca(x, mean, w, dtype=np.float64)
    cov = np.cov(y, rowvar=False, bias=True)
    np.testing.assert_allclose(cov, np.eye(12), atol=1e-6)
    # the regulariser shrinks each direction by lambda / (lambda + eps)
    _, w_reg = cifar10.fit_zca(x, epsilon=10.0)
    lam = np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True))
    got = np.linalg.eigvalsh(np.cov(cifar10.apply_zca(x, mean, w_reg, np.float64),
                                    rowvar=False, bias=True))
    np.testing.assert_allclose(got, lam / (lam + 10.0), rtol=1e-6)


def test_zca_fewer_samples_than_dims_matches_eigendecomposition():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 20)) * np.linspace(1, 4, 20)
    mean, w = cifar10.fit_zca(x, epsilon=0.3)  # the thin-SVD path
    centred = x - x.mean(axis=0)
    lam, u = np.linalg.eigh(centred.T @ centred / 9)
    expected = u @ np.diag(1 / np.sqrt(np.clip(lam, 0, None) + 0.3)) @ u.T
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(w, expected, atol=1e-10)
    with pytest.raises(ValueError, match='at least 2 samples'):
        cifar10.fit_zca(x[:1])


def test_zca_on_training_split_is_identity_on_its_span(tmp_path, tiny_archive):
    """80 training images span an 79-dim subspace: whitened covariance has 79 unit eigenvalues."""
    cifar10.prepare(str(tmp_path), zca_epsilon=1e-6)
    x, _ = cifar10.load_split(str(tmp_path), 'train')
    flat = x.reshape(len(x), -1).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    gram = centred @ centred.T / len(x)  # same nonzero spectrum as the 3072 x 3072 covariance
    eig = np.sort(np.linalg.eigvalsh(gram))
    np.testing.assert_allclose(eig[1:], 1.0, atol=2e-3)
    assert abs(eig[0]) < 1e-3
    # fitted on train only: train_all (train + valid) is not white on its own span
    xa, _ = cifar10.load_split(str(tmp_path), 'train_all')
    centred = xa.reshape(len(xa), -1).astype(np.float64)
    centred -= centred.mean(axis=0)
    eig_all = np.sort(np.linalg.eigvalsh(centred @ centred.T / len(xa)))
    assert np.abs(eig_all[1:] - 1.0).max() > 0.5


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
    assert cifar10.prepare(datadir, zca_epsilon=0.5) is True
    os.remove(tiny_archive)
    assert cifar10.prepare(datadir) is False
    # a half-written cache (no fingerprint) is not trusted
    os.remove(os.path.join(datadir, 'preprocessed', 'fingerprint.json'))
    with pytest.raises(ValueError, match='no complete cache'):
        cifar10.prepare(datadir)


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
    with pytest.raises(ValueError, match=r'train\.npz: expected a preprocessed CIFAR-10 split'):
        cifar10.load_split(str(tmp_path), 'train')


def test_cli_ok_and_error(tmp_path, tiny_archive, capsys):
    assert cifar10.main(['--datadir', str(tmp_path / 'out'), '--source', tiny_archive]) == 0
    out = capsys.readouterr().out
    assert 'built cache' in out and 'train_all: data float32 (100, 3, 32, 32)' in out
    assert cifar10.main(['--datadir', str(tmp_path / 'out'), '--source', tiny_archive]) == 0
    assert 'reused cache' in capsys.readouterr().out
    assert cifar10.main(['--datadir', str(tmp_path / 'none')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'cifar-10-python.tar.gz' in err


def test_cli_names_a_missing_batch_file(tmp_path, tiny_batches, cifar_writers, capsys):
    folder = cifar_writers.write_folder(str(tmp_path / 'cifar-10-batches-py'), tiny_batches,
                                        skip={'data_batch_4'})
    assert cifar10.main(['--datadir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f'{os.path.join(folder, "data_batch_4")}: missing CIFAR-10 batch file' in err
    assert 'No such file' not in err
