"""Check every TensorRT name the TensorRT backend uses against the real bindings of each supported major.

TensorRT cannot be installed on machines without NVIDIA's package index, but its Python bindings
(`tensorrt-bindings`, `tensorrt-cu12-bindings`, `tensorrt-cu13-bindings`) are small wheels on PyPI.
Their extension module imports once the few C entry points it needs from libnvinfer are stubbed
out, and then `hasattr` answers whether a class, method or enum member exists in that version.

Names are read from src/infbench/measuring/backends/tensorrt.py: attributes of `trt` (trt.BuilderFlag.FP16)
and methods of variables that hold TensorRT objects (builder, network, config, ...). A line ending
in `# trt-api: 8 10` is checked only against those majors (it runs only there).

    python tools/check_tensorrt_api.py [--wheels DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "infbench" / "measuring" / "backends" / "tensorrt.py"
BINDINGS = {  # major -> (distribution, version)
    8: ("tensorrt-bindings", "8.6.1"),
    10: ("tensorrt-cu12-bindings", "10.16.1.11"),
    11: ("tensorrt-cu13-bindings", "11.4.0.106"),
}
# Variables in the backend that hold TensorRT objects, and their classes.
VARIABLE_TYPES = {
    "logger": "Logger",
    "builder": "Builder",
    "network": "INetworkDefinition",
    "parser": "OnnxParser",
    "config": "IBuilderConfig",
    "profile": "IOptimizationProfile",
    "plan": "IHostMemory",
    "runtime": "Runtime",
    "engine": "ICudaEngine",
    "context": "IExecutionContext",
}
RETURN_TYPES = {("INetworkDefinition", "get_input"): "ITensor"}
MARKER = re.compile(r"#\s*trt-api:\s*([\d\s]+)$")


def _type_of(node: ast.AST) -> str | None:
    """The TensorRT type an expression evaluates to: "trt", "trt.BuilderFlag", "Builder", ... or None."""
    if isinstance(node, ast.Name):
        return "trt" if node.id == "trt" else VARIABLE_TYPES.get(node.id)
    if isinstance(node, ast.Call):
        return _type_of(node.func)  # trt.Builder(logger) is a Builder; network.get_input(0) an ITensor
    if isinstance(node, ast.Attribute):
        owner = _type_of(node.value)
        if owner == "trt":
            return f"trt.{node.attr}"
        return RETURN_TYPES.get((owner, node.attr))
    return None


def used_names(source: Path = SOURCE) -> dict[tuple[str, str], set[int] | None]:
    """(owner, attribute) -> the majors that must have it (None: every supported major)."""
    text = source.read_text()
    lines = text.splitlines()
    found: dict[tuple[str, str], set[int] | None] = {}
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = _type_of(node.value)
        if owner is None:
            continue
        key = (owner, node.attr)
        marker = MARKER.search(lines[node.lineno - 1])
        if marker is None or found.get(key, set()) is None:
            found[key] = None
        else:
            found[key] = found.get(key, set()) | {int(m) for m in marker.group(1).split()}
    return found


def download_wheels(wheels: Path) -> dict[int, Path]:
    wheels.mkdir(parents=True, exist_ok=True)
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    found = {}
    for major, (dist, version) in BINDINGS.items():
        pattern = f"{dist.replace('-', '_')}-{version}-cp{py}-*.whl"
        if not list(wheels.glob(pattern)):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 "--python-version", py, "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                 "--dest", str(wheels), f"{dist}=={version}"],
                check=True,
            )
        found[major] = sorted(wheels.glob(pattern))[-1]
    return found


def _stub_libraries(extension: Path, out: Path) -> None:
    """Compile a stand-in for each libnv*.so the extension links, defining the C symbols it imports."""
    symbols = subprocess.run(["readelf", "--dyn-syms", "-W", str(extension)], capture_output=True, text=True, check=True).stdout
    undefined = sorted({
        f[7] for f in (line.split() for line in symbols.splitlines())
        if len(f) >= 8 and f[6] == "UND" and f[4] == "GLOBAL" and f[3] == "FUNC" and "@" not in f[7] and not f[7].lstrip("_").startswith("Py")
    })
    source = out / "stub.c"
    source.write_text("".join(f"void* {name}(void) {{ return 0; }}\n" for name in undefined))
    needed = subprocess.run(["readelf", "-d", str(extension)], capture_output=True, text=True, check=True).stdout
    for library in re.findall(r"\[(libnv[\w]+\.so\.\d+)\]", needed):
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out / library), str(source)], check=True)


PROBE = """
import json, sys, tensorrt_bindings as trt
missing = []
for owner, attr in json.loads(sys.argv[1]):
    obj = trt if owner == "trt" else getattr(trt, owner.removeprefix("trt."), None)
    if obj is None or not hasattr(obj, attr):
        missing.append([owner, attr])
print(json.dumps({"version": trt.__version__, "missing": missing}))
"""


def check_major(wheel: Path, names: list[tuple[str, str]]) -> dict:
    """Import the wheel's bindings with stub libraries and report which names it lacks."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp_path / "site")
        extension = next((tmp_path / "site" / "tensorrt_bindings").glob("tensorrt*.so"))
        (tmp_path / "stubs").mkdir()
        _stub_libraries(extension, tmp_path / "stubs")
        result = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(names)],
            capture_output=True, text=True, check=True,
            env={"PYTHONPATH": str(tmp_path / "site"), "LD_LIBRARY_PATH": str(tmp_path / "stubs"), "PATH": "/usr/bin:/bin"},
        )
    return json.loads(result.stdout)


def check(wheels: Path, source: Path = SOURCE) -> dict[int, dict]:
    names = used_names(source)
    results = {}
    for major, wheel in download_wheels(wheels).items():
        wanted = [list(k) for k, majors in sorted(names.items()) if majors is None or major in majors]
        results[major] = check_major(wheel, wanted) | {"checked": len(wanted)}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "infbench" / "tensorrt-bindings")
    args = parser.parse_args()
    failed = False
    for result in check(args.wheels).values():
        missing = ", ".join(".".join(m) for m in result["missing"]) or "none"
        print(f"TensorRT {result['version']}: {result['checked']} names checked, missing: {missing}")
        failed |= bool(result["missing"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
