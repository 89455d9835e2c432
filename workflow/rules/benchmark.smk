# One timing rule per backend (time_pytorch_cpu, time_onnxruntime_cuda, ...), each writing one
# record per precision and batch size. All of them run the same script and harness. A timing job
# claims the whole machine_share (see profiles/default), so nothing else runs beside it,
# whatever --cores says; GPU rules also claim the GPU.

wildcard_constraints:
    precision="fp32|fp16",
    batch=r"[1-9]\d*",


for _backend in BACKENDS.values():

    rule:
        name:
            f"time_{_backend.name}"
        input:
            unpack(timing_inputs(_backend.name)),
        output:
            record=RECORD.replace("{backend}", _backend.name),
        log:
            f"results/logs/time_{_backend.name}/{{precision}}_bs{{batch}}.log",
        benchmark:
            f"results/benchmarks/time_{_backend.name}/{{precision}}_bs{{batch}}.tsv"
        params:
            backend=_backend.name,
            settings=TIMING_SETTINGS,
            cache_dir=lambda wildcards: f"results/engines/ort_tensorrt_cache/{wildcards.precision}_bs{wildcards.batch}",
            gpu=GPU if _backend.is_gpu else "not used",
            versions=versions(*_backend.libraries),
        threads: THREADS
        resources:
            gpu=1 if _backend.is_gpu else 0,
            machine_share=WHOLE_MACHINE,
        conda:
            f"../../envs/{_backend.name}.yaml"
        script:
            "../../scripts/time_backend.py"
