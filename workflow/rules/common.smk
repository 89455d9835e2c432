# Paths, settings and helpers shared by the rules. Nothing here imports torch or onnxruntime:
# library versions come from package metadata, the GPU from the driver's /proc entries.

from snakemake.logging import logger

from infbench.backends import tensorrt as tensorrt_backend
from infbench.backends import torch2trt as torch2trt_backend
from infbench.catalog import BACKENDS, LIBRARIES
from infbench.dependencies import package_files
from infbench.envinfo import usable_cpus
from infbench.hardware import nvidia_gpu_names
from infbench.versions import distribution_warnings, installed_version, installed_versions

MANIFEST = "results/data/manifest.json"
IMAGES = "results/data/images"
WEIGHTS = "results/model/model_weights.pth"
CARD = "results/model/model_card.json"
ONNX = "results/model/onnx_model.onnx"
ONNX_FP16 = "results/model/onnx_model_fp16.onnx"
ONNX_CHECK = "results/model/onnx_check.json"
EVAL_SET = "results/reference/eval_set.npz"
ENGINE = "results/engines/trt_model_{precision}_bs{batch}.trt"
ENGINE_INFO = "results/engines/trt_model_{precision}_bs{batch}.json"
TORCH2TRT = "results/engines/torch2trt_{precision}_bs{batch}.pth"
TORCH2TRT_INFO = "results/engines/torch2trt_{precision}_bs{batch}.json"
RECORD = "results/records/{backend}/{precision}_bs{batch}.json"

BENCH = config["benchmark"]
THREADS = BENCH["threads"] or usable_cpus()
# GPU rules rerun when the GPU changes (or appears): its model names are one of their params.
GPU = ", ".join(nvidia_gpu_names()) or "none"
TRT_VERSION = installed_version("tensorrt")
# Whether the engine and torch2trt builds can run here (library and GPU), decided once for the DAG.
TENSORRT_MISSING = tensorrt_backend.missing()
TORCH2TRT_MISSING = torch2trt_backend.missing()
# Timing jobs take all of machine_share (its limit is set in profiles/default), other jobs 1.
WHOLE_MACHINE = 100

TIMING_SETTINGS = {
    "measure": {
        "iterations": BENCH["iterations"],
        "min_time_s": BENCH["min_time_s"],
        "max_time_s": BENCH["max_time_s"],
        "min_iterations": BENCH["min_iterations"],
    },
    "warmup": BENCH["warmup"],
    "threads": THREADS,
    "noisy_cv": BENCH["noisy_cv"],
    "allow_tf32": BENCH["allow_tf32"],
    "workspace_mb": BENCH["workspace_mb"],
    "tolerances": config["parity"]["tolerances"],
}


for _warning in distribution_warnings(LIBRARIES):
    logger.warning(f"warning: {_warning}")

PACKAGE_ROOT = Path(workflow.basedir) / "src"
SCRIPTS = Path(workflow.basedir) / "scripts"


def code(script, *modules):
    """The package's files that a script imports (and `modules`, loaded by name): inputs, so that editing one reruns the rule."""
    return list(package_files(PACKAGE_ROOT, SCRIPTS / script, modules))


def versions(*libraries):
    """Installed versions of the given libraries, as a param, so that a new version reruns the rule."""
    return installed_versions(libraries)


def record_paths():
    return [
        RECORD.format(backend=backend, precision=precision, batch=batch)
        for backend in BENCH["backends"]
        for precision in BENCH["precisions"]
        for batch in BENCH["batch_sizes"]
    ]


def timing_inputs(backend_name):
    """Input function of a backend's timing rule: only what that backend runs, built only where it can run."""
    backend = BACKENDS[backend_name]

    def inputs(wildcards):
        files = {"eval_set": EVAL_SET, "card": CARD, "code": code("time_backend.py", backend.implementation)}
        cell = {"precision": wildcards.precision, "batch": wildcards.batch}
        if backend.artifact == "pth":
            files["pth"] = WEIGHTS
        elif backend.artifact == "onnx":
            files["onnx"] = ONNX
            files["onnx_check"] = ONNX_CHECK
            if wildcards.precision == "fp16" and backend.name == "onnxruntime_cuda":
                files["onnx_fp16"] = ONNX_FP16
        elif backend.artifact == "trt" and TENSORRT_MISSING is None:
            files["engine"] = ENGINE.format(**cell)
            files["build"] = ENGINE_INFO.format(**cell)
        elif backend.artifact == "torch2trt" and TORCH2TRT_MISSING is None:
            files["torch2trt"] = TORCH2TRT.format(**cell)
            files["build"] = TORCH2TRT_INFO.format(**cell)
        return files

    return inputs


def engine_onnx(wildcards):
    """TensorRT 11 makes fp16 engines from an fp16 ONNX model; earlier versions from fp32 with a flag."""
    if wildcards.precision == "fp16" and tensorrt_backend.fp16_onnx_needed(TRT_VERSION):
        return ONNX_FP16
    return ONNX
