"""Training driver: torchrun with two gloo processes, crash + resume, bad checkpoints, and learning."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import make_street_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "train" / "configs" / "tiny_test.yaml")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_street_dataset(tmp_path_factory.mktemp("data") / "ds", frames=8, sequences=("seqA", "seqB"))


def run_train(args, **kw):
    return subprocess.run([sys.executable, "-m", "train", "--config", CONFIG, *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=600, **kw)


def test_config_errors_are_clear(dataset, tmp_path):
    r = run_train([f"data.root={dataset}", f"out_dir={tmp_path}/r", "max_stepz=3"])
    assert r.returncode == 2 and "unknown config key 'max_stepz' (did you mean 'max_steps'?)" in r.stderr
    r = run_train([f"data.root={dataset}", f"out_dir={tmp_path}/r", "model.norm=group"])
    assert r.returncode == 2 and "norm must be one of" in r.stderr


def test_torchrun_two_processes_keep_identical_parameters(dataset, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "train",
           "--config", CONFIG, f"data.root={dataset}", f"out_dir={out}", "max_steps=4", "save_every=2", "threads=1"]
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "parameters identical on all 2 ranks" in r.stdout
    assert (out / "export" / "model.safetensors").is_file()


def test_sigkill_then_resume_finishes(dataset, tmp_path):
    out = tmp_path / "crash"
    args = [f"data.root={dataset}", f"out_dir={out}", "max_steps=400", "save_every=5", "sample_every=0"]
    proc = subprocess.Popen([sys.executable, "-m", "train", "--config", CONFIG, *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = out / "checkpoints" / "latest.pt"
    deadline = time.time() + 240
    while time.time() < deadline and not (ckpt.exists() and (out / "log.jsonl").exists()
                                          and len((out / "log.jsonl").read_text().splitlines()) >= 2):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = torch.load(ckpt, weights_only=True)["trainer"]["step"]
    assert 5 <= saved < 400 and saved % 5 == 0
    r = run_train([*args, "max_steps=" + str(saved + 6)] + [], input=None)
    assert r.returncode == 2 and "--resume" in r.stderr  # refuses to overwrite the crashed run
    r = subprocess.run([sys.executable, "-m", "train", "--config", CONFIG, "--resume", *args,
                        f"max_steps={saved + 6}"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed from step {saved}" in r.stdout
    assert f"finished at step {saved + 6}" in r.stdout
    assert torch.load(ckpt, weights_only=True)["trainer"]["step"] == saved + 6


def test_corrupt_and_foreign_checkpoints(dataset, tmp_path):
    out = tmp_path / "bad"
    (out / "checkpoints").mkdir(parents=True)
    ckpt = out / "checkpoints" / "latest.pt"
    ckpt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    r = run_train(["--resume", f"data.root={dataset}", f"out_dir={out}"])
    assert r.returncode == 2 and "corrupt or not a v2v training checkpoint" in r.stderr
    torch.save({"model": torch.zeros(3)}, ckpt)
    r = run_train(["--resume", f"data.root={dataset}", f"out_dir={out}"])
    assert r.returncode == 2 and "not a v2v training checkpoint" in r.stderr
    r = run_train(["--resume", f"data.root={dataset}", f"out_dir={tmp_path / 'none'}"])
    assert r.returncode == 2 and "no checkpoint" in r.stderr


def test_config_is_saved_beside_checkpoints(dataset, tmp_path):
    out = tmp_path / "cfg"
    r = run_train([f"data.root={dataset}", f"out_dir={out}", "max_steps=2", "save_every=2", "sample_every=2"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "samples" / "step_0000002.png").is_file() and (out / "samples" / "step_0000002.mp4").is_file()
    assert list((out / "tb").iterdir())  # TensorBoard event file
    saved = (out / "config.yaml").read_text()
    assert "max_steps: 2" in saved and str(dataset) in saved
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["step"] == 2 and "G_GAN" in logs[-1] and "F_Flow" in logs[-1]
