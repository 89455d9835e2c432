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
        Library("pandas", "pandas", ("pandas",)),
        Library("tabulate", "tabulate", ("tabulate",)),
        Library("matplotlib", "matplotlib", ("matplotlib",)),
    )
}


@dataclass(frozen=True)
class Backend:
    """One cell of the study's table: a runtime on a device."""

    name: str
    framework: str  # the study's column
    row: str  # the study's row
    device: str  # "cpu" or "cuda"
    artifact: str  # what it runs: "pth", "onnx", "trt" or "torch2trt"
    libraries: tuple[str, ...]  # keys of LIBRARIES that its timing rule imports
    label: str = ""  # shown after the number, as the study did: "2.099 ms (torch2trt)"
    provider: str = ""  # ONNX Runtime execution provider, where there is one

    @property
    def implementation(self) -> str:
        """The module that loads and runs it (infbench.backends.<runtime>)."""
        return "infbench.backends." + {"pth": "pytorch", "onnx": "onnxruntime", "trt": "tensorrt", "torch2trt": "torch2trt"}[self.artifact]

    @property
    def is_gpu(self) -> bool:
        return self.device == "cuda"


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("pytorch_cpu", "PyTorch", "CPU", "cpu", "pth", ("torch", "torchvision", "numpy")),
        Backend("pytorch_cuda", "PyTorch", "CUDA (GPU)", "cuda", "pth", ("torch", "torchvision", "numpy")),
        Backend(
            "torch2trt",
            "PyTorch",
            "TensorRT (GPU)",
            "cuda",
            "torch2trt",
            ("torch", "torchvision", "torch2trt", "tensorrt", "numpy"),
            label="torch2trt",
        ),
        Backend(
            "onnxruntime_cpu",
            "ONNX Runtime",
            "CPU",
            "cpu",
            "onnx",
            ("onnxruntime", "numpy"),
            provider="CPUExecutionProvider",
        ),
        Backend(
            "onnxruntime_cuda",
            "ONNX Runtime",
            "CUDA (GPU)",
            "cuda",
            "onnx",
            ("torch", "onnxruntime", "numpy"),  # torch first: it loads the CUDA libraries
            provider="CUDAExecutionProvider",
        ),
        Backend(
            "onnxruntime_tensorrt",
            "ONNX Runtime",
            "TensorRT (GPU)",
            "cuda",
            "onnx",
            ("torch", "onnxruntime", "tensorrt", "numpy"),
            label="TensorRT Provider",
            provider="TensorrtExecutionProvider",
        ),
        Backend("tensorrt", "TensorRT", "TensorRT (GPU)", "cuda", "trt", ("torch", "tensorrt", "numpy")),
    )
}


def backend_at(framework: str, row: str) -> Backend | None:
    """The backend in a cell of the study's table, or None where the study has '-'."""
    for backend in BACKENDS.values():
        if backend.framework == framework and backend.row == row:
            return backend
    return None
