rule train:
    input:
        unpack(train_inputs),
    output:
        weights=WEIGHTS,
        card=CARD,
    log:
        "results/logs/{model}/train.log",
    benchmark:
        "results/benchmarks/{model}/train.tsv"
    wildcard_constraints:
        model=TORCH_MODELS,
    conda:
        "../../envs/pytorch.yaml"
    threads: 1 if TRAIN_ON_GPU else STEP_THREADS
    resources:
        gpu=int(TRAIN_ON_GPU),
    params:
        settings=lambda wildcards: train_settings(wildcards.model),
        architecture_source=architecture_source,
        cpu_threads=work_threads,
        versions=lambda wildcards: model_versions(wildcards.model, "numpy", "pillow"),
        code=code("train.py"),
    script:
        "../../scripts/train.py"


# A model given as an ONNX file (models[].onnx) in place of training and export: checked, its input
# and output named as the workflow's exports name them, its held-out accuracy in its card.
rule import_onnx:
    input:
        source=lambda wildcards: MODELS[wildcards.model].onnx,
        manifest=manifest_of,
    output:
        onnx=ONNX,
        info=ONNX_INFO,
        card=CARD,
    log:
        "results/logs/{model}/import_onnx.log",
    wildcard_constraints:
        model=ONNX_FILE_MODELS,
    conda:
        "../../envs/onnxruntime.yaml"
    threads: STEP_THREADS
    params:
        image_size=lambda wildcards: MODELS[wildcards.model].image_size,
        max_val_images=config["train"]["max_val_images"],
        cpu_threads=work_threads,
        versions=versions("onnx", "onnxruntime", "numpy", "pillow"),
        code=code("import_onnx.py"),
    script:
        "../../scripts/import_onnx.py"


rule reference_outputs:
    input:
        unpack(reference_inputs),
    output:
        EVAL_SET,
    log:
        "results/logs/{model}/reference_outputs.log",
    conda:
        "../../envs/pytorch.yaml"
    threads: STEP_THREADS
    params:
        images=config["parity"]["images"],
        cpu_threads=work_threads,
        versions=lambda wildcards: model_versions(wildcards.model, "numpy", "pillow"),
        code=code("reference_outputs.py"),
    script:
        "../../scripts/reference_outputs.py"


rule export_onnx:
    input:
        weights=WEIGHTS,
        card=CARD,
    output:
        onnx=ONNX,
        info=ONNX_INFO,
    log:
        "results/logs/{model}/export_onnx.log",
    benchmark:
        "results/benchmarks/{model}/export_onnx.tsv"
    wildcard_constraints:
        model=TORCH_MODELS,
    conda:
        "../../envs/onnx.yaml"
    params:
        half=False,
        exporter=config["export"]["exporter"],
        opset=config["export"]["opset"],
        versions=lambda wildcards: model_versions(wildcards.model, "onnx", "onnxscript"),
        code=code("export_onnx.py"),
    script:
        "../../scripts/export_onnx.py"


use rule export_onnx as export_onnx_fp16 with:
    output:
        onnx=ONNX_FP16,
        info=ONNX_FP16_INFO,
    log:
        "results/logs/{model}/export_onnx_fp16.log",
    benchmark:
        "results/benchmarks/{model}/export_onnx_fp16.tsv"
    params:
        half=True,
        exporter=config["export"]["exporter"],
        opset=config["export"]["opset"],
        versions=lambda wildcards: model_versions(wildcards.model, "onnx", "onnxscript"),
        code=code("export_onnx.py"),


# A rule of its own, so that a new ONNX Runtime version reruns this check and the ONNX Runtime
# cells, not the export and the TensorRT engines built from it.
rule check_onnx:
    input:
        onnx=ONNX,
        info=ONNX_INFO,
        eval_set=EVAL_SET,
    output:
        ONNX_CHECK,
    log:
        "results/logs/{model}/check_onnx.log",
    conda:
        "../../envs/onnxruntime.yaml"
    threads: STEP_THREADS
    params:
        tolerance=config["parity"]["tolerances"]["fp32"],
        batch_sizes=sorted(set(BENCH["batch_sizes"]["cpu"] + BENCH["batch_sizes"]["cuda"])),
        cpu_threads=work_threads,
        versions=versions("onnxruntime", "numpy"),
        code=code("check_onnx.py"),
    script:
        "../../scripts/check_onnx.py"


# One 8-bit model per model and quantization recipe (src/infbench/planning/catalog.py, RECIPES), shared by
# every int8 cell that runs it: calibrated once, on training images only, and cached like any output.
rule quantize:
    input:
        unpack(quantize_inputs),
    output:
        folder=directory(INT8_DIR),
        contents=INT8_CONTENTS,
    log:
        "results/logs/{model}/quantize/{recipe}.log",
    benchmark:
        "results/benchmarks/{model}/quantize/{recipe}.tsv"
    conda:
        "../../envs/quantize.yaml"
    threads: STEP_THREADS
    params:
        settings=config["quantization"],
        recipe=lambda wildcards: vars(RECIPES[wildcards.recipe]),
        cpu_threads=work_threads,
        versions=lambda wildcards: versions(*QUANTIZER_LIBRARIES[RECIPES[wildcards.recipe].quantizer]),
        code=quantize_code,
    script:
        "../../scripts/quantize.py"
