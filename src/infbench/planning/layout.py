"""Where a run keeps its files, relative to its working directory: written once, read by the rules and the tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = "results"
MANIFEST = "results/data/{size}/manifest.json"  # data is prepared once per image size
IMAGES = "results/data/{size}/images"
MODEL_DIR = "results/model/{model}"  # each model's weights, card, exports and checks
WEIGHTS = MODEL_DIR + "/model_weights.pth"
CARD = MODEL_DIR + "/model_card.json"
ONNX = MODEL_DIR + "/onnx_model.onnx"
ONNX_INFO = MODEL_DIR + "/onnx_model.json"
ONNX_FP16 = MODEL_DIR + "/onnx_model_fp16.onnx"
ONNX_FP16_INFO = MODEL_DIR + "/onnx_model_fp16.json"
ONNX_CHECK = MODEL_DIR + "/onnx_check.json"
EVAL_SET = "results/reference/{model}/eval_set.npz"
INT8_DIR = MODEL_DIR + "/int8/{recipe}"  # a quantization recipe's model and quantization.json
QUANTIZATION_RECORD = "quantization.json"  # in every recipe's folder: what was made, how, in how long
ORT_TRANSFORMER_DIR = MODEL_DIR + "/ort_transformer/{precision}"  # the transformer optimizer's model and optimization.json
# Builds are specific to a machine's GPU and libraries: one folder each, holding the engine (or
# module) and build.json, which says why nothing was built where the machine cannot build.
ENGINE_DIR = "results/engines/{machine}/{model}/tensorrt/level{level}_{precision}_bs{batch}"
TORCH2TRT_DIR = "results/engines/{machine}/{model}/torch2trt/{precision}_bs{batch}"
# Beside each folder above, a small file listing the folder's files (sizes and SHA-256): what the steps made
# from the folder depend on, as Snakemake compares files by content only where they are files.
CONTENTS = "{folder}.contents.json"
INT8_CONTENTS = CONTENTS.format(folder=INT8_DIR)
ENGINE_CONTENTS = CONTENTS.format(folder=ENGINE_DIR)
TORCH2TRT_CONTENTS = CONTENTS.format(folder=TORCH2TRT_DIR)
# torch.compile's compilation of a compiled variant, made before its cell so that the cell's own
# compilation finds it in inductor's cache (CACHE_DIR); build.json holds how long it took.
COMPILE_DIR = "results/engines/{machine}/{model}/{backend}/{variant}/{precision}_bs{batch}"
ORT_TRANSFORMER_CONTENTS = CONTENTS.format(folder=ORT_TRANSFORMER_DIR)
COMPILE_CONTENTS = CONTENTS.format(folder=COMPILE_DIR)
CACHE_DIR = "results/cache/{machine}"  # inductor's kernels, ONNX Runtime's TensorRT engines
TABLE = "results/table.md"
SUMMARY = "results/summary.json"
SUMMARY_CSV = "results/summary.csv"
CHART = "results/latency.png"
CHART_SVG = "results/latency.svg"


@dataclass(frozen=True)
class ModelFiles:
    """One model's files in a results folder (a finished run's, for the benchmark scripts)."""

    results: Path
    model: str

    def _path(self, pattern: str) -> Path:
        return self.results / pattern.format(model=self.model).removeprefix(RESULTS + "/")

    @property
    def card(self) -> Path:
        return self._path(CARD)

    @property
    def weights(self) -> Path:
        return self._path(WEIGHTS)

    @property
    def onnx(self) -> Path:
        return self._path(ONNX)

    @property
    def onnx_fp16(self) -> Path:
        return self._path(ONNX_FP16)

    @property
    def eval_set(self) -> Path:
        return self._path(EVAL_SET)

    @classmethod
    def only(cls, results: Path, model: str | None = None) -> ModelFiles:
        """The named model of a results folder, or its only one."""
        if model is None:
            models = sorted(p.name for p in (results / "model").iterdir() if (p / "model_card.json").is_file())
            if len(models) != 1:
                raise SystemExit(f"{results}: holds models {models}; name one with --model")
            model = models[0]
        return cls(results, model)
