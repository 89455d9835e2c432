# TensorRT engines and torch2trt modules, one per precision and batch size. The timing rules ask
# for them only where TensorRT (and torch2trt) is installed and a GPU is present.


rule build_tensorrt_engine:
    input:
        onnx=engine_onnx,
        card=CARD,
        code=code("build_tensorrt_engine.py"),
    output:
        engine=ENGINE,
        info=ENGINE_INFO,
    log:
        "results/logs/build_tensorrt_engine/{precision}_bs{batch}.log",
    benchmark:
        "results/benchmarks/build_tensorrt_engine/{precision}_bs{batch}.tsv"
    params:
        workspace_mb=BENCH["workspace_mb"],
        allow_tf32=BENCH["allow_tf32"],
        gpu=GPU,
        versions=versions("tensorrt"),
    resources:
        gpu=1,
    conda:
        "../../envs/tensorrt.yaml"
    script:
        "../../scripts/build_tensorrt_engine.py"


rule build_torch2trt:
    input:
        pth=WEIGHTS,
        card=CARD,
        eval_set=EVAL_SET,
        code=code("build_torch2trt.py"),
    output:
        module=TORCH2TRT,
        info=TORCH2TRT_INFO,
    log:
        "results/logs/build_torch2trt/{precision}_bs{batch}.log",
    benchmark:
        "results/benchmarks/build_torch2trt/{precision}_bs{batch}.tsv"
    params:
        workspace_mb=BENCH["workspace_mb"],
        allow_tf32=BENCH["allow_tf32"],
        threads=THREADS,
        gpu=GPU,
        versions=versions("torch", "torchvision", "torch2trt", "tensorrt"),
    resources:
        gpu=1,
    conda:
        "../../envs/torch2trt.yaml"
    script:
        "../../scripts/build_torch2trt.py"
