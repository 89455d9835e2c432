# One timing rule per backend (time_pytorch_cpu, time_onnxruntime_cuda, ...), each writing one
# record per machine, model, variant, precision and batch size. All of them run the same script and
# harness. A timing job holds the machine's lock alone (infbench.measuring.isolation) and claims the whole
# machine_share (profiles/default), so nothing runs beside a measurement. A job that ends without a
# record (killed, cancelled by the cluster) is run once more, and that attempt writes the cell's
# error at once, with the killed attempt's log, so that the rest of the table is still written; the
# next run measures such a cell again (infbench.results.rerun).


wildcard_constraints:
    **WILDCARD_CONSTRAINTS,


for _backend in BACKENDS.values():

    rule:
        name:
            f"time_{_backend.name}"
        input:
            unpack(timing_inputs(_backend.name)),
        output:
            record=output_pattern(_backend.name),
        log:
            f"results/logs/{{machine}}/{{model}}/time_{_backend.name}/{{variant}}/{{precision}}_bs{{batch}}.log",
        benchmark:
            f"results/benchmarks/{{machine}}/{{model}}/time_{_backend.name}/{{variant}}/{{precision}}_bs{{batch}}.tsv"
        retries: 1
        conda:
            f"../../envs/{_backend.name}.yaml"
        threads: lambda wildcards: machine_threads(wildcards.machine)
        resources:
            **measuring_resources(_backend.is_gpu),
            attempt=lambda wildcards, attempt: attempt,
        params:
            backend=_backend.name,
            settings=timing_settings(_backend.name),
            cache_dir=lambda wildcards: CACHE_DIR.format(machine=wildcards.machine),
            gpu=(lambda wildcards: machine_gpu(wildcards.machine)) if _backend.is_gpu else "not used",
            versions=timing_versions(_backend.name),
            measure_again=record_measure_again(_backend.name),
            without_module=without_module(_backend.name),
            code=code("time_backend.py", *backend_modules(_backend.name)),
        script:
            "../../scripts/time_backend.py"
