"""Write the ImageFolder tree (default: scikit-learn's digits) and its manifest."""

from pathlib import Path

from infbench.artifacts import write_json
from infbench.model.data import prepare
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        p = smk.params
        manifest = prepare(Path(smk.output.images), p.source, int(smk.wildcards.size), p.val_fraction, p.seed)
        log.info(
            "%s: %d training and %d held-out images, %d classes",
            manifest["source"], len(manifest["train"]), len(manifest["val"]), len(manifest["classes"]),
        )
        write_json(smk.output.manifest, manifest)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
