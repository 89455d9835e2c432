"""Compile one torch.compile variant's model for one precision and batch size into inductor's cache, before its cell.

Where the cell cannot run here (no GPU, a precision this machine lacks), build.json says why and the
cell says the same.
"""

from infbench.artifacts import read_json, write_json
from infbench.contents import write_contents
from infbench.measuring.backends.base import BUILD_RECORD, CellRequest, skipped_build
from infbench.measuring.backends.pytorch import RUNTIME, precompile
from infbench.planning.catalog import BACKENDS
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        card = read_json(smk.input.card)
        backend = BACKENDS[smk.wildcards.backend]
        request = CellRequest(
            backend=backend, precision=smk.wildcards.precision, batch_size=int(smk.wildcards.batch),
            artifacts={"pth": smk.input.pth}, architecture=card["architecture"], num_classes=card["num_classes"],
            image_size=card["image_size"], threads=smk.params.threads, variant=smk.wildcards.variant,
            machine=smk.wildcards.machine, allow_tf32=smk.params.allow_tf32, cache_dir=smk.params.cache_dir,
        )
        if reason := backend.unsupported.get(request.precision) or RUNTIME.unavailable_reason(request):
            log.info("not compiled: %s", reason)
            record = skipped_build(reason)
        else:
            record = precompile(request)
            log.info("compiled %s in %.1f s into %s", request.variant_name, record["compile_s"], smk.params.cache_dir)
        write_json(f"{smk.output.folder}/{BUILD_RECORD}", record)
        write_contents(smk.output.folder, smk.output.contents)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
