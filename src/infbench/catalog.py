"""What the benchmark knows about: backends, their variants, precisions and libraries.

Pure data, no heavy imports: the Snakefile reads it while building the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infbench.variants import OnnxRuntimeOptions, OpenVINOOptions, PyTorchOptions, TensorRTOptions, Variant

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
        Library("timm", "timm", ("timm",)),
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

# Why a backend never runs a precision, on any machine (a skipped cell's reason).
CPU_FP16_PYTORCH = (
    "fp16 not supported on CPU by this backend "
    "(PyTorch runs fp16 convolutions on x86 CPUs through a slow fallback, not a fast kernel)"
)
CPU_FP16_ONNXRUNTIME = (
    "fp16 not supported on CPU by this backend "
    "(ONNX Runtime's CPU provider casts an fp16 model back to fp32 and runs it in fp32)"
)
NO_BF16_ONNX = "bf16 not supported by this backend (the workflow exports fp32 and fp16 ONNX models)"


@dataclass(frozen=True, kw_only=True)
class Backend:
    """A runtime on a device: a column and row of the study's table, or an extra runtime beside it.

    Adding a backend is adding one of these and a module that implements `infbench.backends.base.Runtime`
    (docs/adding-a-backend.md).
    """

    name: str
    title: str  # the runtime in tables of its own: "PyTorch, CUDA"
    framework: str = ""  # the study's column ("" for runtimes outside the study's table)
    row: str  # the study's row, or the device's name
    device: str  # "cpu" or "cuda"
    artifact: str  # what it runs: "pth", "onnx", "trt" or "torch2trt"
    libraries: tuple[str, ...]  # keys of LIBRARIES that its timing rule imports
    module: str  # the module that implements it (its RUNTIME is a Runtime)
    variants: tuple[Variant, ...]  # the first is the study's (the runtime's default path)
    unsupported: dict[str, str] = field(default_factory=dict)  # precision -> why this backend never runs it
    label: str = ""  # shown after the number in the study's table, as the study did: "2.099 ms (torch2trt)"
    provider: str = ""  # ONNX Runtime execution provider, where there is one

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"{self.name}: device {self.device!r} is not one of {DEVICES}")
        if unknown := set(self.unsupported) - set(PRECISIONS):
            raise ValueError(f"{self.name}: unsupported names unknown precisions {sorted(unknown)}")
        if len(set(self.variant_names)) != len(self.variants):
            raise ValueError(f"{self.name}: two variants share a name")

    @property
    def is_gpu(self) -> bool:
        return self.device == "cuda"

    @property
    def in_study(self) -> bool:
        return bool(self.framework)

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


EAGER = Variant(name="eager", label="eager", description="PyTorch's default: eager mode, NCHW, under torch.inference_mode()",
                options=PyTorchOptions())
CHANNELS_LAST = Variant(name="channels_last", label="channels-last",
                        description="model and input in channels-last (NHWC) memory format",
                        options=PyTorchOptions(channels_last=True))
CHANNELS_LAST_CUDA = Variant(name="channels_last", label="channels-last",
                             description="model and input in channels-last memory format, cudnn.benchmark on",
                             options=PyTorchOptions(channels_last=True, cudnn_benchmark=True))
COMPILE_DESCRIPTION = "torch.compile (inductor, default mode) of the channels-last model; compile time is build_s"
COMPILE_CPU = Variant(name="compile", label="torch.compile", description=COMPILE_DESCRIPTION,
                      options=PyTorchOptions(channels_last=True, compile_mode="default"), runs_by_default=False)
COMPILE_CUDA = Variant(name="compile", label="torch.compile", description=COMPILE_DESCRIPTION,
                       options=PyTorchOptions(channels_last=True, compile_mode="default", cudnn_benchmark=True))
COMPILE_CUDAGRAPHS = Variant(
    name="compile_cudagraphs",
    label="torch.compile + CUDA graphs",
    description='torch.compile(mode="reduce-overhead"): inductor and CUDA graphs, channels-last; compile and capture time is build_s',
    options=PyTorchOptions(channels_last=True, compile_mode="reduce-overhead", cudnn_benchmark=True, cuda_graph=True),
)
MAX_AUTOTUNE_DESCRIPTION = (
    'torch.compile(mode="max-autotune"): searches kernel configurations (many minutes for ResNet50), CUDA graphs on a GPU'
)
COMPILE_MAX_AUTOTUNE_CPU = Variant(
    name="compile_max_autotune", label="torch.compile max-autotune", description=MAX_AUTOTUNE_DESCRIPTION,
    options=PyTorchOptions(channels_last=True, compile_mode="max-autotune"), runs_by_default=False,
)
COMPILE_MAX_AUTOTUNE_CUDA = Variant(
    name="compile_max_autotune", label="torch.compile max-autotune", description=MAX_AUTOTUNE_DESCRIPTION,
    options=PyTorchOptions(channels_last=True, compile_mode="max-autotune", cudnn_benchmark=True, cuda_graph=True),
    runs_by_default=False,
)
ORT_CUDA_VARIANTS = (
    Variant(name="default", label="CUDA provider",
            description="CUDA execution provider, NCHW, cuDNN convolution search EXHAUSTIVE", options=OnnxRuntimeOptions()),
    Variant(name="nhwc", label="CUDA provider, NHWC",
            description="prefer_nhwc: convolutions in NHWC (faster in fp16 on tensor cores)",
            options=OnnxRuntimeOptions(nhwc=True)),
    Variant(name="cuda_graph", label="CUDA provider + CUDA graph",
            description="enable_cuda_graph with IO binding of fixed device buffers", options=OnnxRuntimeOptions(cuda_graph=True)),
    Variant(name="nhwc_cuda_graph", label="CUDA provider, NHWC + CUDA graph",
            description="prefer_nhwc and enable_cuda_graph together", options=OnnxRuntimeOptions(nhwc=True, cuda_graph=True)),
)
PYTORCH_LIBRARIES = ("torch", "torchvision", "numpy")


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            name="pytorch_cpu", title="PyTorch, CPU", framework="PyTorch", row="CPU", device="cpu", artifact="pth",
            libraries=PYTORCH_LIBRARIES, module="infbench.backends.pytorch",
            variants=(EAGER, CHANNELS_LAST, COMPILE_CPU, COMPILE_MAX_AUTOTUNE_CPU),
            unsupported={"fp16": CPU_FP16_PYTORCH},
        ),
        Backend(
            name="pytorch_cuda", title="PyTorch, CUDA", framework="PyTorch", row="CUDA (GPU)", device="cuda", artifact="pth",
            libraries=PYTORCH_LIBRARIES, module="infbench.backends.pytorch",
            variants=(EAGER, CHANNELS_LAST_CUDA, COMPILE_CUDA, COMPILE_CUDAGRAPHS, COMPILE_MAX_AUTOTUNE_CUDA),
        ),
        Backend(
            name="torch2trt", title="torch2trt", framework="PyTorch", row="TensorRT (GPU)", device="cuda", artifact="torch2trt",
            libraries=("torch", "torchvision", "torch2trt", "tensorrt", "numpy"), module="infbench.backends.torch2trt",
            variants=(Variant(name="default", label="torch2trt", description="torch2trt's conversion, executed by its TRTModule"),),
            unsupported={"bf16": "bf16 not supported by torch2trt (it converts in fp32 or, with fp16_mode, fp16)"},
            label="torch2trt",
        ),
        Backend(
            name="onnxruntime_cpu", title="ONNX Runtime, CPU provider", framework="ONNX Runtime", row="CPU", device="cpu",
            artifact="onnx", libraries=("onnxruntime", "numpy"), module="infbench.backends.onnxruntime",
            variants=(Variant(name="default", label="CPU provider", description="CPU execution provider, all graph optimisations",
                              options=OnnxRuntimeOptions()),),
            unsupported={"fp16": CPU_FP16_ONNXRUNTIME, "bf16": NO_BF16_ONNX},
            provider="CPUExecutionProvider",
        ),
        Backend(
            name="onnxruntime_cuda", title="ONNX Runtime, CUDA provider", framework="ONNX Runtime", row="CUDA (GPU)",
            device="cuda", artifact="onnx",
            libraries=("torch", "onnxruntime", "numpy"),  # torch first: it loads the CUDA libraries
            module="infbench.backends.onnxruntime", variants=ORT_CUDA_VARIANTS, unsupported={"bf16": NO_BF16_ONNX},
            provider="CUDAExecutionProvider",
        ),
        Backend(
            name="onnxruntime_tensorrt", title="ONNX Runtime, TensorRT provider", framework="ONNX Runtime",
            row="TensorRT (GPU)", device="cuda", artifact="onnx", libraries=("torch", "onnxruntime", "tensorrt", "numpy"),
            module="infbench.backends.onnxruntime",
            variants=(
                Variant(name="default", label="TensorRT Provider",
                        description="TensorRT execution provider with engine and timing caches", options=OnnxRuntimeOptions()),
                Variant(name="cuda_graph", label="TensorRT Provider + CUDA graph",
                        description="trt_cuda_graph_enable: the engine replayed as a CUDA graph",
                        options=OnnxRuntimeOptions(cuda_graph=True)),
            ),
            unsupported={"bf16": NO_BF16_ONNX},
            label="TensorRT Provider",
            provider="TensorrtExecutionProvider",
        ),
        Backend(
            name="tensorrt", title="TensorRT", framework="TensorRT", row="TensorRT (GPU)", device="cuda", artifact="trt",
            libraries=("torch", "tensorrt", "numpy"), module="infbench.backends.tensorrt",
            variants=(
                Variant(name="default", label="builder level 3",
                        description="engine built at builder optimisation level 3 (the default), execute_async_v3",
                        options=TensorRTOptions(builder_level=3)),
                Variant(name="cuda_graph", label="CUDA graph",
                        description="the same engine, execute_async_v3 captured once and replayed as a CUDA graph",
                        options=TensorRTOptions(builder_level=3, cuda_graph=True)),
                Variant(name="level5_cuda_graph", label="builder level 5 + CUDA graph",
                        description="engine built at builder optimisation level 5 (longer build, more tactics), replayed as a CUDA graph",
                        options=TensorRTOptions(builder_level=5, cuda_graph=True)),
            ),
            unsupported={"bf16": "bf16 engines are not built by this workflow (fp32 and fp16 only)"},
        ),
        Backend(
            name="openvino", title="OpenVINO, CPU", row="CPU", device="cpu", artifact="onnx", libraries=("openvino", "numpy"),
            module="infbench.backends.openvino",
            variants=(
                Variant(name="latency", label="latency hint", description='PERFORMANCE_HINT "LATENCY": one request at a time',
                        options=OpenVINOOptions(performance_hint="LATENCY")),
                Variant(name="throughput", label="throughput hint",
                        description='PERFORMANCE_HINT "THROUGHPUT": the plugin\'s optimal number of requests in flight (AsyncInferQueue)',
                        options=OpenVINOOptions(performance_hint="THROUGHPUT"),
                        runs_by_default=False),  # half a minute more on 2 cores: the default job would pass 4.5 minutes
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
