"""The held-out images every backend runs, with the reference outputs for them: PyTorch's in fp32 on the
CPU, or ONNX Runtime's in fp32 on the CPU for a model given as an ONNX file."""

from infbench.artifacts import read_json
from infbench.model.reference import (
    build_eval_set,
    build_eval_set_from_onnx,
    fp16_range_note,
    parity_images,
    reference_by,
    save_eval_set,
)
from infbench.scripting import step


def eval_set_of(smk, manifest: dict, card: dict) -> dict:
    if "onnx" in smk.input.keys():
        fixed_batch = read_json(smk.input.onnx_info).get("fixed_batch")
        return build_eval_set_from_onnx(manifest, card, smk.input.onnx, smk.params.images, smk.params.cpu_threads, fixed_batch)
    return build_eval_set(manifest, card, smk.input.weights, smk.params.images, smk.params.cpu_threads)


def main(smk) -> None:
    with step(smk) as log:
        manifest, card = read_json(smk.input.manifest), read_json(smk.input.card)
        eval_set = eval_set_of(smk, manifest, card)
        save_eval_set(smk.output[0], eval_set)
        accuracy = float((eval_set["reference"].argmax(1) == eval_set["labels"]).mean())
        _, covered = parity_images(manifest, smk.params.images)
        log.info("%s; reference (%s) top-1 accuracy %.3f", covered.sentence, reference_by(eval_set), accuracy)
        covered.log(log)
        if len(eval_set["labels"]) < smk.params.images:
            log.warning("note: parity.images asks for %d held-out images; the data holds %d, and every cell is judged on those",
                        smk.params.images, len(eval_set["labels"]))
        log.info("largest value in the model's weights, buffers and layer outputs: %.4g (%s)",
                 eval_set["largest_value"], eval_set["largest_value_at"])
        if note := fp16_range_note(eval_set):
            log.warning("warning: fp16 cells will likely differ: %s", note)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
