"""``python -m train --config train/configs/NAME.yaml [--resume | --init-from MODEL] [--time-budget 2h]
[key=value ...]`` (also under torchrun).

Rank 0 logs (tqdm, TensorBoard, a JSON-lines log with s/step, frames/s, GFLOP/s and MFU), writes sample strips and
validation metrics, saves the full training state every ``save_every`` steps and at exit, and exports the
inference model (fp16 safetensors + JSON, with the discriminators beside it for ``--init-from``) next to it.
With a time budget the run ends when it is spent (the learning rate decays over the budget, not the steps), then
validates and exports as at ``max_steps``.
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from v2v import kinds
from v2v.checkpoint import export_model
from v2v.config import to_dict
from v2v.dataset import VideoDataset
from v2v.dataset_format import open_dataset
from v2v.errors import UserError
from v2v.precision import cpu_description

from . import distributed, schedule
from .config import TrainConfig, dump_config, load_config
from .samples import save_sample
from .state import load_state, rng_state, save_state, set_rng_state
from .throughput import counted, matmul_peak_gflops
from .trainer import Trainer
from .validate import validate
from .warm_start import warm_start


def parse_duration(text: str) -> float:
    """'2h', '90m', '45s', '1h30m' or plain seconds -> seconds."""
    m = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    if not text or not m or not any(m.groups()):
        raise UserError(f"time budget {text!r} is not a duration: write e.g. 2h, 90m, 1h30m or 3600")
    h, mi, sec = (float(g) if g else 0.0 for g in m.groups())
    seconds = h * 3600 + mi * 60 + sec
    if seconds <= 0:
        raise UserError(f"time budget {text!r} must be longer than zero")
    return seconds


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML training config (train/configs/*.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints/latest.pt")
    p.add_argument("--init-from", metavar="MODEL_DIR",
                   help="start every network (generators, encoder, discriminators) from an exported model")
    p.add_argument("--time-budget", metavar="DURATION",
                   help="stop, validate and export when this much wall time is spent (e.g. 2h, 90m, 1h30m)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override any config field, e.g. max_steps=100")
    return p.parse_args(argv)


class Run:
    """Everything about one training run that is not the optimisation itself: data, logs, checkpoints."""

    def __init__(self, cfg: TrainConfig, resume: bool, init_from: str | None = None, time_budget: float = 0.0):
        if resume and init_from:
            raise UserError("--resume continues this run folder and --init-from starts a new run from an export: "
                            "pass one of them")
        self.cfg = cfg
        self.time_budget = time_budget
        self.elapsed_before = 0.0  # wall seconds this run trained before a --resume
        self.history_base: dict = {}  # training history of the export a --init-from run started from
        self.dist = distributed.setup(cfg.device)
        if cfg.threads and self.dist.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out_dir)
        self.ckpt = self.out / "checkpoints" / "latest.pt"
        self.trainer = Trainer(cfg, self.dist)
        index = open_dataset(cfg.data.root)
        mcfg = self.trainer.mcfg
        if index.label_set != mcfg.label_set:
            raise UserError(f"dataset {cfg.data.root} has label set {index.label_set!r} but preset {cfg.preset!r} "
                            f"expects {mcfg.label_set!r}")
        names = [s.name for s in index.sequences]
        val_index = open_dataset(cfg.data.val_root) if cfg.data.val_root else index
        val_names = [s.name for s in val_index.sequences]
        val = list(cfg.data.val_sequences) or (val_names if cfg.data.val_root else [])
        for n, known, where in [(n, val_names, cfg.data.val_root or cfg.data.root) for n in val] + \
                [(n, names, cfg.data.root) for n in cfg.data.train_sequences]:
            if n not in known:
                raise UserError(f"sequence {n!r} is not in {where} (has: {', '.join(known)})")
        held_out = val if not cfg.data.val_root else []
        train = list(cfg.data.train_sequences) or [n for n in names if n not in held_out]
        if not train:
            raise UserError("no training sequences left after holding out the validation sequences")
        self.index, self.val_index, self.val_names = index, val_index, val
        self.dataset = VideoDataset(index, schedule.num_frames(cfg.schedule, 0), crop_size=tuple(cfg.data.crop) or None,
                                    flip=cfg.data.flip and kinds.get(index.kind).flips, sequences=train,
                                    recolor=cfg.data.recolor, layout_mix=cfg.data.layout_mix,
                                    face_centers=cfg.face_crop > 0,
                                    zoom=cfg.data.zoom or None, samples_per_epoch=cfg.data.samples_per_epoch or None)
        self.sampler = DistributedSampler(self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                          shuffle=True, seed=cfg.seed)
        self.epoch = 0
        self.writer = None
        self.stop_requested = False
        if resume:
            state = load_state(self.ckpt)
            self.trainer.load_state_dict(state["trainer"])
            self.epoch = int(state.get("epoch", 0))
            rngs = state["rng"]
            set_rng_state(rngs[self.dist.rank] if self.dist.rank < len(rngs) else rngs[0])
            self.elapsed_before = float(state.get("elapsed_s", 0.0))
            self.history_base = dict(state.get("history_base", {}))
            self.log(f"resumed from step {self.trainer.step} ({self.ckpt})")
        else:
            torch.manual_seed(cfg.seed + self.dist.rank)  # different data order/augmentation per rank
            if self.dist.is_main and self.ckpt.exists():
                raise UserError(f"{self.out} already holds a run; pass --resume to continue it or set out_dir")
            if init_from:
                report = warm_start(self.trainer, init_from)
                self.history_base = report["history"]
                fresh = report["fresh_discriminators"]
                self.log(f"initialised from {init_from} (generators" + (" and discriminators" if
                         report["discriminators"] else "; discriminators start fresh: the export has none") +
                         (f"; {', '.join(fresh)} D start fresh: the export has none" if report["discriminators"]
                          and fresh else "") + f"; {self.history_base.get('steps', 0)} earlier steps)")
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(dump_config(cfg))

    def log(self, msg: str) -> None:
        if self.dist.is_main:
            print(f"[train] {msg}", flush=True)

    def batches(self):
        while True:
            self.sampler.set_epoch(self.epoch)
            loader = DataLoader(self.dataset, batch_size=self.cfg.batch_size, sampler=self.sampler,
                                num_workers=self.cfg.data.num_workers, drop_last=True,
                                persistent_workers=False)
            for batch in loader:
                yield batch
            self.epoch += 1

    def save(self) -> None:
        """All ranks contribute their RNG state; rank 0 writes the checkpoint and the export."""
        rng = rng_state()
        if self.dist.world_size > 1:
            gathered = [None] * self.dist.world_size
            torch.distributed.all_gather_object(gathered, rng)
        else:
            gathered = [rng]
        if self.dist.is_main:
            save_state(self.ckpt, {"trainer": self.trainer.state_dict(), "epoch": self.epoch, "rng": gathered,
                                   "config": to_dict(self.cfg), "elapsed_s": self.elapsed(),
                                   "history_base": self.history_base})
            meta = self.export_meta()
            export_model(self.out / "export", self.trainer.mcfg, self.trainer.G_inference, meta=meta,
                         discriminators=self.trainer.D)
            if self.trainer.G_ema is not None:  # the live weights too, so the average can be measured against them
                export_model(self.out / "export_live", self.trainer.mcfg, self.trainer.G, meta=meta,
                             discriminators=self.trainer.D)
        distributed.barrier(self.dist.world_size)

    def export_meta(self) -> dict:
        """What inference needs to know about the training data: its frame size, and for pose models the target
        person's pose statistics (to normalise driving poses to this person)."""
        size = list(self.index.size)
        if self.dataset.zoom:  # the model draws at the dataset's size times the middle of the zoom range
            z, m = self.dataset.middle_zoom(), self.trainer.mcfg.size_multiple
            size = [max(m, round(v * z / m) * m) for v in size]
        meta = {"step": self.trainer.step, "preset": self.cfg.preset, "dataset": self.cfg.data.root,
                "size": size, "fps": self.index.fps, "kind": self.index.kind,
                "training": self.history()}
        if self.trainer.mcfg.encoder.enabled and self.cfg.loss.style_color:
            meta["style_features"] = "rgb"  # the first three feature channels are region colours (StyleRequest.colors)
        if kinds.get(self.index.kind).keypoints:
            if not hasattr(self, "_pose_stats"):
                from v2v.inputs.pose_normalize import clip_stats
                kps = [self.index.load_frame(seq, i, parts={"keypoints"}).get("keypoints")
                       for seq in self.index.sequences for i in range(seq.num_frames)]
                try:
                    self._pose_stats = clip_stats(kps)
                except ValueError:  # no frame shows the whole body: driving poses are used as they are
                    self._pose_stats = None
            meta["pose_stats"] = self._pose_stats
        return meta

    def elapsed(self) -> float:
        """Wall seconds this run has trained, across --resume."""
        started = getattr(self, "_started", None)
        return self.elapsed_before + (time.time() - started if started else 0.0)

    def history(self) -> dict:
        """Steps and hours of every run behind this model (earlier exports via --init-from, plus this run)."""
        base, hours = self.history_base, self.elapsed() / 3600
        cores = (self.cfg.threads or torch.get_num_threads()) if self.dist.device.type == "cpu" else 0
        return {"runs": int(base.get("runs", 0)) + 1, "steps": int(base.get("steps", 0)) + self.trainer.step,
                "hours": round(float(base.get("hours", 0.0)) + hours, 3),
                "cpu_hours": round(float(base.get("cpu_hours", 0.0)) + hours * cores * self.dist.world_size, 3),
                "device": self.dist.device.type}

    def budget_spent(self) -> bool:
        return bool(self.time_budget) and self.elapsed() >= self.time_budget

    def train(self) -> None:
        cfg, tr = self.cfg, self.trainer
        self._started = time.time()
        peak = matmul_peak_gflops(tr.precision, self.dist.device)
        why = f" ({cpu_description()})" if cfg.precision == "auto" and self.dist.device.type == "cpu" else ""
        self.log(f"precision {cfg.precision} -> {tr.precision}{why}; measured {tr.precision} matmul peak: "
                 f"{peak:.1f} GFLOP/s on {torch.get_num_threads()} threads")
        gflop_per_step: dict[int, float] = {}  # by frames per sequence
        window_t, window_steps, window_frames = time.time(), 0, 0
        if self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter
            from tqdm import tqdm
            self.writer = SummaryWriter(str(self.out / "tb"))
            bar = tqdm(total=cfg.max_steps, initial=tr.step, desc="train", dynamic_ncols=True, file=sys.stdout)
        frames_done, t0 = 0, time.time()
        batches = self.batches()
        while tr.step < cfg.max_steps and not self.stop_requested and not self.budget_spent():
            T = schedule.num_frames(cfg.schedule, tr.step)
            if T != self.dataset.num_frames:
                self.dataset.set_num_frames(T)
                batches = self.batches()  # workers must see the new sequence length
            if self.time_budget:
                tr.time_fraction = self.elapsed() / self.time_budget
            if T not in gflop_per_step:  # count the FLOPs of the first step at each sequence length
                logs, gflop_per_step[T] = counted(tr.train_step, next(batches))
            else:
                logs = tr.train_step(next(batches))
            frames_done += logs["frames"] * cfg.batch_size * self.dist.world_size
            window_steps += 1
            window_frames += logs["frames"] * cfg.batch_size * self.dist.world_size
            step = tr.step
            if self.dist.is_main:
                bar.update(1)
                if step % cfg.log_every == 0 or step == cfg.max_steps:
                    now = time.time()
                    logs["frames_per_s"] = frames_done / max(now - t0, 1e-9)
                    s_per_step = (now - window_t) / window_steps
                    gflops = gflop_per_step[T] * self.dist.world_size / s_per_step
                    logs.update(s_per_step=s_per_step, window_frames_per_s=window_frames / (now - window_t),
                                gflop_per_step=gflop_per_step[T], gflops_per_s=gflops, mfu=gflops / peak,
                                elapsed_h=self.elapsed() / 3600)
                    window_t, window_steps, window_frames = now, 0, 0
                    bar.set_postfix(G=f"{logs['G_total']:.3f}", D=f"{logs['D_image']:.3f}",
                                    s_step=f"{s_per_step:.2f}", fps=f"{logs['window_frames_per_s']:.2f}",
                                    mfu=f"{logs['mfu']:.1%}")
                    for k, v in logs.items():
                        self.writer.add_scalar(k, v, step)
                    with open(self.out / "log.jsonl", "a") as f:
                        f.write(json.dumps({"step": step, **logs}) + "\n")
                if cfg.sample_every and step % cfg.sample_every == 0:
                    save_sample(self.out / "samples", step, tr, self.index)
            if cfg.val_every and step % cfg.val_every == 0 and self.val_names:
                self.run_validation(step)
            if step % cfg.save_every == 0:
                self.save()
        if self.dist.is_main:
            bar.close()
        self.save()
        if self.dist.world_size > 1:
            same = distributed.parameters_identical(tr.G, self.dist.world_size) and \
                distributed.parameters_identical(tr.D, self.dist.world_size)
            if not same:
                raise RuntimeError("ranks ended with different parameters: gradient averaging is broken")
            self.log(f"parameters identical on all {self.dist.world_size} ranks")
        if self.stop_requested:  # stopped by a signal: exit promptly (schedulers kill soon after SIGTERM)
            self.log(f"stopped at step {tr.step}; state saved to {self.ckpt}; continue with --resume")
            return
        if self.val_names and not (cfg.val_every and tr.step % cfg.val_every == 0):
            self.run_validation(tr.step)
        why = "time budget spent" if tr.step < cfg.max_steps else "max_steps reached"
        self.log(f"finished at step {tr.step} ({why}); model exported to {self.out / 'export'}")
        # Every rank waits for the main one's validation: a rank that tore its process group down while the other
        # was still validating aborted in gloo ("terminate called without an active exception"), 1 run in ~3.
        distributed.barrier(self.dist.world_size)

    def run_validation(self, step: int) -> None:
        if not self.dist.is_main:
            return
        metrics = validate(self.trainer, self.val_index, self.val_names, self.cfg.data.val_frames)
        for k, v in metrics.items():
            self.writer.add_scalar(f"val/{k}", v, step)
        with open(self.out / "val.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        self.log(f"validation at step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))


def main(argv=None) -> int:
    args = parse_args(argv)
    run = None
    try:
        cfg = load_config(args.config, args.overrides)
        budget = parse_duration(args.time_budget) if args.time_budget else 0.0
        run = Run(cfg, args.resume, args.init_from, budget)

        def request_stop(signum, frame):  # SIGTERM/SIGINT: finish the step, save, exit
            run.stop_requested = True
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        run.train()
        return 0
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if run is not None and run.writer is not None:
            run.writer.close()
        distributed.cleanup()
