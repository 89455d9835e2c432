"""Whether this machine has an NVIDIA GPU, answered without importing torch (the DAG build asks)."""

from __future__ import annotations

import os
from pathlib import Path

_DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


def cuda_hidden() -> bool:
    """True when CUDA_VISIBLE_DEVICES hides every GPU from this process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible is not None and visible.strip() in ("", "-1")


def nvidia_gpu_names() -> list[str]:
    """Model names of the GPUs the NVIDIA driver reports, [] without a driver or with CUDA hidden."""
    if cuda_hidden() or not _DRIVER_GPUS.is_dir():
        return []
    names = []
    for info in sorted(_DRIVER_GPUS.glob("*/information")):
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    if not names and Path("/dev/nvidia0").exists():
        names.append("NVIDIA GPU")
    return names


def no_gpu_reason() -> str | None:
    """Why CUDA cannot be used here, or None if a GPU seems present (torch has the last word)."""
    if cuda_hidden():
        return "no CUDA device (CUDA_VISIBLE_DEVICES hides every GPU)"
    if not nvidia_gpu_names() and not Path("/dev/nvidia0").exists():
        return "no CUDA device (no NVIDIA driver or GPU found)"
    return None


def cpu_flags() -> set[str]:
    """The instruction-set flags /proc/cpuinfo lists for this CPU (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def no_cpu_bf16_reason() -> str | None:
    """Why this CPU cannot run bf16 arithmetic natively, or None where it can."""
    if set(CPU_BF16_FLAGS) & cpu_flags():
        return None
    return f"bf16 needs a CPU with bf16 instructions ({' or '.join(CPU_BF16_FLAGS)}); this one has neither"
