"""Whether a library-backed runtime can run on this machine, answered without importing it.

The DAG build asks (it plans TensorRT and torch2trt builds only where they can run), so nothing here
imports more than the standard library and the package's light modules.
"""

from __future__ import annotations

from infbench.planning.hardware import no_gpu_reason
from infbench.planning.versions import installed_version

TENSORRT_SUPPORTED_MAJORS = (8, 10, 11)


def major_version(version: str) -> int:
    """The major version in an installed-version string such as '10.16.1.11' or 'tensorrt-cu13 11.4.0'."""
    return int(version.split()[-1].split(".")[0])


def fp16_onnx_needed(tensorrt_version: str | None) -> bool:
    """TensorRT 11 builds strongly typed networks only: fp16 must come from an fp16 ONNX model."""
    return tensorrt_version is not None and major_version(tensorrt_version) >= 11


def tensorrt_missing() -> str | None:
    """Why TensorRT cannot run here (library or GPU), or None."""
    reasons = []
    version = installed_version("tensorrt")
    if version is None:
        reasons.append("tensorrt is not installed")
    elif major_version(version) not in TENSORRT_SUPPORTED_MAJORS:
        reasons.append(f"TensorRT {version} is not supported (supported majors: {TENSORRT_SUPPORTED_MAJORS})")
    if why := no_gpu_reason():
        reasons.append(why)
    return "; ".join(reasons) or None


def torch2trt_missing() -> str | None:
    """Why torch2trt cannot run here (library, its TensorRT, or GPU), or None."""
    reasons = []
    if installed_version("torch2trt") is None:
        reasons.append("torch2trt is not installed")
    trt_version = installed_version("tensorrt")
    if trt_version is None:
        reasons.append("tensorrt is not installed")
    elif major_version(trt_version) >= 11:
        reasons.append(f"torch2trt does not support TensorRT {trt_version} (it needs EXPLICIT_BATCH and BuilderFlag.FP16, gone in 11)")
    if why := no_gpu_reason():
        reasons.append(why)
    return "; ".join(reasons) or None
