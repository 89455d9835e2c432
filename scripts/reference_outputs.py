"""The held-out images every backend runs, with PyTorch's fp32 CPU outputs for them."""

from infbench.artifacts import read_json
from infbench.reference import build_eval_set, fp16_range_note, save_eval_set
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        manifest, card = read_json(smk.input.manifest), read_json(smk.input.card)
        eval_set = build_eval_set(manifest, card, smk.input.weights, smk.params.images, smk.params.cpu_threads)
        save_eval_set(smk.output[0], eval_set)
        accuracy = float((eval_set["reference"].argmax(1) == eval_set["labels"]).mean())
        log.info("%d held-out images; reference top-1 accuracy %.3f", len(eval_set["labels"]), accuracy)
        if len(eval_set["labels"]) < smk.params.images:
            log.warning("note: parity.images asks for %d held-out images; the data holds %d, and every cell is judged on those",
                        smk.params.images, len(eval_set["labels"]))
        log.info("largest value in the model's weights, buffers and layer outputs: %.4g (%s)",
                 eval_set["largest_value"], eval_set["largest_value_at"])
        if note := fp16_range_note(eval_set):
            log.warning("warning: fp16 cells will likely differ: %s", note)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
