"""What the benchmark knows about: model architectures, backends, precisions and libraries.

Pure data, no heavy imports: the Snakefile reads it while building the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass

# torchvision classifiers the workflow can train and export, with the smallest
# square input each can take (five stride-2 stages bring 32 px down to 1 px).
ARCHITECTURES: dict[str, int] = {
    "resnet18": 32,
    "resnet34": 32,
    "resnet50": 32,
    "resnet101": 32,
    "resnet152": 32,
    "mobilenet_v2": 32,
    "mobilenet_v3_small": 32,
    "mobilenet_v3_large": 32,
    "efficientnet_b0": 32,
    "regnet_y_400mf": 32,
    "convnext_tiny": 32,
    "densenet121": 32,
}
MAX_IMAGE_SIZE = 1024

# Rows and columns of the study's table.
ROWS = ("CPU", "CUDA (GPU)", "TensorRT (GPU)")
COLUMNS = ("PyTorch", "ONNX Runtime", "TensorRT")
COLUMN_ARTIFACTS = {
    "PyTorch": "model_weights.pth",
    "ONNX Runtime": "onnx_model.onnx",
    "TensorRT": "trt_model.trt",
}


@dataclass(frozen=True)
class Library:
    """A Python library whose installed version is a parameter of the rules that use it."""

    name: str
    module: str
    distributions: tuple[str, ...]  # pip distribution names, in order of preference
    # A file inside the module that names the distribution and version it was built as (package_name,
    # __version__): what will really be imported when several distributions wrote the same files.
    build_info: str | None = None
    exclusive: bool = False  # the distributions are alternatives: two installed at once is a mistake


LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        Library("numpy", "numpy", ("numpy",)),
        Library("pillow", "PIL", ("pillow",)),
        Library("scikit-learn", "sklearn", ("scikit-learn",)),
        Library("torch", "torch", ("torch",)),
        Library("torchvision", "torchvision", ("torchvision",)),
        Library("onnx", "onnx", ("onnx",)),
        Library("onnxscript", "onnxscript", ("onnxscript",)),
        Library(
            "onnxruntime",
            "onnxruntime",
            ("onnxruntime-gpu", "onnxruntime", "onnxruntime-openvino"),
            build_info="capi/build_and_package_info.py",
            exclusive=True,
        ),
        Library(
            "tensorrt",
            "tensorrt",
            (
                "tensorrt",
                "tensorrt-cu13",
                "tensorrt-cu12",
                "tensorrt-cu13-bindings",
                "tensorrt-cu12-bindings",
                "tensorrt-bindings",
            ),
        ),
        Library("torch2trt", "torch2trt", ("torch2trt",)),
        Library("openvino", "openvino", ("openvino",)),
        Library("pandas", "pandas", ("pandas",)),
        Library("tabulate", "tabulate", ("tabulate",)),
        Library("matplotlib", "matplotlib", ("matplotlib",)),
    )
}


PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class Variant:
    """One way to run a backend: an optimisation setting that a user of that runtime would choose."""

    name: str  # in paths and the config: [a-z0-9_]
    label: str  # in tables, as the study labelled its cells: "0.61 ms (torch.compile + CUDA graphs, fp16)"
    description: str
    runs_by_default: bool = True  # False: only when benchmark.variants asks for it (minutes of compile)


@dataclass(frozen=True)
class Backend:
    """A runtime on a device: a column and row of the study's table, or an extra runtime beside it."""

    name: str
    title: str  # the runtime in tables of its own: "PyTorch, CUDA"
    framework: str  # the study's column ("" for runtimes outside the study's table)
    row: str  # the study's row, or the device's name
    device: str  # "cpu" or "cuda"
    artifact: str  # what it runs: "pth", "onnx", "trt" or "torch2trt"
    libraries: tuple[str, ...]  # keys of LIBRARIES that its timing rule imports
    module: str  # infbench.backends.<module>: how it loads and runs
    variants: tuple[Variant, ...]  # the first is the study's (the runtime's default path)
    label: str = ""  # shown after the number in the study's table, as the study did: "2.099 ms (torch2trt)"
    provider: str = ""  # ONNX Runtime execution provider, where there is one

    @property
    def is_gpu(self) -> bool:
        return self.device == "cuda"

    @property
    def in_study(self) -> bool:
        return bool(self.framework)

    @property
    def implementation(self) -> str:
        return f"infbench.backends.{self.module}"

    @property
    def default_variant(self) -> str:
        return self.variants[0].name

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(f"{self.name} has no variant {name!r} (it has: {', '.join(v.name for v in self.variants)})")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def variants_by_default(self) -> list[str]:
        return [v.name for v in self.variants if v.runs_by_default]


EAGER = Variant("eager", "eager", "PyTorch's default: eager mode, NCHW, under torch.inference_mode()")
CHANNELS_LAST = Variant("channels_last", "channels-last", "model and input in channels-last (NHWC) memory format")
CHANNELS_LAST_CUDA = Variant(
    "channels_last", "channels-last", "model and input in channels-last memory format, cudnn.benchmark on"
)
COMPILE = Variant(
    "compile", "torch.compile", "torch.compile (inductor, default mode) of the channels-last model; compile time is build_s",
    runs_by_default=False,
)
COMPILE_GPU = Variant(COMPILE.name, COMPILE.label, COMPILE.description)
COMPILE_CUDAGRAPHS = Variant(
    "compile_cudagraphs",
    "torch.compile + CUDA graphs",
    'torch.compile(mode="reduce-overhead"): inductor and CUDA graphs, channels-last; compile and capture time is build_s',
)
COMPILE_MAX_AUTOTUNE = Variant(
    "compile_max_autotune",
    "torch.compile max-autotune",
    'torch.compile(mode="max-autotune"): searches kernel configurations (many minutes for ResNet50), CUDA graphs on a GPU',
    runs_by_default=False,
)
ORT_CUDA_VARIANTS = (
    Variant("default", "CUDA provider", "CUDA execution provider, NCHW, cuDNN convolution search EXHAUSTIVE"),
    Variant("nhwc", "CUDA provider, NHWC", "prefer_nhwc: convolutions in NHWC (faster in fp16 on tensor cores)"),
    Variant("cuda_graph", "CUDA provider + CUDA graph", "enable_cuda_graph with IO binding of fixed device buffers"),
    Variant("nhwc_cuda_graph", "CUDA provider, NHWC + CUDA graph", "prefer_nhwc and enable_cuda_graph together"),
)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "pytorch_cpu", "PyTorch, CPU", "PyTorch", "CPU", "cpu", "pth", ("torch", "torchvision", "numpy"), "pytorch",
            (EAGER, CHANNELS_LAST, COMPILE, COMPILE_MAX_AUTOTUNE),
        ),
        Backend(
            "pytorch_cuda", "PyTorch, CUDA", "PyTorch", "CUDA (GPU)", "cuda", "pth", ("torch", "torchvision", "numpy"),
            "pytorch", (EAGER, CHANNELS_LAST_CUDA, COMPILE_GPU, COMPILE_CUDAGRAPHS, COMPILE_MAX_AUTOTUNE),
        ),
        Backend(
            "torch2trt",
            "torch2trt",
            "PyTorch",
            "TensorRT (GPU)",
            "cuda",
            "torch2trt",
            ("torch", "torchvision", "torch2trt", "tensorrt", "numpy"),
            "torch2trt",
            (Variant("default", "torch2trt", "torch2trt's conversion, executed by its TRTModule"),),
            label="torch2trt",
        ),
        Backend(
            "onnxruntime_cpu",
            "ONNX Runtime, CPU provider",
            "ONNX Runtime",
            "CPU",
            "cpu",
            "onnx",
            ("onnxruntime", "numpy"),
            "onnxruntime",
            (Variant("default", "CPU provider", "CPU execution provider, all graph optimisations"),),
            provider="CPUExecutionProvider",
        ),
        Backend(
            "onnxruntime_cuda",
            "ONNX Runtime, CUDA provider",
            "ONNX Runtime",
            "CUDA (GPU)",
            "cuda",
            "onnx",
            ("torch", "onnxruntime", "numpy"),  # torch first: it loads the CUDA libraries
            "onnxruntime",
            ORT_CUDA_VARIANTS,
            provider="CUDAExecutionProvider",
        ),
        Backend(
            "onnxruntime_tensorrt",
            "ONNX Runtime, TensorRT provider",
            "ONNX Runtime",
            "TensorRT (GPU)",
            "cuda",
            "onnx",
            ("torch", "onnxruntime", "tensorrt", "numpy"),
            "onnxruntime",
            (
                Variant("default", "TensorRT Provider", "TensorRT execution provider with engine and timing caches"),
                Variant("cuda_graph", "TensorRT Provider + CUDA graph", "trt_cuda_graph_enable: the engine replayed as a CUDA graph"),
            ),
            label="TensorRT Provider",
            provider="TensorrtExecutionProvider",
        ),
        Backend(
            "tensorrt",
            "TensorRT",
            "TensorRT",
            "TensorRT (GPU)",
            "cuda",
            "trt",
            ("torch", "tensorrt", "numpy"),
            "tensorrt",
            (
                Variant("default", "builder level 3", "engine built at builder optimisation level 3 (the default), execute_async_v3"),
                Variant("cuda_graph", "CUDA graph", "the same engine, execute_async_v3 captured once and replayed as a CUDA graph"),
                Variant(
                    "level5_cuda_graph",
                    "builder level 5 + CUDA graph",
                    "engine built at builder optimisation level 5 (longer build, more tactics), replayed as a CUDA graph",
                ),
            ),
        ),
        Backend(
            "openvino",
            "OpenVINO, CPU",
            "",
            "CPU",
            "cpu",
            "onnx",
            ("openvino", "numpy"),
            "openvino",
            (
                Variant("latency", "latency hint", 'PERFORMANCE_HINT "LATENCY": one request at a time'),
                Variant(
                    "throughput",
                    "throughput hint",
                    'PERFORMANCE_HINT "THROUGHPUT": the plugin\'s optimal number of requests in flight (AsyncInferQueue)',
                    runs_by_default=False,  # half a minute more on 2 cores: the default job would pass 4.5 minutes
                ),
            ),
        ),
    )
}


def backend_at(framework: str, row: str) -> Backend | None:
    """The backend in a cell of the study's table, or None where the study has '-'."""
    for backend in BACKENDS.values():
        if backend.framework == framework and backend.row == row:
            return backend
    return None
