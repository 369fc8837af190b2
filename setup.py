"""Build of the one C extension, ``pymk.features._kernels`` (all other metadata is in pyproject.toml).

The kernels are plain C called through ctypes (no NumPy headers at build time); see
``src/pymk/features/_kernels.c`` for why they are written by hand.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pymk.features._kernels",
            ["src/pymk/features/_kernels.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
