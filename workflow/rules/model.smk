rule train:
    input:
        manifest=MANIFEST,
        code=code("train.py"),
    output:
        weights=WEIGHTS,
        card=CARD,
    log:
        "results/logs/train.log",
    benchmark:
        "results/benchmarks/train.tsv"
    conda:
        "../../envs/pytorch.yaml"
    threads: LOCAL_THREADS
    resources:
        gpu=1 if config["train"]["device"] != "cpu" and LOCAL_GPUS else 0,
    params:
        settings={
            "architecture": config["model"]["architecture"],
            "image_size": config["model"]["image_size"],
            "weights": config["model"]["weights"],
            "threads": LOCAL_THREADS,
            **config["train"],
        },
        versions=versions("torch", "torchvision", "numpy", "pillow"),
    script:
        "../../scripts/train.py"


rule reference_outputs:
    input:
        manifest=MANIFEST,
        weights=WEIGHTS,
        card=CARD,
        code=code("reference_outputs.py"),
    output:
        EVAL_SET,
    log:
        "results/logs/reference_outputs.log",
    conda:
        "../../envs/pytorch.yaml"
    threads: LOCAL_THREADS
    params:
        images=config["parity"]["images"],
        threads=LOCAL_THREADS,
        versions=versions("torch", "torchvision", "numpy", "pillow"),
    script:
        "../../scripts/reference_outputs.py"


rule export_onnx:
    input:
        weights=WEIGHTS,
        card=CARD,
        code=code("export_onnx.py"),
    output:
        onnx=ONNX,
        info="results/model/onnx_model.json",
    log:
        "results/logs/export_onnx.log",
    benchmark:
        "results/benchmarks/export_onnx.tsv"
    conda:
        "../../envs/onnx.yaml"
    params:
        half=False,
        exporter=config["export"]["exporter"],
        opset=config["export"]["opset"],
        versions=versions("torch", "torchvision", "onnx", "onnxscript"),
    script:
        "../../scripts/export_onnx.py"


use rule export_onnx as export_onnx_fp16 with:
    output:
        onnx=ONNX_FP16,
        info="results/model/onnx_model_fp16.json",
    log:
        "results/logs/export_onnx_fp16.log",
    benchmark:
        "results/benchmarks/export_onnx_fp16.tsv"
    params:
        half=True,
        exporter=config["export"]["exporter"],
        opset=config["export"]["opset"],
        versions=versions("torch", "torchvision", "onnx", "onnxscript"),


# A rule of its own, so that a new ONNX Runtime version reruns this check and the ONNX Runtime
# cells, not the export and the TensorRT engines built from it.
rule check_onnx:
    input:
        onnx=ONNX,
        eval_set=EVAL_SET,
        code=code("check_onnx.py"),
    output:
        ONNX_CHECK,
    log:
        "results/logs/check_onnx.log",
    conda:
        "../../envs/onnxruntime.yaml"
    threads: LOCAL_THREADS
    params:
        tolerance=config["parity"]["tolerances"]["fp32"],
        threads=LOCAL_THREADS,
        versions=versions("onnxruntime", "numpy"),
    script:
        "../../scripts/check_onnx.py"
