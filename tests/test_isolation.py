"""The machine's lock: one per host whatever the environment says, and a job that cannot take it does not run."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from conftest import REPO

from infbench.errors import BenchError
from infbench.measuring import isolation
from infbench.measuring.isolation import lock_path, machine_lock
from infbench.results.records import read_record
from infbench.scripting import step

# A process that holds the host's lock alone: says so on stdout, logs while it waits (stderr), and
# lets go when a line arrives on stdin (or at once, where told to).
HOLDER = """
import logging, sys
from infbench.measuring.isolation import machine_lock
logging.basicConfig(level=logging.INFO, format="%(message)s")
with machine_lock(exclusive=True, poll_s=0.05) as held:
    print(f"held {held.path} {held.waited_s}", flush=True)
    if sys.argv[1] == "wait":
        sys.stdin.readline()
"""


def _holder(tmp_path: Path, name: str, then: str) -> subprocess.Popen:
    """A holder whose environment points every temporary and lock variable somewhere of its own."""
    folder = tmp_path / name
    folder.mkdir()
    env = {**os.environ, "TMPDIR": str(folder), "TEMP": str(folder), "TMP": str(folder),
           "INFBENCH_LOCK": str(folder / "lock")}
    return subprocess.Popen([sys.executable, "-c", HOLDER, then], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _first_line_with(stream, text: str) -> str | None:
    """Read until a line holds `text` (None where the stream ends first)."""
    for line in stream:
        if text in line:
            return line
    return None


def test_two_processes_with_different_temporary_folders_never_hold_the_lock_alone_together(tmp_path):
    first = _holder(tmp_path, "a", "wait")
    second = None
    try:
        held = first.stdout.readline().split()
        assert held[0] == "held", held
        second = _holder(tmp_path, "b", "go")
        # The second waits for the first: it says so before it may take the lock, which the first still holds.
        assert _first_line_with(second.stderr, "waiting for") is not None, second.stdout.read()
        first.stdin.write("done\n")
        first.stdin.flush()
        assert first.wait(timeout=120) == 0 and held[1] == lock_path()
        again = second.stdout.readline().split()
        assert again[:2] == ["held", lock_path()] and float(again[2]) > 0, again
        assert second.wait(timeout=120) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()


def test_the_lock_is_a_fixed_path_on_the_hosts_shared_memory(monkeypatch):
    monkeypatch.setenv("TMPDIR", "/nowhere")
    monkeypatch.setenv("INFBENCH_LOCK", "/nowhere/lock")
    expected = "/dev/shm/infbench-machine.lock" if os.path.isdir("/dev/shm") else "/tmp/infbench-machine.lock"
    assert lock_path() == expected


def test_a_lock_that_cannot_be_opened_is_one_line_and_nothing_runs(tmp_path):
    (tmp_path / "elsewhere").write_text("")
    link = tmp_path / "link.lock"
    link.symlink_to(tmp_path / "elsewhere")  # never followed: another user could point it at a file of yours
    for path in (link, tmp_path / "missing" / "x.lock"):
        ran = []
        with pytest.raises(BenchError, match=rf"^cannot take the machine's lock {path}: cannot open it \(") as error:
            with machine_lock(exclusive=True, path=str(path)):
                ran.append(True)
        assert not ran and "\n" not in str(error.value) and "no job runs unlocked" in str(error.value)


def test_a_measuring_job_that_cannot_take_the_lock_fails_with_that_line(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "shm"
    folder.mkdir()
    (folder / "infbench-machine.lock").symlink_to(tmp_path / "target")
    monkeypatch.setattr(isolation, "LOCK_FOLDERS", (str(folder),))
    smk = types.SimpleNamespace(log=[str(tmp_path / "job.log")], resources=types.SimpleNamespace(attempt=1), rule="time_x")
    ran = []
    with pytest.raises(SystemExit) as exit_:
        with step(smk, measures=True):
            ran.append(True)
    assert exit_.value.code == 1 and not ran
    log = (tmp_path / "job.log").read_text()
    assert f"error: cannot take the machine's lock {folder}/infbench-machine.lock: cannot open it" in log
    assert "Traceback" not in log


def test_the_lock_is_made_usable_by_every_user(tmp_path):
    path = tmp_path / "x.lock"
    with machine_lock(exclusive=False, path=str(path)):
        assert (path.stat().st_mode & 0o777) == 0o666


def test_shared_holders_wait_for_one_that_holds_it_alone(tmp_path):
    path = str(tmp_path / "x.lock")
    order = []
    with machine_lock(exclusive=True, path=path):
        taken = threading.Event()

        def shared():
            with machine_lock(exclusive=False, path=path, poll_s=0.01) as held:
                order.append(held.waited_s)
                taken.set()

        thread = threading.Thread(target=shared)
        thread.start()
        assert not taken.wait(0.2)  # flock locks belong to open files: a second open in one process still waits
    thread.join(timeout=60)
    assert taken.is_set() and order and order[0] > 0


# The workflow: two runs, one told another temporary folder, measured while the test holds the lock.


OPENVINO_RECORD = "results/records/local/resnet18/openvino/latency/fp32_bs1.json"
OPENVINO_LOG = "results/logs/local/resnet18/time_openvino/latency/fp32_bs1.log"


def _waiting_or_done(workdir: Path, run: subprocess.Popen) -> bool:
    log = workdir / OPENVINO_LOG
    return run.poll() is not None or (log.exists() and "waiting for" in log.read_text())


def test_two_runs_with_different_tmpdirs_measure_one_after_the_other(finished_workflow, tmp_path):
    copies = [tmp_path / "one", tmp_path / "two"]
    for copy in copies:
        shutil.copytree(finished_workflow, copy, symlinks=True)
    (tmp_path / "other").mkdir()
    args = [["--cores", "1", OPENVINO_RECORD, "--forcerun", "time_openvino"],
            ["--cores", "1", OPENVINO_RECORD, "--forcerun", "time_openvino", "--default-resources",
             f"tmpdir='{tmp_path / 'other'}'"]]
    runs = []
    with machine_lock(exclusive=True):  # both runs find the machine taken, whichever temporary folder they have
        for copy, extra in zip(copies, args):
            cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(copy), *extra]
            runs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        deadline = time.monotonic() + 600
        while not all(_waiting_or_done(c, r) for c, r in zip(copies, runs)) and time.monotonic() < deadline:
            time.sleep(0.5)
    outputs = [r.communicate(timeout=900)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [o[-2000:] for o in outputs]
    records = [read_record(c / OPENVINO_RECORD) for c in copies]
    assert all(r.status == "ok" and r.isolation.waited_s > 0 for r in records), [r.isolation for r in records]
    assert len({r.isolation.lock for r in records}) == 1
    first, second = sorted(records, key=lambda r: r.isolation.started_utc)
    assert first.isolation.ended_utc <= second.isolation.started_utc, "the two runs measured at the same time"
    assert json.loads((copies[1] / OPENVINO_RECORD).read_text())["isolation"]["lock"] == lock_path()
    assert not any("serializer warnings" in o for o in outputs)  # the record is built as what it is, not patched
