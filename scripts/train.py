"""Train the configured classifier; write model_weights.pth and its model card."""

from infbench.artifacts import read_json, write_json
from infbench.model.models import save_state_dict
from infbench.model.training import TrainSettings, train
from infbench.planning.versions import imported_versions
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        manifest = read_json(smk.input.manifest)
        settings = TrainSettings.from_params({**smk.params.settings, "threads": smk.params.cpu_threads})
        model, summary = train(manifest, settings)
        save_state_dict(model, smk.output.weights)
        card = {
            "name": smk.wildcards.model,
            "architecture": settings.architecture,
            "classes": manifest["classes"],
            "num_classes": len(manifest["classes"]),
            "image_size": settings.image_size,
            "input": {"layout": "NCHW", "dtype": "float32", "normalisation": "ImageNet mean and std of RGB in [0, 1]"},
            "data": manifest["source"],
            "seed": settings.seed,
            "starting_weights": settings.weights or "random initialisation",
            "batch_size": settings.batch_size,
            "settings": {"head": vars(settings.head), "all": vars(settings.all)},
            **summary,
            "versions": imported_versions(["torch", "torchvision", "timm", "numpy", "pillow"]),
        }
        write_json(smk.output.card, card)
        log.info("wrote %s (held-out top-1 %.3f)", smk.output.weights, summary["val_top1"])


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
