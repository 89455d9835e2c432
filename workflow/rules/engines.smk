# TensorRT engines and torch2trt modules, one folder per machine, model, precision, batch size (and
# TensorRT builder level). The timing rules ask for them only where they may be built: here, where
# TensorRT (and torch2trt) is installed and a GPU is present; on a cluster, on machines with GPUs,
# whose build job writes why in build.json where it cannot build.


rule build_tensorrt_engine:
    input:
        unpack(onnx_file_info),
        unpack(engine_onnx),
        card=CARD,
    output:
        folder=directory(ENGINE_DIR),
        contents=ENGINE_CONTENTS,
    log:
        "results/logs/{machine}/{model}/build_tensorrt_engine/level{level}_{precision}_bs{batch}.log",
    benchmark:
        "results/benchmarks/{machine}/{model}/build_tensorrt_engine/level{level}_{precision}_bs{batch}.tsv"
    conda:
        "../../envs/tensorrt.yaml"
    threads: lambda wildcards: machine_threads(wildcards.machine)
    resources:
        **job_resources(True),
    params:
        workspace_mb=BENCH["workspace_mb"],
        allow_tf32=BENCH["allow_tf32"],
        gpu=lambda wildcards: machine_gpu(wildcards.machine),
        versions=versions("tensorrt"),
        code=code("build_tensorrt_engine.py", GPU_MODULE),
    script:
        "../../scripts/build_tensorrt_engine.py"


rule build_torch2trt:
    input:
        pth=WEIGHTS,
        card=CARD,
        eval_set=EVAL_SET,
    output:
        folder=directory(TORCH2TRT_DIR),
        contents=TORCH2TRT_CONTENTS,
    log:
        "results/logs/{machine}/{model}/build_torch2trt/{precision}_bs{batch}.log",
    benchmark:
        "results/benchmarks/{machine}/{model}/build_torch2trt/{precision}_bs{batch}.tsv"
    conda:
        "../../envs/torch2trt.yaml"
    threads: lambda wildcards: machine_threads(wildcards.machine)
    resources:
        **job_resources(True),
    params:
        workspace_mb=BENCH["workspace_mb"],
        allow_tf32=BENCH["allow_tf32"],
        threads=lambda wildcards: machine_threads(wildcards.machine),
        gpu=lambda wildcards: machine_gpu(wildcards.machine),
        versions=versions("torch", "torchvision", "torch2trt", "tensorrt"),
        code=code("build_torch2trt.py", GPU_MODULE),
    script:
        "../../scripts/build_torch2trt.py"
