# Under load: one serving rule per backend (serve_pytorch_cpu, serve_openvino, ...), each writing one
# record per machine, model, variant, precision and LoadGen scenario, with LoadGen's logs in the folder
# beside it. A scenario cell depends on its runtime's batch-1 timing record (skipped with the reason
# where that did not pass parity); a Sweep cell on its Server cell. Like a timing job, a serving job
# holds the machine's lock alone and claims the whole machine_share; a GPU job claims the GPU.


wildcard_constraints:
    scenario=SCENARIO_CONSTRAINT,


for _backend in BACKENDS.values():

    rule:
        name:
            f"serve_{_backend.name}"
        input:
            unpack(serving_inputs(_backend.name)),
        output:
            record=serving_output(_backend.name),
            logs=directory(serving_output(_backend.name, SERVING_LOGS)),
        log:
            f"results/logs/{{machine}}/{{model}}/serve_{_backend.name}/{{variant}}/{{precision}}/{{scenario}}.log",
        benchmark:
            f"results/benchmarks/{{machine}}/{{model}}/serve_{_backend.name}/{{variant}}/{{precision}}/{{scenario}}.tsv"
        conda:
            f"../../envs/{_backend.name}.yaml"
        threads: lambda wildcards: machine_threads(wildcards.machine)
        resources:
            **measuring_resources(_backend.is_gpu),
        params:
            backend=_backend.name,
            settings=serving_settings(_backend.name),
            cache_dir=lambda wildcards: CACHE_DIR.format(machine=wildcards.machine),
            gpu=(lambda wildcards: machine_gpu(wildcards.machine)) if _backend.is_gpu else "not used",
            versions=serving_versions(_backend.name),
            without_module=without_module(_backend.name),
            code=code("serve.py", _backend.module),
        script:
            "../../scripts/serve.py"


rule load_chart:
    input:
        records=SERVING_RECORDS,
    output:
        png=report("results/load.png", caption="../report/load.rst", category="Under load"),
        svg="results/load.svg",
    log:
        "results/logs/load_chart.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    params:
        versions=versions("matplotlib"),
        code=code("load_chart.py"),
    script:
        "../../scripts/load_chart.py"
