"""Output of ``benchmarks/run_benchmarks.py``: the machine description at the top and the
table of rows (ours / reference)."""
import os
import platform
import time


def _fmt(v, spec):
    return '-' if v is None else format(v, spec)


def print_table(rows):
    header = '{:<64} {:>10} {:>10} {:>7} {:>6} {:>17} {:>10}'.format(
        'benchmark (ours vs reference)', 'ours ms', 'ref ms', 'ratio', 'best',
        'peak RSS MiB o/r', '|dlogits|')
    print(header)
    print('-' * len(header))
    section = None
    for r in rows:
        if r['section'] != section:
            section = r['section']
            print('[{}]'.format(section))
        rss = ''
        if 'ours_peak_rss_mib' in r:
            rss = '{:.0f}/{}'.format(r['ours_peak_rss_mib'], _fmt(r.get('ref_peak_rss_mib'), '.0f'))
            rss += ' (+{:.0f}/{})'.format(r['ours_step_rss_growth_mib'],
                                          _fmt(r.get('ref_step_rss_growth_mib'), '.0f'))
        print('{:<64} {:>10.2f} {:>10} {:>7} {:>6} {:>17} {:>10}'.format(
            r['name'][:64], r['ours_ms'], _fmt(r['ref_ms'], '.2f'), _fmt(r['ratio'], '.2f'),
            _fmt(r['ratio_best'], '.2f'), rss, _fmt(r.get('twin_max_abs_dlogits'), '.1e')))


def machine_info(args):
    import numpy

    from groupy.fast_cpu.switch import kernel_settings
    info = {'nproc': os.cpu_count(), 'usable_cores': len(os.sched_getaffinity(0))
            if hasattr(os, 'sched_getaffinity') else os.cpu_count(),
            'cpu': platform.processor() or platform.machine(), 'python': platform.python_version(),
            'numpy': numpy.__version__, 'fast_conv': not args.no_fast_conv,
            'compiled_kernels': kernel_settings()['numba'],
            'conv_algo': kernel_settings()['conv_algo'],
            'native_blas': args.native_blas, 'threads': args.threads, 'repeats': args.repeats,
            'device': args.device, 'date': time.strftime('%Y-%m-%d %H:%M:%S'),
            'loadavg_start': os.getloadavg()}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import threadpoolctl
        info['blas'] = ['{} {} kernel={} threads={}'.format(
            d.get('prefix'), d.get('version'), d.get('architecture'), d.get('num_threads'))
            for d in threadpoolctl.threadpool_info() if d.get('user_api') == 'blas']
    except ImportError:
        info['blas'] = []
    return info
