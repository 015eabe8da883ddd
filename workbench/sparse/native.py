"""Compiled kernels for the sparse products, built from C source on first use.

The sparse kernel of :class:`~workbench.sparse.MaskedLinearLayer` and the
fused DAN pass run their products on small C loops (``_native/kernels.h``):
a CSR matrix times a dense one, the same transposed (scattered), and the
weight gradient at the kept positions (written into the dense gradient, or
as a DAN's edge values); around them, transposes of the batch (tiles turned
in registers, 2-5x faster than numpy's or torch's copies) and one call per
layer pass. The dense masked kernel multiplies by the mask packed one bit
per weight. On the benchmark machine the products run 2-3x faster than
torch's MKL sparse products for a batch of 64 (see benchmarks/RESULTS.md),
mainly because they keep a strip of 64 batch columns in registers across a
row's kept weights, gather the kept weights while they multiply, and
prefetch the rows the column indices point at.

The library is compiled once per machine with the system's C compiler
(``$CC``, else ``cc``) and ``-O3 -march=native`` into a cache folder
(``$WORKBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/workbench``, else
``~/.cache/workbench``), under a name that hashes the source, the compiler's
version and the CPU's flags; it takes about a third of a second. Where there
is no compiler, the build fails, or ``WORKBENCH_NATIVE=0`` is set, nothing
is compiled and the kernels use torch's own sparse products instead (the
same results up to the order of floating-point sums); :func:`status` says
which and why.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "available",
    "enabled",
    "kernel",
    "layer_kernels",
    "library",
    "mask_kernel",
    "set_enabled",
    "status",
    "suffix",
]

_SOURCES = tuple(Path(__file__).with_name("_native") / name for name in ("kernels.c", "kernels.h", "gemm.h"))
_VERSION = 9  # workbench_kernels_version() of the C source this module calls
_lock = threading.Lock()
_layer_kernels: dict = {}  # dtype -> what layer_kernels returns, once the library is built
_state: dict = {"built": False, "lib": None, "why": None, "enabled": os.environ.get("WORKBENCH_NATIVE", "1") != "0"}

_P, _I = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {
    "spmm": [_I, _I, _P, _P, _P, _P, _I, _P, _I, _P, _P, _I, ctypes.c_int, ctypes.c_int, _I],
    "spmm_t": [_I, _I, _I, _P, _P, _P, _P, _I, _P, _I, _I],
    "sddmm": [_I, _I, _I, _P, _P, _P, _I, _P, _I, _P, _I, _I],
    "sddmm_values": [_I, _I, _P, _P, _P, _I, _P, _I, _P, _P, _I],
    "transpose": [_I, _I, _P, _I, _P, _I],
    "mask_bits": [_I, _P, _P, _P],
    "linear": [_I, _I, _I, _I, _P, _P, _P, _I, _P, _I, _P, _P, _P, _I, ctypes.c_int],
    "linear_backward": [_I, _I, _I, _I, _P, _P, _P, _I, _P, _P, _I, _P, _I],
    "dense_gemm": [_I, _I, _I, _P, _I, ctypes.c_int, _P, _I, ctypes.c_int, _P, _P, _P, _P, _I],
}
_RETURNS = {"linear": ctypes.c_int, "linear_backward": ctypes.c_int, "dense_gemm": ctypes.c_int}


def _cache_dir() -> Path:
    if os.environ.get("WORKBENCH_CACHE_DIR"):
        return Path(os.environ["WORKBENCH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "workbench"


def _cpu_flags() -> str:
    """The CPU's feature flags (Linux), so that a cache shared by machines keeps one build per kind of CPU."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    return platform.processor()


def _compile(compiler: str, out: Path) -> str | None:
    """Compile the library to ``out``; the compiler's complaint when it fails, else None."""
    error = "no output"
    for arch in (["-march=native"], []):  # some compilers (or CPUs) have no -march=native
        command = [compiler, "-O3", *arch, "-shared", "-fPIC", "-o", str(out), str(_SOURCES[0])]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{compiler} could not run: {exc}"
        if done.returncode == 0:
            return None
        lines = done.stderr.strip().splitlines()
        errors = [line for line in lines if "error" in line]  # the compiler's first complaint, not its last line
        error = (errors or lines or [f"exit status {done.returncode}"])[0]
    return error


def _build() -> tuple[ctypes.CDLL | None, str | None]:
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        return None, f"no C compiler ({compiler!r} not found)"
    try:
        version = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{compiler} could not run: {exc}"
    digest = hashlib.sha256()
    for part in (*(path.read_bytes() for path in _SOURCES), version.encode(), _cpu_flags().encode()):
        digest.update(part)
    digest.update(f"{platform.machine()} {sys.platform}".encode())
    name = f"kernels-{digest.hexdigest()[:16]}.so"
    user = os.getuid() if hasattr(os, "getuid") else 0
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / f"workbench-{user}"):
        path = folder / name
        if not path.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, partial = tempfile.mkstemp(dir=folder, suffix=".so.partial")
                os.close(fd)
            except OSError:
                continue  # not writable: the next folder
            error = _compile(compiler, Path(partial))
            if error is not None:
                os.unlink(partial)
                return None, f"compiling the kernels failed: {error}"
            os.replace(partial, path)  # atomic: another process never loads half a file
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            return None, f"loading {path} failed: {exc}"
        if lib.workbench_kernels_version() != _VERSION:
            return None, f"{path} is not the library this module calls"
        for stem, argtypes in _SIGNATURES.items():
            for suffix in ("f32", "f64"):
                function = getattr(lib, f"{stem}_{suffix}")
                function.argtypes, function.restype = argtypes, _RETURNS.get(stem)
        return lib, None
    return None, "no writable folder for the compiled kernels"


def library() -> ctypes.CDLL | None:
    """The compiled kernels (built on the first call), or None where they cannot be used (see :func:`status`)."""
    if not _state["enabled"]:
        return None
    if not _state["built"]:
        with _lock:
            if not _state["built"]:
                _state["lib"], _state["why"] = _build()
                if _state["lib"] is not None and not _passes_self_test(_state["lib"]):
                    _state["lib"], _state["why"] = None, "the compiled kernels gave wrong results in their self-test"
                _state["built"] = True
    return _state["lib"]


def enabled() -> bool:
    """Whether the compiled kernels are switched on (they may still be unavailable: see :func:`available`)."""
    return _state["enabled"]


def available() -> bool:
    """Whether the compiled kernels are in use."""
    return library() is not None


def status() -> str:
    """One line: whether the compiled kernels are in use, and why not when they are not."""
    if not _state["enabled"]:
        return "off (WORKBENCH_NATIVE=0 or set_enabled(False)): torch's sparse products"
    if library() is None:
        return f"unavailable, {_state['why']}: torch's sparse products"
    return "on: compiled kernels"


def set_enabled(enabled: bool) -> bool:
    """Turn the compiled kernels on or off for this process (tests compare both); returns the previous setting."""
    previous = _state["enabled"]
    _state["enabled"] = bool(enabled)
    return previous


def layer_kernels(dtype: torch.dtype) -> tuple[object, object] | None:
    """``(linear, linear_backward)`` of the compiled library for ``dtype``, or None where it has none."""
    if not _state["enabled"]:
        return None
    if dtype not in _layer_kernels:
        lib, name = library(), suffix(dtype)
        found = (
            None
            if lib is None or name is None
            else (getattr(lib, f"linear_{name}"), getattr(lib, f"linear_backward_{name}"))
        )
        _layer_kernels[dtype] = found
    return _layer_kernels[dtype]


def kernel(stem: str, dtype: torch.dtype):
    """The compiled kernel ``stem`` (``"spmm"``, ``"mask_bits"``, ...) for ``dtype``, or None where there is none
    (no library, the kernels are off, or a dtype they do not take)."""
    lib, name = library(), suffix(dtype)
    return None if lib is None or name is None else getattr(lib, f"{stem}_{name}")


def mask_kernel(dtype: torch.dtype):
    """``mask_bits`` of the compiled library for ``dtype``, or None (see :func:`kernel`)."""
    return kernel("mask_bits", dtype)


def suffix(dtype: torch.dtype) -> str | None:
    """The kernels' name suffix for ``dtype``, or None when they do not handle it."""
    return {torch.float32: "f32", torch.float64: "f64"}.get(dtype)


def _passes_self_test(lib: ctypes.CDLL) -> bool:
    try:
        return _self_test(lib)
    except Exception:  # any failure of a kernel here means: do not use them
        return False


def _self_test(lib: ctypes.CDLL) -> bool:
    """A small product of each kernel against torch, in both types, with a batch that has a tail strip."""
    generator = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        mask = torch.rand(5, 7, generator=generator) < 0.5
        weight = torch.randn(5, 7, generator=generator, dtype=dtype)
        x = torch.randn(7, 70, generator=generator, dtype=dtype)  # [in, width]: one whole strip and a tail
        g = torch.randn(5, 70, generator=generator, dtype=dtype)
        rows, cols = mask.nonzero(as_tuple=True)
        crow = torch.zeros(6, dtype=torch.int32)
        crow[1:] = torch.bincount(rows, minlength=5).cumsum(0)
        col = cols.to(torch.int32)
        values = torch.empty(rows.numel(), dtype=dtype)
        y = torch.empty(5, 70, dtype=dtype)
        xt = torch.empty(7, 70, dtype=dtype)
        grad = torch.full((5, 7), float("nan"), dtype=dtype)
        name = suffix(dtype)
        getattr(lib, f"spmm_{name}")(
            5,
            70,
            crow.data_ptr(),
            col.data_ptr(),
            values.data_ptr(),
            weight.data_ptr(),
            7,
            x.data_ptr(),
            70,
            None,
            y.data_ptr(),
            70,
            0,
            0,
            2,
        )
        getattr(lib, f"spmm_t_{name}")(
            5, 7, 70, crow.data_ptr(), col.data_ptr(), values.data_ptr(), g.data_ptr(), 70, xt.data_ptr(), 70, 2
        )
        getattr(lib, f"sddmm_{name}")(
            5, 7, 70, crow.data_ptr(), col.data_ptr(), g.data_ptr(), 70, x.data_ptr(), 70, grad.data_ptr(), 7, 2
        )
        kept, sums = torch.empty(rows.numel(), dtype=dtype), torch.empty(5, dtype=dtype)
        getattr(lib, f"sddmm_values_{name}")(
            5,
            70,
            crow.data_ptr(),
            col.data_ptr(),
            g.data_ptr(),
            70,
            x.data_ptr(),
            70,
            kept.data_ptr(),
            sums.data_ptr(),
            2,
        )
        turned = torch.empty(70, 7, dtype=dtype)
        getattr(lib, f"transpose_{name}")(7, 70, x.data_ptr(), 70, turned.data_ptr(), 7)
        if not torch.equal(turned, x.t()):
            return False
        bits = torch.from_numpy(np.packbits(mask.numpy().reshape(-1), bitorder="little"))
        getattr(lib, f"mask_bits_{name}")(35, weight.data_ptr(), bits.data_ptr(), turned.data_ptr())
        if not torch.equal(turned.view(-1)[:35], (weight * mask).view(-1)):
            return False
        masked = weight * mask
        tolerance = 1e-4 if dtype == torch.float32 else 1e-10
        if not _dense_products_agree(lib, name, generator, dtype, tolerance):
            return False
        if not (
            torch.allclose(y, masked @ x, atol=tolerance)
            and torch.allclose(xt, masked.t() @ g, atol=tolerance)
            and torch.allclose(grad, (g @ x.t()) * mask, atol=tolerance)
            and torch.allclose(kept, (g @ x.t())[mask], atol=tolerance)
            and torch.allclose(sums, g.sum(1), atol=tolerance)
        ):
            return False
    return True


def _dense_products_agree(lib, name: str, generator: torch.Generator, dtype: torch.dtype, tolerance: float) -> bool:
    """The three products of ``dense_gemm`` (gemm.h) against torch, at a size with whole panels, turned blocks and
    tails in every dimension: a 20x37 weight, a batch of 13."""
    gemm = getattr(lib, f"dense_gemm_{name}")
    batch, out_features, in_features = 13, 20, 37
    mask = torch.rand(out_features, in_features, generator=generator) < 0.5
    lanes = mask.view(torch.int8).neg()  # -1 where kept
    weight = torch.randn(out_features, in_features, generator=generator, dtype=dtype)
    x = torch.randn(batch, in_features, generator=generator, dtype=dtype)
    g = torch.randn(batch, out_features, generator=generator, dtype=dtype)
    bias = torch.randn(out_features, generator=generator, dtype=dtype)
    y, gx = weight.new_empty(batch, out_features), weight.new_empty(batch, in_features)
    gw = torch.full_like(weight, float("nan"))
    gemm(batch, out_features, in_features, x.data_ptr(), in_features, 0, weight.data_ptr(), in_features, 1,
         lanes.data_ptr(), bias.data_ptr(), None, y.data_ptr(), out_features)  # fmt: skip
    gemm(batch, in_features, out_features, g.data_ptr(), out_features, 0, weight.data_ptr(), in_features, 0,
         lanes.data_ptr(), None, None, gx.data_ptr(), in_features)  # fmt: skip
    gemm(out_features, in_features, batch, g.data_ptr(), out_features, 1, x.data_ptr(), in_features, 0, None, None,
         lanes.data_ptr(), gw.data_ptr(), in_features)  # fmt: skip
    masked = weight * mask
    return (
        torch.allclose(y, x @ masked.t() + bias, atol=tolerance)
        and torch.allclose(gx, g @ masked, atol=tolerance)
        and torch.equal(gw == 0, ~mask | ((g.t() @ x) == 0))
        and torch.allclose(gw, (g.t() @ x) * mask, atol=tolerance)
    )
