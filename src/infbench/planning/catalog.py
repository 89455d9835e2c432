"""What the benchmark knows about: backends, their variants, precisions and libraries.

Pure data, no heavy imports: the Snakefile reads it while building the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infbench.planning.variants import (
    AsyncRequests,
    BatchingQueue,
    OnnxRuntimeOptions,
    OpenVINOOptions,
    PyTorchOptions,
    QuantRecipe,
    ServingLoop,
    TensorRTOptions,
    Variant,
)

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
        Library("nncf", "nncf", ("nncf",)),
        Library("torchao", "torchao", ("torchao",)),
        Library("scipy", "scipy", ("scipy",)),
        Library("pandas", "pandas", ("pandas",)),
        Library("tabulate", "tabulate", ("tabulate",)),
        Library("matplotlib", "matplotlib", ("matplotlib",)),
        Library("loadgen", "mlperf_loadgen", ("mlcommons-loadgen",)),  # MLPerf's LoadGen: the serving scenarios
    )
}


PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# Precisions that trade accuracy for speed by design: a cell that fails the parity gate on finite
# outputs is still timed, and shown as a failure with its figures, never in the fastest table.
REDUCED = ("fp16", "bf16", "int8")
QUANTIZED = ("int8",)  # whose top-1 accuracy the fastest table shows beside its time
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
NO_INT8_CUDA_PYTORCH = "int8 not supported by this backend (PyTorch on CUDA, eager and inductor, has no INT8 convolution kernels)"
NO_INT8_CUDA_ONNXRUNTIME = (
    "int8 not supported by this backend (ONNX Runtime's CUDA provider has no INT8 convolution kernels; its "
    "documentation sends INT8 on GPUs to the TensorRT provider)"
)
NO_INT8_TORCH2TRT = (
    "int8 not supported by this backend (torch2trt's INT8 calibrates through TensorRT's implicit calibrators, "
    "deprecated since TensorRT 10.1 and gone in 11; TensorRT's int8_qdq variant runs an explicitly quantized model)"
)

# How models are quantized to 8 bits, each a step of its own (rule quantize) that every cell running it
# shares. "ends_fp32": the first convolution and the classifier stay in fp32, where 8 bits cost most.
KEEP_ENDS = ("first_conv", "classifier")
RECIPES: dict[str, QuantRecipe] = {
    r.name: r
    for r in (
        QuantRecipe(name="qdq_u8s8", label="QDQ U8S8", quantizer="onnxruntime"),
        QuantRecipe(name="qdq_s8s8", label="QDQ S8S8", quantizer="onnxruntime", activations="int8"),
        QuantRecipe(name="qdq_u8s8_ends_fp32", label="QDQ U8S8, first and last layers fp32", quantizer="onnxruntime",
                    keep_float=KEEP_ENDS),
        QuantRecipe(name="qdq_u8s8_tuned", label="QDQ U8S8, first layer's weights 7-bit, last layer fp32",
                    quantizer="onnxruntime", keep_float=("classifier",), seven_bit_weights=("first_conv",)),
        QuantRecipe(name="qdq_u8s8_accuracy", label="QDQ U8S8, accuracy-aware", quantizer="onnxruntime", accuracy_aware=True),
        QuantRecipe(name="qdq_s8s8_symmetric", label="QDQ S8S8 symmetric", quantizer="onnxruntime", activations="int8",
                    symmetric_activations=True),
        QuantRecipe(name="nncf", label="NNCF", quantizer="nncf"),
        QuantRecipe(name="nncf_ends_fp32", label="NNCF, first and last layers fp32", quantizer="nncf", keep_float=KEEP_ENDS),
        QuantRecipe(name="nncf_accuracy", label="NNCF, accuracy control", quantizer="nncf", accuracy_aware=True),
        QuantRecipe(name="pt2e_x86", label="PT2E X86Inductor", quantizer="torchao"),
    )
}
QUANTIZER_LIBRARIES = {"onnxruntime": ("onnxruntime", "onnx", "numpy"), "nncf": ("nncf", "openvino", "numpy"),
                       "torchao": ("torch", "torchvision", "torchao", "numpy")}


def int8_variant(name: str, recipe: str, options_class, minutes: bool = False, serving: ServingLoop | None = None,
                 **options) -> Variant:
    """A variant that runs a recipe's 8-bit model (precision int8 only)."""
    spec = RECIPES[recipe]
    return Variant(name=name, label=spec.label, description=f"int8 from the {recipe} quantization step",
                   options=options_class(quantization=spec, **options), runs_by_default=not minutes, serving=serving)


# How each runtime serves requests that arrive one by one (LoadGen's scenarios), as its documentation
# serves: a GPU gathers queued requests into batches, padded to a few sizes (a compilation or CUDA-graph
# capture each); eager PyTorch on a CPU batches without padding; ONNX Runtime runs concurrent calls on
# one session; OpenVINO keeps its THROUGHPUT streams busy through AsyncInferQueue.
GPU_BATCH_SIZES = (1, 8, 32, 64, 128, 256)
GPU_BATCHING = BatchingQueue(workers=1, max_batch=GPU_BATCH_SIZES[-1], batch_sizes=GPU_BATCH_SIZES)
CPU_BATCHING = BatchingQueue(workers=1, max_batch=8)
CPU_COMPILED_BATCHING = BatchingQueue(workers=1, max_batch=8, batch_sizes=(1, 2, 4, 8))  # one compilation per size
CONCURRENT_RUNS = BatchingQueue(workers=None, max_batch=1, intra_op_threads=1)
# SingleStream keeps one sample in flight: each runtime serves it one request at a time with all its
# threads, as its batch-1 timing cell runs (a throughput loop would give that request one thread), in
# LoadGen's own thread on a CPU; on a GPU in a worker thread of its own, where it was warmed up
# (torch.compile's CUDA graphs are recorded per thread).
ONE_AT_A_TIME = BatchingQueue(workers=0, max_batch=1)
ONE_AT_A_TIME_GPU = BatchingQueue(workers=1, max_batch=1)
OPENVINO_STREAMS = AsyncRequests(performance_hint="THROUGHPUT")


@dataclass(frozen=True, kw_only=True)
class Backend:
    """A runtime on a device: a column and row of the study's table, or an extra runtime beside it.

    Adding a backend is adding one of these and a module that implements `infbench.measuring.backends.base.Runtime`
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
    # Without a TF32 switch of its own, TF32 is kept off by NVIDIA_TF32_OVERRIDE=0, which also takes
    # cuDNN's frontend plans away: set only where it is the one switch there is.
    tf32_override: bool = False
    fp16_onnx: bool = False  # runs fp16 from the fp16 ONNX export (the PyTorch module's .half()), not the fp32 one
    serving: ServingLoop = CPU_BATCHING  # how its variants serve LoadGen's scenarios, unless a variant says otherwise
    single_stream_serving: ServingLoop = ONE_AT_A_TIME  # how it serves SingleStream, one sample in flight

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
    def runs_torch_module(self) -> bool:
        """Whether it runs the PyTorch module itself (or a conversion of it), not an ONNX file."""
        return self.artifact in ("pth", "torch2trt")

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

    def serving_loop(self, variant: str, scenario: str | None = None) -> ServingLoop:
        """How a variant serves LoadGen's scenario: its own loop, or the backend's (SingleStream: one at a time)."""
        if scenario == "SingleStream":
            return self.single_stream_serving
        return self.variant(variant).serving or self.serving


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
                      options=PyTorchOptions(channels_last=True, compile_mode="default"), runs_by_default=False,
                      serving=CPU_COMPILED_BATCHING)
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
    serving=CPU_COMPILED_BATCHING,
)
COMPILE_MAX_AUTOTUNE_CUDA = Variant(
    name="compile_max_autotune", label="torch.compile max-autotune", description=MAX_AUTOTUNE_DESCRIPTION,
    options=PyTorchOptions(channels_last=True, compile_mode="max-autotune", cudnn_benchmark=True, cuda_graph=True),
    runs_by_default=False,
)
TRANSFORMER_OPTIMIZER = Variant(
    name="transformer", label="transformer optimizer",
    description="onnxruntime.transformers' optimizer: attention, LayerNorm and GELU fused (vision transformers only)",
    options=OnnxRuntimeOptions(transformer_optimizer=True), runs_by_default=False,
)
ORT_CUDA_VARIANTS = (
    Variant(name="default", label="CUDA provider",
            description="CUDA execution provider, NCHW, cuDNN convolution search EXHAUSTIVE", options=OnnxRuntimeOptions()),
    Variant(name="nhwc", label="CUDA provider, NHWC",
            description="prefer_nhwc: convolutions in NHWC (faster in fp16 on tensor cores)",
            options=OnnxRuntimeOptions(nhwc=True)),
    Variant(name="cuda_graph", label="CUDA provider + CUDA graph",
            description="enable_cuda_graph with IO binding of fixed device buffers, the batch axis fixed to the cell's",
            options=OnnxRuntimeOptions(cuda_graph=True, fixed_shape=True)),
    Variant(name="nhwc_cuda_graph", label="CUDA provider, NHWC + CUDA graph",
            description="prefer_nhwc and enable_cuda_graph together, the batch axis fixed to the cell's",
            options=OnnxRuntimeOptions(nhwc=True, cuda_graph=True, fixed_shape=True)),
    TRANSFORMER_OPTIMIZER,
    Variant(name="transformer_cuda_graph", label="CUDA provider, transformer optimizer + CUDA graph",
            description="the transformer optimizer's model replayed as a CUDA graph, the batch axis fixed to the cell's",
            options=OnnxRuntimeOptions(transformer_optimizer=True, cuda_graph=True, fixed_shape=True), runs_by_default=False),
)
PYTORCH_LIBRARIES = ("torch", "torchvision", "numpy")


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            name="pytorch_cpu", title="PyTorch, CPU", framework="PyTorch", row="CPU", device="cpu", artifact="pth",
            libraries=PYTORCH_LIBRARIES, module="infbench.measuring.backends.pytorch",
            variants=(EAGER, CHANNELS_LAST, COMPILE_CPU, COMPILE_MAX_AUTOTUNE_CPU,
                      int8_variant("int8_pt2e", "pt2e_x86", PyTorchOptions, serving=CPU_COMPILED_BATCHING, channels_last=True,
                                   compile_mode="default")),
            unsupported={"fp16": CPU_FP16_PYTORCH},
        ),
        Backend(
            name="pytorch_cuda", title="PyTorch, CUDA", framework="PyTorch", row="CUDA (GPU)", device="cuda", artifact="pth",
            libraries=PYTORCH_LIBRARIES, module="infbench.measuring.backends.pytorch",
            variants=(EAGER, CHANNELS_LAST_CUDA, COMPILE_CUDA, COMPILE_CUDAGRAPHS, COMPILE_MAX_AUTOTUNE_CUDA),
            unsupported={"int8": NO_INT8_CUDA_PYTORCH},
            serving=GPU_BATCHING,
            single_stream_serving=ONE_AT_A_TIME_GPU,
        ),
        Backend(
            name="torch2trt", title="torch2trt", framework="PyTorch", row="TensorRT (GPU)", device="cuda", artifact="torch2trt",
            libraries=("torch", "torchvision", "torch2trt", "tensorrt", "numpy"), module="infbench.measuring.backends.torch2trt",
            variants=(Variant(name="default", label="torch2trt", description="torch2trt's conversion, executed by its TRTModule"),),
            unsupported={"bf16": "bf16 not supported by torch2trt (it converts in fp32 or, with fp16_mode, fp16)",
                         "int8": NO_INT8_TORCH2TRT},
            label="torch2trt",
            tf32_override=True,
            serving=GPU_BATCHING,
            single_stream_serving=ONE_AT_A_TIME_GPU,
        ),
        Backend(
            name="onnxruntime_cpu", title="ONNX Runtime, CPU provider", framework="ONNX Runtime", row="CPU", device="cpu",
            artifact="onnx", libraries=("onnxruntime", "numpy"), module="infbench.measuring.backends.onnxruntime",
            variants=(
                Variant(name="default", label="CPU provider", description="CPU execution provider, all graph optimisations",
                        options=OnnxRuntimeOptions()),
                Variant(name="fixed_shape", label="CPU provider, fixed shape",
                        description="the batch axis fixed to the cell's (free dimension override): shape arithmetic folded away",
                        options=OnnxRuntimeOptions(fixed_shape=True), runs_by_default=False),
                TRANSFORMER_OPTIMIZER,
                int8_variant("qdq_u8s8", "qdq_u8s8", OnnxRuntimeOptions),
                int8_variant("qdq_s8s8", "qdq_s8s8", OnnxRuntimeOptions),
                int8_variant("qdq_u8s8_ends_fp32", "qdq_u8s8_ends_fp32", OnnxRuntimeOptions),
                int8_variant("qdq_u8s8_tuned", "qdq_u8s8_tuned", OnnxRuntimeOptions),
                int8_variant("qdq_u8s8_accuracy", "qdq_u8s8_accuracy", OnnxRuntimeOptions, minutes=True),
            ),
            unsupported={"fp16": CPU_FP16_ONNXRUNTIME, "bf16": NO_BF16_ONNX},
            provider="CPUExecutionProvider",
            serving=CONCURRENT_RUNS,
        ),
        Backend(
            name="onnxruntime_cuda", title="ONNX Runtime, CUDA provider", framework="ONNX Runtime", row="CUDA (GPU)",
            device="cuda", artifact="onnx",
            libraries=("torch", "onnxruntime", "numpy"),  # torch first: it loads the CUDA libraries
            module="infbench.measuring.backends.onnxruntime", variants=ORT_CUDA_VARIANTS,
            unsupported={"bf16": NO_BF16_ONNX, "int8": NO_INT8_CUDA_ONNXRUNTIME},
            provider="CUDAExecutionProvider",
            fp16_onnx=True,
            serving=GPU_BATCHING,
            single_stream_serving=ONE_AT_A_TIME_GPU,
        ),
        Backend(
            name="onnxruntime_tensorrt", title="ONNX Runtime, TensorRT provider", framework="ONNX Runtime",
            row="TensorRT (GPU)", device="cuda", artifact="onnx", libraries=("torch", "onnxruntime", "tensorrt", "numpy"),
            module="infbench.measuring.backends.onnxruntime",
            variants=(
                Variant(name="default", label="TensorRT Provider",
                        description="TensorRT execution provider with engine and timing caches", options=OnnxRuntimeOptions()),
                Variant(name="cuda_graph", label="TensorRT Provider + CUDA graph",
                        description="trt_cuda_graph_enable: the engine replayed as a CUDA graph",
                        options=OnnxRuntimeOptions(cuda_graph=True)),
                int8_variant("int8_qdq", "qdq_s8s8_symmetric", OnnxRuntimeOptions),
            ),
            unsupported={"bf16": NO_BF16_ONNX},
            label="TensorRT Provider",
            provider="TensorrtExecutionProvider",
            tf32_override=True,
            serving=GPU_BATCHING,
            single_stream_serving=ONE_AT_A_TIME_GPU,
        ),
        Backend(
            name="tensorrt", title="TensorRT", framework="TensorRT", row="TensorRT (GPU)", device="cuda", artifact="trt",
            libraries=("torch", "tensorrt", "numpy"), module="infbench.measuring.backends.tensorrt",
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
                int8_variant("int8_qdq", "qdq_s8s8_symmetric", TensorRTOptions, builder_level=3, cuda_graph=True),
            ),
            unsupported={"bf16": "bf16 engines are not built by this workflow (fp32 and fp16 only)"},
            serving=GPU_BATCHING,
            single_stream_serving=ONE_AT_A_TIME_GPU,
        ),
        Backend(
            name="openvino", title="OpenVINO, CPU", row="CPU", device="cpu", artifact="onnx", libraries=("openvino", "numpy"),
            module="infbench.measuring.backends.openvino",
            variants=(
                Variant(name="latency", label="latency hint", description='PERFORMANCE_HINT "LATENCY": one request at a time',
                        options=OpenVINOOptions(performance_hint="LATENCY")),
                Variant(name="throughput", label="throughput hint",
                        description='PERFORMANCE_HINT "THROUGHPUT": the plugin\'s optimal number of requests in flight (AsyncInferQueue)',
                        options=OpenVINOOptions(performance_hint="THROUGHPUT"),
                        runs_by_default=False),  # half a minute more on 2 cores: the default job would pass 4.5 minutes
                int8_variant("int8_nncf", "nncf", OpenVINOOptions),
                int8_variant("int8_nncf_ends_fp32", "nncf_ends_fp32", OpenVINOOptions),
                int8_variant("int8_qdq", "qdq_u8s8_ends_fp32", OpenVINOOptions),
                int8_variant("int8_qdq_tuned", "qdq_u8s8_tuned", OpenVINOOptions),
                int8_variant("int8_nncf_accuracy", "nncf_accuracy", OpenVINOOptions, minutes=True),
            ),
            serving=OPENVINO_STREAMS,
        ),
    )
}


def backend_at(framework: str, row: str) -> Backend | None:
    """The backend in a cell of the study's table, or None where the study has '-'."""
    for backend in BACKENDS.values():
        if backend.framework == framework and backend.row == row:
            return backend
    return None
