# ONNX Runtime's transformer optimizer (src/infbench/model/ort_transformer.py): one fused model per
# transformer model and precision, shared by the ONNX Runtime cells of its variants.


rule optimize_transformer:
    input:
        onnx=ONNX,
        info=ONNX_INFO,
        card=CARD,
    output:
        folder=directory(ORT_TRANSFORMER_DIR),
        contents=ORT_TRANSFORMER_CONTENTS,
    log:
        "results/logs/{model}/optimize_transformer/{precision}.log",
    benchmark:
        "results/benchmarks/{model}/optimize_transformer/{precision}.tsv"
    wildcard_constraints:
        precision="|".join(ORT_TRANSFORMER_PRECISIONS),
    conda:
        "../../envs/quantize.yaml"
    params:
        versions=versions("onnxruntime", "onnx", "numpy"),
        code=code("optimize_transformer.py"),
    script:
        "../../scripts/optimize_transformer.py"
