"""Installable package for groupy (group-equivariant convolutions for Chainer 7)
and gconv_experiments (the experiments of Cohen & Welling, ICML 2016)."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# groupy._compat's start-up hook: site-packages/groupy-chainer-compat.pth (see
# docs/getting_started.md, "chainer 7.8.1 on numpy 2 and Python 3.12"); installed for normal and editable installs.
PTH = "groupy-chainer-compat.pth"


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH), preserve_mode=False)
        if getattr(self, "editable_mode", False):
            # an editable wheel holds only what is written into its install_lib folder
            target = self.get_finalized_command("install").install_lib
            self.copy_file(PTH, os.path.join(target, PTH), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]

    def get_output_mapping(self):
        mapping = super().get_output_mapping()
        mapping[os.path.join(self.build_lib, PTH)] = PTH
        return mapping


EXPORT = ["onnx>=1.16,<1.17", "onnxruntime"]

setup(
    cmdclass={"build_py": BuildPyWithPth},
    name="groupy",
    version="0.1.0",
    description="Group equivariant convolutional networks (G-CNNs) for Chainer 7",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["groupy", "groupy.*",
                                    "gconv_experiments", "gconv_experiments.*"]),
    package_data={"gconv_experiments": ["*/models/*.py", "GAN/fid_classifier/*"]},
    python_requires=">=3.9",
    install_requires=[
        "chainer==7.8.1",
        "numpy>=1.26,<2.6",  # 1.26 with Python 3.11, 2.x with 3.12 (constraints.txt)
        "setuptools<74",  # chainer imports pkg_resources at run time
        "scipy",
        "numba",  # compiled CPU kernels of groupy.fast_cpu (constraints.txt pins it)
        "scikit-image",
        "scikit-learn",
        "h5py",
        "progressbar2",
        "matplotlib",
        "dask[distributed]",  # hyper-parameter sweeps
        "cryptography",  # the TLS credentials of a sweep's local Dask cluster (Security.temporary)
    ],
    extras_require={
        # gpu: CuPy for the GPU path, per stack. On 3.11 cupy-cuda12x 13 + NVRTC 12 (cuBLAS,
        # cuRAND, ... from a system CUDA 12 toolkit); on 3.12 cupy-cuda13x 14 with every CUDA
        # library it loads from wheels ([ctk]). Worth installing only where there is a GPU.
        "gpu": [
            'cupy-cuda12x>=13,<14 ; python_version < "3.12"',
            'nvidia-cuda-nvrtc-cu12>=12,<13 ; python_version < "3.12"',
            'cupy-cuda13x[ctk]>=14,<15 ; python_version >= "3.12"',
        ],
        # nvrtc: CuPy + NVRTC only, enough to compile the CuPy kernels without a GPU (the
        # NVRTC tests; what CI installs)
        "nvrtc": [
            'cupy-cuda12x>=13,<14 ; python_version < "3.12"',
            'nvidia-cuda-nvrtc-cu12>=12,<13 ; python_version < "3.12"',
            'cupy-cuda13x>=14,<15 ; python_version >= "3.12"',
            'nvidia-cuda-nvrtc>=13,<14 ; python_version >= "3.12"',
        ],
        # ChainerMN over MPI: mpi4py and MPICH from its wheel (mpiexec lands in the venv's bin/)
        "mpi": ["mpi4py>=4,<5", "mpich>=4"],
        # ONNX export through chainer's own onnx_chainer package, checked with onnxruntime
        "export": EXPORT,
        "dev": ["pytest", "pytest-xdist"],
        # docs: the Sphinx site (`make docs`): MyST pages, executed MyST notebooks, the furo
        # theme, copy buttons; onnx + onnxruntime for the export tutorial's ONNX cells
        "docs": ["sphinx>=9,<10", "myst-nb>=1.4,<2", "furo", "sphinx-copybutton", "ipykernel"]
                + EXPORT,
    },
)
