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


def test_log_lines_carry_throughput_and_mfu(dataset, tmp_path):
    out = tmp_path / "tp"
    r = run_train([f"data.root={dataset}", f"out_dir={out}", "max_steps=4", "log_every=2", "sample_every=0"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "matmul peak" in r.stdout
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for entry in logs:
        assert entry["s_per_step"] > 0 and entry["gflop_per_step"] > 0
        assert entry["gflops_per_s"] == pytest.approx(entry["gflop_per_step"] / entry["s_per_step"])
        assert 0 < entry["mfu"] < 1.5


def test_init_from_restores_every_network_bit_for_bit(dataset, tmp_path):
    from safetensors.torch import load_file
    from train.cli import Run
    from train.config import load_config

    first = tmp_path / "first"
    r = run_train([f"data.root={dataset}", f"out_dir={first}", "max_steps=3", "sample_every=0"])
    assert r.returncode == 0, r.stderr[-2000:]
    export = first / "export"
    assert (export / "discriminators.safetensors").is_file()
    cfg = load_config(CONFIG, [f"data.root={dataset}", f"out_dir={tmp_path / 'second'}", "threads=1"])
    run = Run(cfg, resume=False, init_from=str(export))
    for net, file in ((run.trainer.G, "model.safetensors"), (run.trainer.D, "discriminators.safetensors")):
        saved = load_file(str(export / file))
        own = net.state_dict()
        assert set(own) <= set(saved)
        for k, v in own.items():
            assert torch.equal(v, saved[k].to(v.dtype)), k
    assert run.history()["steps"] == 3 and run.history()["runs"] == 2

    r = run_train(["--init-from", str(export), f"data.root={dataset}", f"out_dir={tmp_path / 'third'}",
                   "max_steps=2", "sample_every=0"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "initialised from" in r.stdout and "discriminators" in r.stdout
    meta = json.loads((tmp_path / "third" / "export" / "config.json").read_text())["meta"]
    assert meta["training"]["steps"] == 5 and meta["training"]["runs"] == 2  # 3 earlier steps + 2 now


def test_init_from_refuses_other_networks_and_resume(dataset, tmp_path):
    first = tmp_path / "first"
    assert run_train([f"data.root={dataset}", f"out_dir={first}", "max_steps=1", "sample_every=0"]).returncode == 0
    r = run_train(["--init-from", str(first / "export"), f"data.root={dataset}", f"out_dir={tmp_path / 'b'}",
                   "model.ngf=16"])
    assert r.returncode == 2 and "ngf: 8 in the export, 16 in this run" in r.stderr
    r = run_train(["--init-from", str(first / "export"), f"data.root={dataset}", f"out_dir={tmp_path / 'b'}",
                   "model.norm=batch"])
    assert r.returncode == 2 and "norm: 'instance' in the export, 'batch' in this run" in r.stderr
    # instance norms may become SPADE norms (their modulation starts at zero: the same function at first)
    r = run_train(["--init-from", str(first / "export"), f"data.root={dataset}", f"out_dir={tmp_path / 's'}",
                   "model.norm=spade", "model.first_frame.norm=spade", "model.spade_hidden=4", "max_steps=1",
                   "sample_every=0"])
    assert r.returncode == 0 and "initialised from" in r.stdout, r.stderr[-2000:]
    config = json.loads((tmp_path / "s" / "export" / "config.json").read_text())
    assert config["model"]["norm"] == config["model"]["first_frame"]["norm"] == "spade"
    r = run_train(["--init-from", str(first / "export"), "--resume", f"data.root={dataset}",
                   f"out_dir={tmp_path / 'c'}"])
    assert r.returncode == 2 and "pass one of them" in r.stderr
    r = run_train(["--init-from", str(tmp_path / "nowhere"), f"data.root={dataset}", f"out_dir={tmp_path / 'd'}"])
    assert r.returncode == 2 and "config.json is missing" in r.stderr


def test_time_budget_stops_validates_and_exports(dataset, tmp_path):
    out = tmp_path / "budget"
    r = run_train(["--time-budget", "3s", f"data.root={dataset}", f"out_dir={out}", "max_steps=100000",
                   "sample_every=0", "data.val_sequences=[seqB]", "data.val_frames=4"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "time budget spent" in r.stdout and "validation at step" in r.stdout
    assert "mask_mean=" in r.stdout and "flow_px=" in r.stdout  # the copying-generator signal is logged
    meta = json.loads((out / "export" / "config.json").read_text())["meta"]
    assert 0 < meta["training"]["steps"] < 100000 and meta["training"]["hours"] > 0
    r = run_train(["--time-budget", "soon", f"data.root={dataset}", f"out_dir={tmp_path / 'x'}"])
    assert r.returncode == 2 and "is not a duration" in r.stderr


def test_durations_and_time_based_learning_rate():
    from train import schedule
    from train.cli import parse_duration
    from train.config import ScheduleConfig
    assert parse_duration("2h") == 7200 and parse_duration("90m") == 5400 and parse_duration("1h30m") == 5400
    assert parse_duration("45s") == 45 and parse_duration("3600") == 3600
    s = ScheduleConfig(lr_decay_start=0.5)
    assert schedule.lr_factor(s, 10, 100000, time_fraction=0.75) == pytest.approx(0.5)
    assert schedule.lr_factor(s, 75, 100, time_fraction=0.1) == pytest.approx(0.5)
    assert schedule.lr_factor(s, 10, 100000, time_fraction=1.2) == 0.0


def test_bench_train_prints_speed_and_ratio(dataset):
    r = subprocess.run([sys.executable, "-m", "v2v.bench", "train", "--config", CONFIG, "--steps", "2", "--json",
                        "--set", f"data.root={dataset}", "--against", f"data.root={dataset}",
                        "schedule.n_frames_start=3", "schedule.n_frames_max=3"],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    for key in ("s_per_step", "frames_per_s", "gflop_per_step", "gflops_per_s", "mfu"):
        assert out[key] > 0, key
    assert out["steps"] == 2
    # 4-frame sequences do more work per step than 3-frame ones
    assert out["gflop_per_step"] > out["baseline"]["gflop_per_step"]
    assert out["frames_per_s_ratio"] == pytest.approx(out["frames_per_s"] / out["baseline"]["frames_per_s"])
    bad = subprocess.run([sys.executable, "-m", "v2v.bench", "train", "--config", CONFIG, "--steps", "1",
                          "--set", "data.root=/nowhere"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert bad.returncode == 2 and "training failed" in bad.stderr


def test_generator_ema_averages_the_weights_and_is_what_gets_exported(dataset, tmp_path):
    from safetensors.torch import load_file
    from train.cli import Run
    from train.config import load_config

    cfg = load_config(CONFIG, [f"data.root={dataset}", f"out_dir={tmp_path / 'ema'}", "threads=1", "ema_decay=0.75",
                               "max_steps=2", "sample_every=0"])
    run = Run(cfg, resume=False)
    tr, batches = run.trainer, run.batches()
    tr.train_step(next(batches))
    before = {k: v.clone() for k, v in tr.G_ema.state_dict().items()}
    tr.train_step(next(batches))
    live, ema = tr.G.state_dict(), tr.G_ema.state_dict()
    name = "generator.scales.0.image_out.conv.weight"
    assert torch.allclose(ema[name], before[name] + 0.25 * (live[name] - before[name]), atol=1e-6)
    assert not torch.equal(ema[name], live[name])
    run.save()
    exported = load_file(str(tmp_path / "ema" / "export" / "model.safetensors"))
    assert torch.equal(exported[name], ema[name].half())
    exported_live = load_file(str(tmp_path / "ema" / "export_live" / "model.safetensors"))
    assert torch.equal(exported_live[name], live[name].half())
    with pytest.raises(Exception, match="ema_decay must be within"):
        load_config(CONFIG, [f"data.root={dataset}", "ema_decay=1.5"])


@pytest.mark.parametrize("overrides", [[], ["model.n_scales=2", "model.ngf=8"]], ids=["one scale", "two scales"])
def test_batched_label_branches_give_the_frame_by_frame_result(dataset, tmp_path, overrides):
    """The label encoder and foreground generator of all frames run as one batch: same outputs and gradients."""
    from train.cli import Run
    from train.config import load_config

    cfg = load_config(CONFIG, [f"data.root={dataset}", f"out_dir={tmp_path / 'b'}", "threads=1", *overrides,
                               "schedule.generated_history=0"])
    run = Run(cfg, resume=False)
    tr = run.trainer
    batch = next(run.batches())
    results = []
    for batched in (False, True):
        x = tr.prepare(batch, tr.mcfg.n_scales)
        tr.batch_label_branches = batched
        tr.G.zero_grad(set_to_none=True)
        gen = tr.generate(x, tr.mcfg.n_scales, 0)
        sum(o["image"].square().mean() for o in gen["outs"]).backward()
        grads = {k: p.grad.clone() for k, p in tr.G["generator"].named_parameters() if p.grad is not None}
        results.append(([o["image"].detach() for o in gen["outs"]], grads))
    (images_a, grads_a), (images_b, grads_b) = results
    assert len(images_a) == len(images_b) >= 2
    for a, b in zip(images_a, images_b):
        assert torch.allclose(a, b, atol=1e-5)
    assert grads_a.keys() == grads_b.keys()
    for k in grads_a:
        assert torch.allclose(grads_a[k], grads_b[k], atol=1e-5, rtol=1e-3), k


def test_every_logged_generator_term_is_declared_with_its_weight(dataset, tmp_path):
    """Trainer.loss_weights is the one table of the generator's terms: every G-side name a step logs is in it
    (T{s}_ names under T_), or is a style term, and each logged value is the weight times the unweighted term."""
    import re

    from train.cli import Run
    from train.config import load_config

    cfg = load_config(CONFIG, [f"data.root={dataset}", f"out_dir={tmp_path / 'w'}", "threads=1", "sample_every=0",
                               "schedule.n_frames_start=6", "schedule.n_frames_max=6", "loss.image_l1=3",
                               "loss.foreground_l1=2"])
    run = Run(cfg, resume=False)
    tr = run.trainer
    logs = tr.train_step(next(run.batches()))
    weights = tr.loss_weights()
    terms = [k for k in logs if k not in ("G_total", "lr", "frames", "scales", "frozen") and not k.startswith("D_")]
    assert {"G_GAN", "G_L1", "G_FG_L1", "F_FG_L1", "F_Flow", "T0_GAN", "T0_FM"} <= set(terms)
    for name in terms:
        assert re.sub(r"^T\d+_", "T_", name) in weights or name in ("E_color", "G_style"), name
    assert weights["G_L1"] == 3 and weights["G_FG_L1"] == 2 and abs(sum(logs[k] for k in terms) - logs["G_total"]) < 1e-4 * abs(logs["G_total"])


def test_zoomed_training_exports_the_size_the_model_draws_at(dataset, tmp_path):
    """Crops of 32x16 at zoom 0.5 from the 64x32 frames: the model learns the half-size scale, and the export says
    so, so that evaluate and the app draw at 32x16 rather than at the dataset's 64x32."""
    out = tmp_path / "zoom"
    r = run_train([f"data.root={dataset}", f"out_dir={out}", "max_steps=1", "save_every=1", "sample_every=1",
                   "data.crop=[32,16]", "data.zoom=[0.5,0.5]"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "export" / "config.json").read_text())["meta"]["size"] == [32, 16]
