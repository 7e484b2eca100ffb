"""The loader's C extension, declared here because pyproject.toml has no stable form for it.

Everything else about the package is in pyproject.toml. ``optional=True``: without a compiler
the install still succeeds and the loader uses its general path (``observer.store.fastpath``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "observer.store._tickcopy",
            sources=["src/observer/store/_tickcopy.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        )
    ]
)
