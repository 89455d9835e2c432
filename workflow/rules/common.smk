# Paths, settings and helpers shared by the rules. Nothing here imports torch or onnxruntime:
# library versions come from package metadata, the GPU from the driver's /proc entries.

from snakemake.logging import logger

from infbench.backends import tensorrt as tensorrt_backend
from infbench.backends import torch2trt as torch2trt_backend
from infbench.catalog import BACKENDS, LIBRARIES
from infbench.cells import Cell, WILDCARD_CONSTRAINTS, output_pattern, summary_path
from infbench.dependencies import package_files
from infbench.envinfo import usable_cpus
from infbench.hardware import nvidia_gpu_names
from infbench.machines import check_partitions, machines_of, slurm_partitions
from infbench.versions import distribution_warnings, installed_version, installed_versions

MANIFEST = "results/data/manifest.json"
IMAGES = "results/data/images"
WEIGHTS = "results/model/model_weights.pth"
CARD = "results/model/model_card.json"
ONNX = "results/model/onnx_model.onnx"
ONNX_INFO = "results/model/onnx_model.json"
ONNX_FP16 = "results/model/onnx_model_fp16.onnx"
ONNX_CHECK = "results/model/onnx_check.json"
EVAL_SET = "results/reference/eval_set.npz"
# Builds are specific to a machine's GPU and libraries: one folder each, holding the engine (or
# module) and build.json, which says why nothing was built where the machine cannot build.
ENGINE_DIR = "results/engines/{machine}/tensorrt/level{level}_{precision}_bs{batch}"
TORCH2TRT_DIR = "results/engines/{machine}/torch2trt/{precision}_bs{batch}"
CACHE_DIR = "results/cache/{machine}"  # inductor's kernels, ONNX Runtime's TensorRT engines

BENCH = config["benchmark"]
MACHINES = machines_of(config)
if config["machines"]:
    try:
        check_partitions(MACHINES, slurm_partitions())
    except ConfigError as exc:
        sys.exit(f"config error: {exc}")
LOCAL_THREADS = BENCH["threads"] or usable_cpus()
LOCAL_GPUS = nvidia_gpu_names()
TRT_VERSION = installed_version("tensorrt")
# Whether the engine and torch2trt builds can run on this computer (library and GPU), decided once.
TENSORRT_MISSING = tensorrt_backend.missing()
TORCH2TRT_MISSING = torch2trt_backend.missing()
# Timing jobs take all of machine_share (its limit is set in profiles/default), other jobs 1.
WHOLE_MACHINE = 100

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


def machine_threads(machine):
    m = MACHINES[machine]
    return BENCH["threads"] or (LOCAL_THREADS if m.is_local else m.cpus)


def machine_has_gpu(machine):
    m = MACHINES[machine]
    return bool(LOCAL_GPUS) if m.is_local else m.gpus > 0


def machine_gpu(machine):
    """The GPU a machine has, as a param of its GPU rules: they rerun when it changes (or appears)."""
    m = MACHINES[machine]
    if m.is_local:
        return ", ".join(LOCAL_GPUS) or "none"
    return f"{m.gpus} x {m.gpu_model or 'GPU'}" if m.gpus else "none"


def job_resources(gpu_job):
    """Resources of a job bound to a machine (its wildcard): its GPU, and on a cluster its partition and limits."""
    resources = {
        "gpu": lambda wildcards: int(gpu_job and machine_has_gpu(wildcards.machine)),
    }
    if config["machines"]:
        resources |= {
            "slurm_partition": lambda wildcards: MACHINES[wildcards.machine].partition,
            "gpu_model": lambda wildcards: (MACHINES[wildcards.machine].gpu_model or "") if gpu_job else "",
            "mem_mb": lambda wildcards: MACHINES[wildcards.machine].mem_mb,
            "runtime": lambda wildcards: MACHINES[wildcards.machine].runtime_min,
        }
    return resources


def timing_settings(machine):
    return {
        "measure": {
            "iterations": BENCH["iterations"],
            "min_time_s": BENCH["min_time_s"],
            "max_time_s": BENCH["max_time_s"],
            "min_iterations": BENCH["min_iterations"],
        },
        "warmup": BENCH["warmup"],
        "threads": machine_threads(machine),
        "noisy_cv": BENCH["noisy_cv"],
        "allow_tf32": BENCH["allow_tf32"],
        "workspace_mb": BENCH["workspace_mb"],
        "tolerances": config["parity"]["tolerances"],
    }


def cells():
    """Every cell the configuration asks for: machine x backend x variant x precision x batch size."""
    for machine in MACHINES:
        for backend in BENCH["backends"]:
            device = BACKENDS[backend].device
            for variant in BENCH["variants"][backend]:
                for precision in BENCH["precisions"]:
                    for batch in BENCH["batch_sizes"][device]:
                        yield Cell(machine, backend, variant, precision, batch)


def record_paths():
    return [cell.record_path for cell in cells()]


def may_build(machine, backend):
    """Whether a machine's TensorRT or torch2trt builds enter the plan.

    Here it is known (library and GPU); on a cluster's machine with a GPU the build job finds out,
    and writes why in build.json where it cannot build.
    """
    m = MACHINES[machine]
    if m.is_local:
        return (TENSORRT_MISSING if backend == "tensorrt" else TORCH2TRT_MISSING) is None
    return m.gpus > 0


def timing_inputs(backend_name):
    """Input function of a backend's timing rule: only what that backend runs, built only where it can run."""
    backend = BACKENDS[backend_name]

    def inputs(wildcards):
        files = {"eval_set": EVAL_SET, "card": CARD, "code": code("time_backend.py", backend.implementation)}
        cell = {"machine": wildcards.machine, "precision": wildcards.precision, "batch": wildcards.batch}
        if backend.artifact == "pth":
            files["pth"] = WEIGHTS
        elif backend.artifact == "onnx":
            files["onnx"] = ONNX
            if backend.module == "onnxruntime":  # ONNX Runtime's own check of the export comes first
                files["onnx_check"] = ONNX_CHECK
            if wildcards.precision == "fp16" and backend.name == "onnxruntime_cuda":
                files["onnx_fp16"] = ONNX_FP16
        elif wildcards.precision == "bf16":
            pass  # no bf16 engines: the cell is skipped with the reason
        elif backend.artifact == "trt" and may_build(wildcards.machine, "tensorrt"):
            files["engine_dir"] = ENGINE_DIR.format(level=tensorrt_backend.builder_level(wildcards.variant), **cell)
        elif backend.artifact == "torch2trt" and may_build(wildcards.machine, "torch2trt"):
            files["torch2trt_dir"] = TORCH2TRT_DIR.format(**cell)
        return files

    return inputs


def engine_onnx(wildcards):
    """TensorRT 11 makes fp16 engines from an fp16 ONNX model; earlier versions from fp32 with a flag."""
    if wildcards.precision == "fp16" and tensorrt_backend.fp16_onnx_needed(TRT_VERSION):
        return ONNX_FP16
    return ONNX


def comparison_inputs():
    """The summaries to compare: the runs named in compare.runs, and this run's own where asked for."""
    paths = [str(summary_path(run)) for run in config["compare"]["runs"]]
    if config["compare"]["include_this_run"]:
        paths.append("results/summary.json")
    return paths
