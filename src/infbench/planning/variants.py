"""What a variant of a backend means, as data: the loaders read these options, never a variant's name.

Each backend has one typed options class, checked when it is declared, as optimum-benchmark gives
each backend one config dataclass. Pure data, no heavy imports: the DAG build reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's modes
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")  # OpenVINO's
FLOAT_PRECISIONS = ("fp32", "fp16", "bf16")
QUANTIZERS = ("onnxruntime", "nncf", "torchao")
KEEP_FLOAT = ("first_conv", "classifier")  # layers a recipe may keep in fp32 by name, for any model


@dataclass(frozen=True, kw_only=True)
class QuantRecipe:
    """How a model is quantized to 8 bits: a step of its own (rule `quantize`), shared by every cell that runs it."""

    name: str  # its folder under results/model/<model>/int8/
    label: str  # in tables: "QDQ U8S8"
    quantizer: str  # onnxruntime (quantize_static, QDQ), nncf (OpenVINO), torchao (PT2E with X86InductorQuantizer)
    activations: str = "uint8"  # the 8-bit type of activations: uint8 or int8
    symmetric_activations: bool = False  # TensorRT reads symmetric, signed 8-bit QDQ only
    per_channel: bool = True  # weights quantized per output channel
    calibration: str = "MinMax"  # onnxruntime: MinMax, Entropy or Percentile; nncf: its preset's statistics
    keep_float: tuple[str, ...] = ()  # layers kept in fp32 whatever their cost, from KEEP_FLOAT
    seven_bit_weights: tuple[str, ...] = ()  # layers whose weights use 7 bits (reduce_range): no int16 overflow on CPUs without VNNI
    accuracy_aware: bool = False  # keep the layers whose quantization costs most accuracy in fp32, until within max_drop

    def __post_init__(self):
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer {self.quantizer!r} is not one of {QUANTIZERS}")
        if self.activations not in ("uint8", "int8"):
            raise ValueError(f"activations {self.activations!r} is not uint8 or int8")
        if unknown := (set(self.keep_float) | set(self.seven_bit_weights)) - set(KEEP_FLOAT):
            raise ValueError(f"keep_float or seven_bit_weights names unknown layers {sorted(unknown)} (known: {KEEP_FLOAT})")
        if self.seven_bit_weights and self.quantizer != "onnxruntime":
            raise ValueError("seven_bit_weights is an ONNX Runtime quantization setting")


@dataclass(frozen=True, kw_only=True)
class Options:
    """A backend's options for one variant; the base class holds what every backend may have."""

    cuda_graph: bool = False  # replay the inference as a captured CUDA graph
    quantization: QuantRecipe | None = None  # an int8 variant: the recipe that makes its model

    def described(self) -> dict:
        """The options as the record's settings show them."""
        return {key: (vars(value) if isinstance(value, QuantRecipe) else value) for key, value in vars(self).items()}


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
    # The input's batch axis fixed to the cell's batch (a free dimension override), so that shape
    # arithmetic folds into constants: what a CUDA graph of a transformer's export needs.
    fixed_shape: bool = False
    # ONNX Runtime's transformer optimizer's model (fused attention, LayerNorm, GELU), for transformers.
    transformer_optimizer: bool = False


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
class ServingLoop:
    """How a runtime serves requests that arrive one by one (LoadGen's scenarios): a queue and what drains it."""

    def label(self, resolved: dict | None = None) -> str:
        """The loop in words, with what it resolved to on its machine (threads, OpenVINO's streams) where given."""
        raise NotImplementedError

    def described(self) -> dict:
        return {"kind": type(self).__name__, **vars(self)}

    @property
    def model_batches(self) -> tuple[int, ...]:
        """The batch sizes it loads a model at (a TensorRT engine is built for each)."""
        return (1,)


@dataclass(frozen=True, kw_only=True)
class BatchingQueue(ServingLoop):
    """Requests wait in one queue; each of `workers` threads takes up to `max_batch` of them and runs them as one batch.

    Triton's dynamic batching: a worker that finds fewer requests than a batch size waits up to
    `window_ms` after the oldest arrived for more; a batch is padded (with copies of a real image) up
    to the smallest of `batch_sizes` that holds it, so that compilations and CUDA-graph captures stay
    few (one model per size). `batch_sizes` empty: any size up to `max_batch`, unpadded, on one model
    (where the runtime takes any batch, as eager PyTorch and ONNX Runtime's CPU provider do).
    `max_batch` 1 and several workers: concurrent calls on one model (ONNX Runtime's `run` is
    thread-safe), each with `intra_op_threads` threads. `workers` 0: one request at a time in LoadGen's
    own issuing thread, no hand-over to another thread (as MLPerf's reference SUTs serve SingleStream).
    """

    workers: int | None = 1  # None: the cell's CPU threads divided by intra_op_threads; 0: LoadGen's thread
    max_batch: int = 1
    window_ms: float = 0.0
    batch_sizes: tuple[int, ...] = ()
    intra_op_threads: int | None = None  # None: the cell's threads (benchmark.threads)

    def __post_init__(self):
        if self.max_batch < 1 or (self.workers is not None and self.workers < 0) or self.window_ms < 0:
            raise ValueError("a batching queue needs max_batch of at least 1, workers of at least 0 and a window of 0 ms or more")
        if self.workers == 0 and self.max_batch != 1:
            raise ValueError("workers 0 (LoadGen's thread) serves one request at a time: max_batch must be 1")
        if self.batch_sizes and (list(self.batch_sizes) != sorted(set(self.batch_sizes)) or self.batch_sizes[0] != 1
                                 or self.batch_sizes[-1] != self.max_batch):
            raise ValueError(f"batch_sizes {self.batch_sizes} must rise from 1 to max_batch ({self.max_batch})")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise ValueError("intra_op_threads must be at least 1")

    @property
    def model_batches(self) -> tuple[int, ...]:
        return self.batch_sizes or (1,)

    def label(self, resolved: dict | None = None) -> str:
        resolved = resolved or {}
        workers = resolved.get("workers", self.workers)
        threads = resolved.get("intra_op_threads", self.intra_op_threads)
        each = f", {threads} intra-op thread{'s' if threads != 1 else ''}" if threads else ""
        if self.max_batch == 1 and workers in (0, 1):
            return f"one request at a time{' in LoadGen' + chr(39) + 's thread' if workers == 0 else ''}{each}"
        if self.max_batch == 1:
            calls = f"{workers} concurrent calls" if workers else "concurrent calls (one per CPU thread)"
            return f"{calls} on one model{each} each"
        window = f" within {self.window_ms:g} ms" if self.window_ms else ""
        padded = f", padded to {'/'.join(map(str, self.batch_sizes))}" if self.batch_sizes else ""
        who = f"{workers} worker{'s' if workers != 1 else ''}" if workers else "one worker per CPU thread"
        return f"dynamic batching up to {self.max_batch}{window}{padded}, {who}{each + ' each' if each else ''}"


@dataclass(frozen=True, kw_only=True)
class AsyncRequests(ServingLoop):
    """The runtime's own queue of asynchronous requests (OpenVINO's AsyncInferQueue), one request per sample.

    The served model is compiled with `performance_hint` (THROUGHPUT: the plugin's streams), and the
    queue holds `requests` requests in flight (None: the compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS).
    """

    performance_hint: str = "THROUGHPUT"
    requests: int | None = None

    def __post_init__(self):
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise ValueError(f"performance_hint {self.performance_hint!r} is not one of {PERFORMANCE_HINTS}")
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests must be at least 1")

    def label(self, resolved: dict | None = None) -> str:
        resolved = resolved or {}
        requests = resolved.get("requests", self.requests or "the optimal number of")
        streams = f", {resolved['streams']} streams" if "streams" in resolved else ""
        return f"AsyncInferQueue, {self.performance_hint} hint{streams}, {requests} requests in flight"


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One way to run a backend: an optimisation setting that a user of that runtime would choose."""

    name: str  # in paths and the config: [a-z0-9_]
    label: str  # in tables, as the study labelled its cells: "0.61 ms (torch.compile + CUDA graphs, fp16)"
    description: str
    options: Options = field(default_factory=Options)
    runs_by_default: bool = True  # False: only when benchmark.variants asks for it (minutes of compile)
    serving: ServingLoop | None = None  # how it serves LoadGen's scenarios (None: its backend's loop)

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions this variant runs: int8 for a quantization recipe, the float ones otherwise."""
        return ("int8",) if self.options.quantization else FLOAT_PRECISIONS

    def runs(self, precision: str) -> bool:
        return precision in self.precisions
