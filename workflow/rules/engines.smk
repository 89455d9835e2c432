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


# torch.compile's compilation of a compiled variant, per machine, model, precision and batch size,
# made as its cell will make it, into the machine's inductor cache: the cell's own compilation then
# reads it back in seconds. Compiling measures nothing, so these jobs run beside the other steps that
# measure nothing, on the GPU too (never beside a measurement: the machine's lock).
rule compile_torch:
    input:
        pth=WEIGHTS,
        card=CARD,
    output:
        folder=directory(COMPILE_DIR),
        contents=COMPILE_CONTENTS,
    log:
        "results/logs/{machine}/{model}/compile_torch/{backend}/{variant}/{precision}_bs{batch}.log",
    benchmark:
        "results/benchmarks/{machine}/{model}/compile_torch/{backend}/{variant}/{precision}_bs{batch}.tsv"
    wildcard_constraints:
        backend="pytorch_cpu|pytorch_cuda",
    conda:
        "../../envs/pytorch.yaml"
    threads: STEP_THREADS
    resources:
        **compile_resources(),
    params:
        threads=lambda wildcards: machine_threads(wildcards.machine),
        allow_tf32=BENCH["allow_tf32"],
        cache_dir=lambda wildcards: CACHE_DIR.format(machine=wildcards.machine),
        gpu=lambda wildcards: machine_gpu(wildcards.machine),
        versions=versions("torch", "torchvision", "numpy"),
        code=code("compile_torch.py", BACKENDS["pytorch_cpu"].module, GPU_MODULE),
    script:
        "../../scripts/compile_torch.py"
