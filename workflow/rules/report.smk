# The run's report over all its machines and models, the comparison with runs made elsewhere, and
# what changed against a baseline. All are cheap and run where snakemake runs, also when the cells
# run on a cluster. The history (results/history) is read by the scripts, never an input: it changes
# only when a record does, and a new record runs the aggregate again anyway.


rule aggregate:
    input:
        **aggregate_inputs(),
        serving=SERVING_RECORDS,
        load_chart=LOAD_CHART,
    output:
        table=report(TABLE, caption="../report/table.rst", category="Tables"),
        csv=report(SUMMARY_CSV, caption="../report/summary.rst", category="Tables"),
        json=SUMMARY,
        png=report(CHART, caption="../report/latency.rst", category="Latency"),
        svg=CHART_SVG,
    log:
        "results/logs/aggregate.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    params:
        settings={
            "timing": config["report"]["timing"],
            "backends": BENCH["backends"],
            "variants": BENCH["variants"],
            "precisions": RUN_PRECISIONS,
            "batch_sizes": BENCH["batch_sizes"],
            "policy": MEASURE_POLICY,
            "noisy_cv": BENCH["noisy_cv"],
            "machines": {name: vars(machine) for name, machine in MACHINES.items()},
            "parity_images": config["parity"]["images"],
            "compare": CHANGE_THRESHOLD,
        },
        models=list(MODELS),
        # The README's command asks for table.md alone: the other outputs are made again through this param.
        repair=lambda wildcards: repair(SUMMARY, TABLE, (SUMMARY_CSV, CHART, CHART_SVG), RERUN),
        versions=versions("pandas", "tabulate", "matplotlib", "scipy"),
        code=code("aggregate.py"),
    script:
        "../../scripts/aggregate.py"


rule compare:
    input:
        summaries=comparison_inputs(),
    output:
        table="results/comparison.md",
        csv="results/comparison.csv",
        json="results/comparison.json",
        png="results/comparison.png",
        svg="results/comparison.svg",
    log:
        "results/logs/compare.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    params:
        versions=versions("pandas", "tabulate", "matplotlib"),
        code=code("compare.py"),
    script:
        "../../scripts/compare.py"


rule changes:
    input:
        records=record_paths(),
        baseline=baseline_inputs(),
    output:
        table="results/changes.md",
        csv="results/changes.csv",
        json="results/changes.json",
    log:
        "results/logs/changes.log",
    localrule: True
    conda:
        "../../envs/report.yaml"
    params:
        baseline=config["compare"]["baseline"],
        threshold=CHANGE_THRESHOLD,
        versions=versions("pandas", "tabulate", "scipy"),
        code=code("changes.py"),
    script:
        "../../scripts/changes.py"
