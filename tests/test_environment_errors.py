"""A step that the environment stops (a full disk, a folder it may not write) ends with one line naming the path and
the cause; the traceback stays in the job's log file."""

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infbench.errors import environment_error

FULL = "/dev/full"  # every write to it fails with ENOSPC, as on a full disk
NOT_WRITABLE = "/sys"  # sysfs refuses to create files in it, to root as well: EACCES


def _run_step(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """A script's body run by infbench.scripting.step in a process of its own, as a job runs it."""
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from types import SimpleNamespace
        from infbench.scripting import step
        job = SimpleNamespace(log=[{str(tmp_path / "job.log")!r}], rule="train", resources=SimpleNamespace(),
                              output=["results/model/m/model_weights.pth", "results/model/m/model_card.json"])
        with step(job) as log:
            log.info("working")
    """) + textwrap.indent(textwrap.dedent(body), "    "))
    env = {**os.environ, "INFBENCH_LOCK": str(tmp_path / "machine.lock")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)


def _only_error_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 2 and lines[0].endswith("[train] working"), result.stderr
    return lines[1].split("[train] ", 1)[1]


@pytest.mark.skipif(not Path(FULL).exists(), reason="no /dev/full on this system")
def test_a_full_disk_ends_the_step_with_one_line_and_keeps_the_traceback_in_its_log(tmp_path):
    result = _run_step(tmp_path, f"""
        with open({FULL!r}, "w") as f:
            f.write("x" * 100_000)
    """)
    assert _only_error_line(result) == ("error: writing results/model/m/model_weights.pth, results/model/m/model_card.json: "
                                        "no space left on the device (free some space, then run again)")
    log = (tmp_path / "job.log").read_text()
    assert "Traceback" in log and "OSError: [Errno 28] No space left on device" in log and "error: writing" in log


@pytest.mark.skipif(not Path(FULL).exists(), reason="no /dev/full on this system")
def test_torch_saving_onto_a_full_disk_is_named_by_the_disks_error_not_torchs(tmp_path):
    result = _run_step(tmp_path, f"""
        import torch
        with open({FULL!r}, "wb") as f:
            torch.save({{"w": torch.zeros(100_000)}}, f)
    """)
    assert _only_error_line(result).endswith(": no space left on the device (free some space, then run again)")
    assert "RuntimeError" in (tmp_path / "job.log").read_text()


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="no sysfs on this system")
def test_a_path_the_step_may_not_write_is_named_with_the_cause(tmp_path):
    result = _run_step(tmp_path, f"""
        from infbench.artifacts import write_json
        write_json({NOT_WRITABLE + "/infbench-card.json"!r}, {{"a": 1}})
    """)
    line = _only_error_line(result)
    assert line.startswith(f"error: {NOT_WRITABLE}/.infbench-card.json.") and line.endswith(": permission denied (give this user access to it, or "
                                                                         "run where it has)"), line


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="no sysfs on this system")
def test_a_log_that_cannot_be_written_ends_the_step_with_one_line(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from types import SimpleNamespace
        from infbench.scripting import step
        job = SimpleNamespace(log=[{NOT_WRITABLE + "/infbench-train.log"!r}], rule="train", resources=SimpleNamespace(), output=[])
        with step(job) as log:
            log.info("never")
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr == f"error: {NOT_WRITABLE}/infbench-train.log: permission denied (give this user access to it, or run where it has)\n"


@pytest.mark.parametrize("error, expected", [
    (OSError(errno.EROFS, "Read-only file system", "results/x.json"), "results/x.json: read-only file system (run where"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "a file of this step: disk quota exceeded"),
    (OSError(errno.EACCES, "Permission denied", "a.tmp", None, "a.json"), "a.tmp -> a.json: permission denied"),
])
def test_each_error_of_the_environment_names_its_path_and_cause(error, expected):
    assert environment_error(error).startswith(expected)


@pytest.mark.parametrize("error", [FileNotFoundError(errno.ENOENT, "No such file", "x"), ValueError("bad"), OSError("no errno")])
def test_other_errors_are_not_the_environments(error):
    assert environment_error(error) is None  # a missing file or a bug keeps its traceback
