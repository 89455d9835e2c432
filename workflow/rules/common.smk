# Paths, settings and helpers shared by the rules. Nothing here imports torch, numpy or onnxruntime:
# library versions come from package metadata, the GPU from the driver's /proc entries.

import re

from snakemake.logging import logger

from infbench.planning.architectures import factory_file, factory_search_path
from infbench.planning.availability import fp16_onnx_needed, tensorrt_missing, torch2trt_missing
from infbench.planning.catalog import BACKENDS, LIBRARIES, QUANTIZER_LIBRARIES, RECIPES
from infbench.planning.cells import Cell, WILDCARD_CONSTRAINTS, output_pattern
from infbench.planning.dependencies import code_digests
from infbench.planning.envinfo import usable_cpus
from infbench.planning.hardware import nvidia_gpu_names
from infbench.planning.layout import (
    CACHE_DIR,
    CARD,
    CHART,
    CHART_SVG,
    COMPILE_CONTENTS,
    COMPILE_DIR,
    ENGINE_DIR,
    ENGINE_CONTENTS,
    EVAL_SET,
    IMAGES,
    INT8_CONTENTS,
    INT8_DIR,
    MANIFEST,
    ONNX,
    ONNX_CHECK,
    ONNX_FP16,
    ONNX_FP16_INFO,
    ONNX_INFO,
    ORT_TRANSFORMER_CONTENTS,
    ORT_TRANSFORMER_DIR,
    SUMMARY,
    SUMMARY_CSV,
    TABLE,
    TORCH2TRT_CONTENTS,
    TORCH2TRT_DIR,
    WEIGHTS,
)
from infbench.planning.machines import check_partitions, machines_of, slurm_partitions
from infbench.planning.modelspec import models_of
from infbench.planning.sources import dataset_listing, file_digest
from infbench.planning.variants import OnnxRuntimeOptions, PyTorchOptions
from infbench.planning.versions import distribution_warnings, installed_version, installed_versions
from infbench.model.ort_transformer import PRECISIONS as ORT_TRANSFORMER_PRECISIONS, model_type as transformer_type
from infbench.results.rerun import RerunState, measure_again, repair

BENCH = config["benchmark"]
# Every precision the run measures on some device, in the configuration's order (the report's headline picks from them).
RUN_PRECISIONS = list(dict.fromkeys(BENCH["precisions"]["cpu"] + BENCH["precisions"]["cuda"]))
MACHINES = machines_of(config)
MODELS = models_of(config)
if config["machines"]:
    try:
        check_partitions(MACHINES, slurm_partitions())
    except ConfigError as exc:
        sys.exit(f"config error: {exc}")
# Steps that are not measurements (training, references, checks) use every CPU this process may run
# on; how many is not a param of theirs, so that benchmark.threads reruns the measurements alone.
WORK_THREADS = usable_cpus()
LOCAL_THREADS = BENCH["threads"] or WORK_THREADS
LOCAL_GPUS = nvidia_gpu_names()
TRAIN_ON_GPU = config["train"]["device"] != "cpu" and bool(LOCAL_GPUS)
# Steps that measure nothing overlap each other (the machine's lock keeps every measurement alone):
# each still runs on every core (cpu_threads) but claims half of them, so that two of them share the
# cores and Python's single-threaded stretches of one fill the other's; more would thrash. Training on
# a GPU claims one core: its work is on the GPU, which it claims alone.
STEP_THREADS = max(1, WORK_THREADS // 2)
TRT_VERSION = installed_version("tensorrt")
# Whether the engine and torch2trt builds can run on this computer (library and GPU), decided once.
TENSORRT_MISSING = tensorrt_missing()
TORCH2TRT_MISSING = torch2trt_missing()
# Timing jobs take all of machine_share (its limit is set in profiles/default), other jobs 1. The
# machine's lock (infbench.measuring.isolation) keeps measurements apart whatever these are set to.
WHOLE_MACHINE = 100
RERUN = RerunState()  # the last reason each finished step was run again for (infbench.results.rerun)

for _warning in distribution_warnings(LIBRARIES):
    logger.warning(f"warning: {_warning}")

BASE = Path(workflow.basedir)
PACKAGE_ROOT = BASE / "src"
SCRIPTS = BASE / "scripts"


# Modules a job runs only where its backend or its recipe calls for them (loaded by name, or imported inside a
# function): each rule names those its jobs run, so that an edit of one reruns those jobs alone.
GPU_MODULE = "infbench.measuring.backends.cuda"
QUANTIZER_MODULES = {quantizer: f"infbench.measuring.quantization.{quantizer}" for quantizer in QUANTIZER_LIBRARIES}
CHOSEN_MODULES = frozenset({GPU_MODULE, *QUANTIZER_MODULES.values(), *(b.module for b in BACKENDS.values())})


def code(script, *modules):
    """Digests of a script and the package files it runs (and `modules`, chosen for its jobs): a param, so that an edit reruns the rule."""
    return code_digests(BASE, PACKAGE_ROOT, SCRIPTS / script, tuple(modules), CHOSEN_MODULES)


def backend_modules(backend_name):
    """What a timing job of the backend runs of CHOSEN_MODULES: its implementation, and on a GPU the GPU's helpers."""
    backend = BACKENDS[backend_name]
    return (backend.module, *((GPU_MODULE,) if backend.is_gpu else ()))


def quantize_code(wildcards):
    """The quantize rule's code param: the script and its recipe's quantizer, not the other quantizers."""
    return code("quantize.py", QUANTIZER_MODULES[RECIPES[wildcards.recipe].quantizer])


def versions(*libraries):
    """Installed versions of the given libraries, as a param, so that a new version reruns the rule."""
    return installed_versions(libraries)


def model_versions(model, *libraries):
    """Versions of what builds a model (torch, torchvision, and timm for timm's models; ONNX Runtime runs an ONNX file) and of `libraries`."""
    spec = MODELS[model]
    if spec.is_onnx_file:
        builders = ("onnx", "onnxruntime")
    elif spec.architecture.startswith("timm/"):
        builders = ("torch", "torchvision", "timm")
    else:
        builders = ("torch", "torchvision")
    return versions(*builders, *libraries)


def names_pattern(names):
    """A wildcard constraint matching exactly `names` (and nothing where there are none)."""
    return "|".join(re.escape(name) for name in sorted(names)) or "(?!)"


# Which rules make a model's card and ONNX file: training and export for a PyTorch model, the import
# of the given file for an ONNX one (each rule constrained to its models, so only one can apply).
TORCH_MODELS = names_pattern(name for name, spec in MODELS.items() if not spec.is_onnx_file)
ONNX_FILE_MODELS = names_pattern(name for name, spec in MODELS.items() if spec.is_onnx_file)


def timing_versions(backend_name):
    """A timing rule's versions param: its backend's libraries, and timm where a PyTorch cell builds a timm model."""
    backend = BACKENDS[backend_name]

    def of(wildcards):
        builds = backend.artifact in ("pth", "torch2trt") and MODELS[wildcards.model].architecture.startswith("timm/")
        return versions(*backend.libraries, *(("timm",) if builds else ()))

    return of


def train_settings(model):
    """The train rule's settings for one model: its architecture, size and weights, and how it is trained."""
    spec = MODELS[model]
    return {
        **config["train"],
        "architecture": spec.architecture,
        "image_size": spec.image_size,
        "weights": spec.weights,
        "trainable": spec.trainable_in(config["train"]),
    }


def train_inputs(wildcards):
    """What training reads: the prepared data, and the starting weights where the model has them (model.weights)."""
    weights = MODELS[wildcards.model].weights
    return {"manifest": manifest_of(wildcards)} | ({"starting_weights": weights} if weights else {})


def architecture_source(wildcards):
    """The train rule's param for a model of the user's own package.module:function: its module file's content, so
    that an edit retrains it (and reruns what is made from it); None for torchvision's and timm's models."""
    path = factory_file(MODELS[wildcards.model].architecture, factory_search_path(Path.cwd(), BASE))
    return file_digest(path) if path else None


def work_threads(wildcards, threads):
    """Threads for a step that measures nothing; a derived param (it takes `threads`), so not a rerun trigger."""
    return WORK_THREADS


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


def measuring_resources(gpu_job):
    """A measuring job's resources (the timing and serving rules of every backend in the catalogue): its machine's, the whole
    machine_share, so that Snakemake starts nothing beside it, and on a cluster its node alone (slurm_extra, read by the SLURM
    executor only)."""
    return job_resources(gpu_job) | {"machine_share": WHOLE_MACHINE, "slurm_extra": "--exclusive"}


MEASURE_POLICY = {key: BENCH[key] for key in ("iterations", "min_time_s", "max_time_s", "min_iterations")}


def timing_settings(backend_name):
    """A timing rule's settings param: how a cell is measured and judged (its precision's tolerance), and TF32 and
    TensorRT's workspace where the backend runs on a GPU. benchmark.noisy_cv is the report's, a param of the aggregate."""
    gpu = BACKENDS[backend_name].is_gpu

    def of(wildcards):
        settings = {
            "measure": MEASURE_POLICY,
            "warmup": BENCH["warmup"],
            "threads": machine_threads(wildcards.machine),
            "tolerance": config["parity"]["tolerances"][wildcards.precision],
        }
        return settings | ({"gpu": {"allow_tf32": BENCH["allow_tf32"], "workspace_mb": BENCH["workspace_mb"]}} if gpu else {})

    return of


def model_files(pattern):
    """An input function: `pattern` filled with the job's model."""
    return lambda wildcards: pattern.format(model=wildcards.model)


def manifest_of(wildcards):
    """The prepared data a model trains and is judged on: its image size's."""
    return MANIFEST.format(size=MODELS[wildcards.model].image_size)


def variant_precisions(backend_name):
    """(variant, precision) pairs of a backend's chosen variants: each at the precisions it runs.

    A precision that none of them runs is asked of the first, whose cell then says why it is skipped.
    """
    backend = BACKENDS[backend_name]
    chosen = [backend.variant(name) for name in BENCH["variants"][backend_name]]
    for precision in BENCH["precisions"][backend.device]:
        runs = [v.name for v in chosen if v.runs(precision)]
        yield from ((name, precision) for name in runs or [chosen[0].name])


def cells():
    """Every cell the configuration asks for: machine x model x backend x variant x precision x batch size."""
    for machine in MACHINES:
        for model in MODELS:
            for backend in BENCH["backends"]:
                device = BACKENDS[backend].device
                for variant, precision in variant_precisions(backend):
                    for batch in BENCH["batch_sizes"][device]:
                        yield Cell(machine, model, backend, variant, precision, batch)


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


def folder_input(role, folder, contents):
    """A folder a step made, as inputs: the folder itself `ancient` (Snakemake compares a folder by time alone, which a
    copy resets) and beside it the file listing its contents (compared by content where its time says it changed)."""
    return {role: ancient(folder), f"{role}_contents": contents}


def timing_inputs(backend_name):
    """Input function of a backend's timing rule: only what that backend runs, built only where it can run."""
    backend = BACKENDS[backend_name]

    def inputs(wildcards):
        model = wildcards.model
        files = {"eval_set": EVAL_SET.format(model=model), "card": CARD.format(model=model)}
        if missing_module(backend, wildcards):
            return files  # the cell is skipped with the reason (param without_module)
        cell = {"machine": wildcards.machine, "model": model, "precision": wildcards.precision, "batch": wildcards.batch}
        if MODELS[model].is_onnx_file:  # the file may fix its batch size: the cells at other sizes are skipped
            files["onnx_info"] = ONNX_INFO.format(model=model)
        if recipe := backend.variant(wildcards.variant).options.quantization:
            int8 = {"model": model, "recipe": recipe.name}
            files |= folder_input("int8_dir", INT8_DIR.format(**int8), INT8_CONTENTS.format(**int8))
        if backend.artifact == "pth":
            files["pth"] = WEIGHTS.format(model=model)
            if compiled_in_a_step(backend, wildcards):
                compiled = {"backend": backend.name, "variant": wildcards.variant, **cell}
                files |= folder_input("compile_dir", COMPILE_DIR.format(**compiled), COMPILE_CONTENTS.format(**compiled))
        elif backend.artifact == "onnx":
            files["onnx"] = ONNX.format(model=model)
            files["onnx_info"] = ONNX_INFO.format(model=model)  # says where the export failed
            if backend.provider:  # ONNX Runtime's own check of the export comes first
                # Not ancient(): Snakemake skips its own checks (params, code) of a job downstream of one
                # that reruns, so an ancient edge from check_onnx hid a new onnxruntime from these rules.
                files["onnx_check"] = ONNX_CHECK.format(model=model)
            if wildcards.precision == "fp16" and backend.fp16_onnx:
                files["onnx_fp16"] = ONNX_FP16.format(model=model)
            if optimized_transformer(backend, wildcards):
                fused = {"model": model, "precision": wildcards.precision}
                files |= folder_input(
                    "ort_transformer_dir", ORT_TRANSFORMER_DIR.format(**fused), ORT_TRANSFORMER_CONTENTS.format(**fused)
                )
        elif wildcards.precision in backend.unsupported:
            pass  # nothing is built for it: the cell is skipped with the reason
        elif backend.artifact == "trt" and may_build(wildcards.machine, "tensorrt"):
            level = backend.variant(wildcards.variant).options.builder_level
            files |= folder_input(
                "engine_dir", ENGINE_DIR.format(level=level, **cell), ENGINE_CONTENTS.format(level=level, **cell)
            )
        elif backend.artifact == "torch2trt" and may_build(wildcards.machine, "torch2trt"):
            files |= folder_input("torch2trt_dir", TORCH2TRT_DIR.format(**cell), TORCH2TRT_CONTENTS.format(**cell))
        return files

    return inputs


def compiled_in_a_step(backend, wildcards):
    """Whether a cell's torch.compile compilation is made by a compile_torch step first: a float precision of a
    compiled variant, on a machine that runs the backend (its GPU, for a GPU backend)."""
    options = backend.variant(wildcards.variant).options
    return (
        isinstance(options, PyTorchOptions)
        and options.compile_mode is not None
        and options.quantization is None
        and wildcards.precision not in backend.unsupported
        and (not backend.is_gpu or machine_has_gpu(wildcards.machine))
    )


def compile_resources():
    """A compile step's resources: on a cluster, its machine's partition and GPU; here, no claim on the GPU, so that
    compiling runs beside training (the machine's lock keeps it away from every measurement)."""
    resources = job_resources(True)
    resources["gpu"] = lambda wildcards: 0 if MACHINES[wildcards.machine].is_local else int(machine_has_gpu(wildcards.machine))
    return resources


def optimized_transformer(backend, wildcards):
    """Whether a cell runs ONNX Runtime's transformer optimizer's model (elsewhere its cell says why not)."""
    options = backend.variant(wildcards.variant).options
    return (
        isinstance(options, OnnxRuntimeOptions)
        and options.transformer_optimizer
        and wildcards.precision in ORT_TRANSFORMER_PRECISIONS
        and transformer_type(MODELS[wildcards.model].architecture) is not None
    )


def missing_module(backend, wildcards):
    """Why a cell cannot run because its model is an ONNX file without the PyTorch module it needs, or ""."""
    spec = MODELS[wildcards.model]
    return spec.missing_for(backend, wildcards.precision, fp16_onnx_needed(TRT_VERSION)) or ""


def without_module(backend_name):
    """The timing rule's without_module param: the reason its cell is skipped where the model is an ONNX file."""
    backend = BACKENDS[backend_name]
    return lambda wildcards: missing_module(backend, wildcards)


def reference_inputs(wildcards):
    """What the reference outputs are computed from: the PyTorch weights, or the given ONNX file as imported."""
    files = {"manifest": manifest_of(wildcards), "card": CARD.format(model=wildcards.model)}
    if MODELS[wildcards.model].is_onnx_file:
        return files | {"onnx": ONNX.format(model=wildcards.model), "onnx_info": ONNX_INFO.format(model=wildcards.model)}
    return files | {"weights": WEIGHTS.format(model=wildcards.model)}


def record_measure_again(backend_name):
    """The timing rule's measure_again param (infbench.results.rerun): a cell whose error may pass is measured again."""
    pattern = output_pattern(backend_name)
    return lambda wildcards: measure_again(pattern.format(**dict(wildcards.items())), RERUN)


def engine_onnx(wildcards):
    """TensorRT 11 makes fp16 engines from an fp16 ONNX model; earlier versions from fp32 with a flag; int8 from a QDQ model."""
    if wildcards.precision == "int8":
        int8 = {"model": wildcards.model, "recipe": TENSORRT_INT8_RECIPE}
        return folder_input("onnx", INT8_DIR.format(**int8), INT8_CONTENTS.format(**int8))
    if wildcards.precision == "fp16" and fp16_onnx_needed(TRT_VERSION):
        return {"onnx": ONNX_FP16.format(model=wildcards.model)}
    return {"onnx": ONNX.format(model=wildcards.model)}


def onnx_file_info(wildcards):
    """A given ONNX file's onnx_model.json, which says whether the file fixes its batch size; nothing for an export."""
    if MODELS[wildcards.model].is_onnx_file:
        return {"onnx_info": ONNX_INFO.format(model=wildcards.model)}
    return {}


TENSORRT_INT8_RECIPE = BACKENDS["tensorrt"].variant("int8_qdq").options.quantization.name


def quantize_inputs(wildcards):
    """What a recipe's quantizer reads: the training images' manifest, the card, and the ONNX export or the weights."""
    files = {"manifest": manifest_of(wildcards), "card": CARD.format(model=wildcards.model)}
    if RECIPES[wildcards.recipe].quantizer == "torchao":
        files["pth"] = WEIGHTS.format(model=wildcards.model)
    else:
        files |= {"onnx": ONNX.format(model=wildcards.model), "onnx_info": ONNX_INFO.format(model=wildcards.model)}
    return files


def aggregate_inputs():
    """Every record, and each model's card and ONNX files."""
    return {
        "records": record_paths(),
        "cards": [CARD.format(model=m) for m in MODELS],
        "onnx_checks": [ONNX_CHECK.format(model=m) for m in MODELS],
        "onnx_infos": [ONNX_INFO.format(model=m) for m in MODELS],
    }


CHANGE_THRESHOLD = {"factor": config["compare"]["factor"], "alpha": config["compare"]["alpha"]}


def baseline_inputs():
    """The baseline run's summary.json where compare.baseline names a folder; a time in the history is read by the script."""
    from infbench.planning.cells import summary_path

    baseline = config["compare"]["baseline"]
    return [str(summary_path(baseline))] if baseline and Path(baseline).exists() else []


def comparison_inputs():
    """The summaries to compare: the runs named in compare.runs, and this run's own where asked for."""
    from infbench.planning.cells import summary_path

    paths = [str(summary_path(run)) for run in config["compare"]["runs"]]
    if config["compare"]["include_this_run"]:
        paths.append(SUMMARY)
    return paths


# Under load (workflow/rules/serving.smk): scenario cells, one per measured machine, model, backend,
# variant and precision that `serving` asks for, and each scenario's settings as the params of its cells.

from types import SimpleNamespace

from infbench.planning.scenarios import DEPENDS_ON_SERVER, SCENARIO_CONSTRAINT, SERVING_LOGS, ScenarioCell, serving_output
from infbench.planning.serving import is_served, scenario_settings

BATCH_ARTIFACTS = ("engine_dir", "torch2trt_dir")  # built for one batch size: a serving loop needs one per size it pads to


def built_per_batch(role):
    """Whether an input role is a batch size's build (or the listing of its folder)."""
    return role.removesuffix("_contents") in BATCH_ARTIFACTS


def serving_cells():
    """Every scenario cell the configuration asks for (none unless serving.scenarios names some)."""
    scenarios = config["serving"]["scenarios"]
    runtimes = dict.fromkeys((c.machine, c.model, c.backend, c.variant, c.precision) for c in cells())
    return [
        ScenarioCell(*runtime, scenario)
        for runtime in runtimes
        if is_served(config, runtime[2], runtime[3])
        for scenario in scenarios
    ]


def serving_records():
    return [cell.record_path for cell in serving_cells()]


def serving_inputs(backend_name):
    """Input function of a backend's serving rule: its timing inputs at each batch size its loop runs, the batch-1 record."""
    backend = BACKENDS[backend_name]
    timing = timing_inputs(backend_name)

    def inputs(wildcards):
        at = lambda batch: SimpleNamespace(**dict(wildcards.items()), batch=str(batch))
        files = {k: v for k, v in timing(at(1)).items() if not built_per_batch(k)}
        for batch in backend.serving_loop(wildcards.variant, wildcards.scenario).model_batches:
            files |= {f"{k}_bs{batch}": v for k, v in timing(at(batch)).items() if built_per_batch(k)}
        cell = ScenarioCell.from_wildcards(wildcards, backend_name)
        files["timing"] = cell.timing_cell.record_path
        if wildcards.scenario in DEPENDS_ON_SERVER:
            files["server"] = cell.server_cell.record_path
        return files

    return inputs


def serving_settings(backend_name):
    """A serving rule's settings param: what its scenario, machine and precision use, nothing else."""
    device = BACKENDS[backend_name].device
    of_timing = timing_settings(backend_name)

    def of(wildcards):
        timing = of_timing(wildcards)
        return scenario_settings(config, wildcards.scenario, device) | {
            key: timing[key] for key in ("threads", "tolerance", "gpu") if key in timing
        }

    return of


def serving_versions(backend_name):
    """A serving rule's versions param: its timing rule's, and LoadGen's."""
    of_timing = timing_versions(backend_name)
    return lambda wildcards: of_timing(wildcards) | versions("loadgen")


# The aggregate's hooks: the scenario records it reads, and the curve (rule load_chart) made before it,
# so that results/table.md also makes results/load.png.
SERVING_RECORDS = serving_records()
LOAD_CHART = ["results/load.png", "results/load.svg"] if SERVING_RECORDS else []
