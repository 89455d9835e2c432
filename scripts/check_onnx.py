"""Compare ONNX Runtime's outputs for onnx_model.onnx with PyTorch's, at every batch size the cells use; fail beyond tolerance."""

from infbench.artifacts import read_json, write_json
from infbench.model.export import check_with_onnxruntime, export_failure
from infbench.model.parity import Tolerance
from infbench.model.reference import load_eval_set
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        info = read_json(smk.input.info)
        if reason := export_failure(info):
            write_json(smk.output[0], {"status": "skipped", "reason": reason})
            log.info("not checked: %s", reason)
            return
        eval_set = load_eval_set(smk.input.eval_set)
        result = check_with_onnxruntime(smk.input.onnx, eval_set, Tolerance(**smk.params.tolerance), smk.params.cpu_threads,
                                        tuple(smk.params.batch_sizes), info.get("fixed_batch"))
        write_json(smk.output[0], result)
        log.info(
            "ONNX Runtime %s matches PyTorch on %d images: max relative diff %.3g, top-1 agreement %.3f; batch sizes: %s",
            result["onnxruntime"], result["images"], result["max_rel_diff"], result["top1_agreement"], result["batch_sizes"],
        )


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
