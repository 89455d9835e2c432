rule aggregate:
    input:
        records=record_paths(),
        card=CARD,
        onnx_check=ONNX_CHECK,
        onnx_info="results/model/onnx_model.json",
        code=code("aggregate.py"),
    output:
        table=report("results/table.md", caption="../report/table.rst", category="Tables"),
        csv=report("results/summary.csv", caption="../report/summary.rst", category="Tables"),
        json="results/summary.json",
        png=report("results/latency.png", caption="../report/latency.rst", category="Latency"),
        svg="results/latency.svg",
    log:
        "results/logs/aggregate.log",
    params:
        timing=config["report"]["timing"],
        precisions=BENCH["precisions"],
        batch_sizes=BENCH["batch_sizes"],
        versions=versions("pandas", "tabulate", "matplotlib"),
    conda:
        "../../envs/report.yaml"
    script:
        "../../scripts/aggregate.py"
