"""Installable package for groupy (group-equivariant convolutions for Chainer 7)
and gconv_experiments (the experiments of Cohen & Welling, ICML 2016)."""
from setuptools import find_packages, setup

setup(
    name="groupy",
    version="0.1.0",
    description="Group equivariant convolutional networks (G-CNNs) for Chainer 7",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["groupy", "groupy.*",
                                    "gconv_experiments", "gconv_experiments.*"]),
    package_data={"gconv_experiments": ["*/models/*.py"]},
    python_requires=">=3.9",
    install_requires=[
        "chainer==7.8.1",
        "numpy>=1.22,<2",
        "setuptools<74",
        "scipy",
        "scikit-image",
        "scikit-learn",
        "h5py",
        "progressbar2",
        "matplotlib",
    ],
    extras_require={
        # CuPy for the GPU path; NVRTC lets the kernel sources be compiled without a GPU.
        "gpu": ["cupy-cuda12x>=13,<14", "nvidia-cuda-nvrtc-cu12"],
        "dev": ["pytest", "pytest-xdist"],
    },
)
