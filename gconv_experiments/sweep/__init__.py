"""Sweeps of training runs (models x seeds): every run folder checked against its run record,
then the runs trained in this process or concurrently on a Dask cluster, then tabulated.

Modules: `runs` (a sweep's runs and the plan: what each folder holds, reuse / resume / train),
`execution` (running the planned runs here or on Dask), `cluster` (thread counts per run, the
Dask clusters), `report` (the tables and learning curves a sweep writes), `command_line` (an
experiment's sweep flags and :func:`command_line.run_experiment`, which MNIST_ROT/experiment.py
and CIFAR10/experiment.py use). Import the module you need: this package imports nothing itself.
"""
__all__ = ["cluster", "command_line", "execution", "report", "runs"]
