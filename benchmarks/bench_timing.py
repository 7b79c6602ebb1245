"""Timing helpers of ``benchmarks/run_benchmarks.py``: medians, round-robin timing of callables
and the rows of its table."""
import time


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def interleaved(fns, repeats, sync=lambda: None):
    """Seconds per call of each callable, measured round-robin, ``repeats`` rounds of an inner
    loop long enough (~20 ms) for the clock; returns {name: [seconds per call per round]}."""
    inner = {}
    for name, fn in fns.items():
        fn()
        sync()
        start = time.perf_counter()
        fn()
        sync()
        single = time.perf_counter() - start
        inner[name] = max(1, min(200, int(0.02 / max(single, 1e-7))))
    out = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            sync()
            out[name].append((time.perf_counter() - start) / inner[name])
    return out


def row(section, name, ours, ref, **extra):
    r = {'section': section, 'name': name,
         'ours_ms': 1e3 * median(ours), 'ref_ms': 1e3 * median(ref),
         'ours_best_ms': 1e3 * min(ours), 'ref_best_ms': 1e3 * min(ref)}
    r['ratio'] = r['ours_ms'] / r['ref_ms']
    r['ratio_best'] = r['ours_best_ms'] / r['ref_best_ms']
    r.update(extra)
    return r


def sync_fn(xp):
    """A callable waiting for the device of array module ``xp`` (a no-op for NumPy)."""
    if xp.__name__ == 'numpy':
        return lambda: None
    return lambda: xp.cuda.get_current_stream().synchronize()
