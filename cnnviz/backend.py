"""Array backends: numpy on the CPU, cupy on a GPU. The only module that imports cupy."""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

GPU_INSTALL_HINT = (
    'install the GPU extra with: pip install -e ".[gpu]" (needs an NVIDIA GPU and CUDA 12)'
)


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


@dataclass(frozen=True)
class Backend:
    """A named array module (`xp`) with conversions to and from numpy."""

    name: str
    xp: ModuleType

    def to_numpy(self, a):
        """Any array of this backend (or a scalar) -> numpy array."""
        return a.get() if hasattr(a, "get") and self.name == "cupy" else np.asarray(a)

    def to_device(self, a):
        """numpy (or any array) -> an array of this backend."""
        return self.xp.asarray(a)

    def __str__(self) -> str:
        return self.name


NUMPY = Backend("numpy", np)
BACKEND_NAMES = ("auto", "numpy", "cupy")
# Names the backend a new run takes when none is chosen (the CLI's --backend, the Controls dock).
BACKEND_ENV = "CNNVIZ_BACKEND"


def default_backend_name() -> str:
    """$CNNVIZ_BACKEND ("auto", "numpy" or "cupy"), else "numpy"."""
    name = os.environ.get(BACKEND_ENV, "").strip() or "numpy"
    if name not in BACKEND_NAMES:
        raise BackendError(f"{BACKEND_ENV}={name!r} is not a backend: set it to auto, numpy or "
                           f"cupy, or unset it")
    return name


def _import_cupy():
    """cupy, or the reason it cannot be used."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return None, f"cupy is not installed ({exc.__class__.__name__}); {GPU_INSTALL_HINT}"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, f"cupy found no CUDA GPU; {GPU_INSTALL_HINT}"
    except Exception as exc:
        return None, f"cupy cannot reach a CUDA GPU ({exc}); {GPU_INSTALL_HINT}"
    return cupy, ""


def gpu_status() -> tuple[bool, str]:
    """(usable, reason): whether the cupy backend can run here, and why not."""
    cupy, reason = _import_cupy()
    return cupy is not None, reason


def get_backend(name: str = "auto") -> Backend:
    """Backend for "auto" | "numpy" | "cupy". "auto" takes cupy when a GPU is usable."""
    if isinstance(name, Backend):
        return name
    if name == "numpy":
        return NUMPY
    if name not in BACKEND_NAMES:
        raise BackendError(f"unknown backend {name!r}: choose auto, numpy or cupy")
    cupy, reason = _import_cupy()
    if cupy is None:
        if name == "cupy":
            raise BackendError(f"the cupy backend is not usable: {reason}")
        return NUMPY
    return Backend("cupy", cupy)


def array_module(a) -> ModuleType:
    """The xp (numpy or cupy) that owns array `a`."""
    mod = type(a).__module__
    if mod.startswith("cupy"):
        import cupy

        return cupy
    return np


def to_numpy(a) -> np.ndarray:
    """Any numpy or cupy array -> numpy."""
    return a.get() if type(a).__module__.startswith("cupy") else np.asarray(a)
