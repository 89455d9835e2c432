"""Quantize one model with one recipe into its folder: the 8-bit model and quantization.json.

Where the recipe cannot run here (its library is not installed, the model has no ONNX export) or its
quantizer cannot take the model, the folder's quantization.json says why, with the library's own
message, and the cells that run the recipe are skipped with that reason; the rest of the run goes on.
"""

from pathlib import Path

from infbench.artifacts import read_json, write_json
from infbench.contents import write_contents
from infbench.errors import BackendUnavailable, first_line
from infbench.measuring.quantization.run import quantize
from infbench.planning.layout import QUANTIZATION_RECORD
from infbench.scripting import step


def main(smk) -> None:
    with step(smk) as log:
        folder = Path(smk.output.folder)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = {"manifest": read_json(smk.input.manifest), "card": read_json(smk.input.card),
                  "onnx": smk.input.get("onnx"), "pth": smk.input.get("pth"),
                  "onnx_info": read_json(smk.input.onnx_info) if "onnx_info" in smk.input.keys() else {}}
        try:
            record = quantize(smk.wildcards.recipe, inputs, smk.params.settings, folder, smk.params.cpu_threads)
        except BackendUnavailable as exc:
            record = {"status": "skipped", "reason": str(exc)}
            log.info("not quantized: %s", exc)
        except Exception as exc:  # the quantizer's limits (an architecture it cannot take), not a broken run
            log.exception("the quantization failed")
            reason = f"the {smk.wildcards.recipe} quantization failed: {type(exc).__name__}: {first_line(exc)}"
            record = {"status": "skipped", "reason": reason}
        write_json(folder / QUANTIZATION_RECORD, record)
        write_contents(folder, smk.output.contents)


main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
