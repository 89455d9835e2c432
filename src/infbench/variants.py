"""What a variant of a backend means, as data: the loaders read these options, never a variant's name.

Each backend has one typed options class, checked when it is declared, as optimum-benchmark gives
each backend one config dataclass. Pure data, no heavy imports: the DAG build reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's modes
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")  # OpenVINO's


@dataclass(frozen=True, kw_only=True)
class Options:
    """A backend's options for one variant; the base class holds what every backend may have."""

    cuda_graph: bool = False  # replay the inference as a captured CUDA graph

    def described(self) -> dict:
        """The options as the record's settings show them."""
        return dict(vars(self))


@dataclass(frozen=True, kw_only=True)
class PyTorchOptions(Options):
    channels_last: bool = False  # model and input in channels-last (NHWC) memory format
    compile_mode: str | None = None  # torch.compile's mode; None runs eagerly
    cudnn_benchmark: bool = False  # let cuDNN time its convolution algorithms (GPU)

    def __post_init__(self):
        if self.compile_mode is not None and self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode {self.compile_mode!r} is not one of {COMPILE_MODES}")
        if self.cuda_graph and self.compile_mode not in ("reduce-overhead", "max-autotune"):
            raise ValueError("PyTorch's CUDA graphs come from torch.compile's reduce-overhead or max-autotune mode")


@dataclass(frozen=True, kw_only=True)
class OnnxRuntimeOptions(Options):
    nhwc: bool = False  # the CUDA provider's prefer_nhwc


@dataclass(frozen=True, kw_only=True)
class TensorRTOptions(Options):
    builder_level: int = 3  # builder optimisation level: how long the builder searches tactics

    def __post_init__(self):
        if not 0 <= self.builder_level <= 5:
            raise ValueError(f"builder_level {self.builder_level} is not between 0 and 5")


@dataclass(frozen=True, kw_only=True)
class OpenVINOOptions(Options):
    performance_hint: str = "LATENCY"

    def __post_init__(self):
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise ValueError(f"performance_hint {self.performance_hint!r} is not one of {PERFORMANCE_HINTS}")
        if self.cuda_graph:
            raise ValueError("OpenVINO's CPU plugin has no CUDA graphs")


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One way to run a backend: an optimisation setting that a user of that runtime would choose."""

    name: str  # in paths and the config: [a-z0-9_]
    label: str  # in tables, as the study labelled its cells: "0.61 ms (torch.compile + CUDA graphs, fp16)"
    description: str
    options: Options = field(default_factory=Options)
    runs_by_default: bool = True  # False: only when benchmark.variants asks for it (minutes of compile)
