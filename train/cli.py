"""``python -m train --config train/configs/NAME.yaml [--resume] [key=value ...]`` (also under torchrun).

Rank 0 logs (tqdm, TensorBoard, a JSON-lines log), writes sample strips and validation metrics, saves the full
training state every ``save_every`` steps and at exit, and exports the inference model (fp16 safetensors + JSON)
next to it.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from v2v.checkpoint import export_model
from v2v.config import to_dict
from v2v.dataset import VideoDataset
from v2v.dataset_format import open_dataset
from v2v.errors import UserError

from . import distributed, schedule
from .config import TrainConfig, dump_config, load_config
from .samples import save_sample
from .state import load_state, rng_state, save_state, set_rng_state
from .trainer import Trainer
from .validate import validate


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML training config (train/configs/*.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints/latest.pt")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override any config field, e.g. max_steps=100")
    return p.parse_args(argv)


class Run:
    """Everything about one training run that is not the optimisation itself: data, logs, checkpoints."""

    def __init__(self, cfg: TrainConfig, resume: bool):
        self.cfg = cfg
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
                                    flip=cfg.data.flip and index.kind == "street", sequences=train,
                                    recolor=cfg.data.recolor,
                                    samples_per_epoch=cfg.data.samples_per_epoch or None)
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
            self.log(f"resumed from step {self.trainer.step} ({self.ckpt})")
        else:
            torch.manual_seed(cfg.seed + self.dist.rank)  # different data order/augmentation per rank
            if self.dist.is_main and self.ckpt.exists():
                raise UserError(f"{self.out} already holds a run; pass --resume to continue it or set out_dir")
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
                                   "config": to_dict(self.cfg)})
            export_model(self.out / "export", self.trainer.mcfg, self.trainer.G, meta=self.export_meta())
        distributed.barrier(self.dist.world_size)

    def export_meta(self) -> dict:
        """What inference needs to know about the training data: its frame size, and for pose models the target
        person's pose statistics (to normalise driving poses to this person)."""
        meta = {"step": self.trainer.step, "preset": self.cfg.preset, "dataset": self.cfg.data.root,
                "size": list(self.index.size), "fps": self.index.fps, "kind": self.index.kind}
        if self.trainer.mcfg.encoder.enabled and self.cfg.loss.style_color:
            meta["style_features"] = "rgb"  # the first three feature channels are region colours (StyleRequest.colors)
        if self.index.kind == "pose":
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

    def train(self) -> None:
        cfg, tr = self.cfg, self.trainer
        if self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter
            from tqdm import tqdm
            self.writer = SummaryWriter(str(self.out / "tb"))
            bar = tqdm(total=cfg.max_steps, initial=tr.step, desc="train", dynamic_ncols=True, file=sys.stdout)
        frames_done, t0 = 0, time.time()
        batches = self.batches()
        while tr.step < cfg.max_steps and not self.stop_requested:
            T = schedule.num_frames(cfg.schedule, tr.step)
            if T != self.dataset.num_frames:
                self.dataset.set_num_frames(T)
                batches = self.batches()  # workers must see the new sequence length
            logs = tr.train_step(next(batches))
            frames_done += logs["frames"] * cfg.batch_size * self.dist.world_size
            step = tr.step
            if self.dist.is_main:
                bar.update(1)
                if step % cfg.log_every == 0 or step == cfg.max_steps:
                    logs["frames_per_s"] = frames_done / max(time.time() - t0, 1e-9)
                    bar.set_postfix(G=f"{logs['G_total']:.3f}", D=f"{logs['D_image']:.3f}",
                                    fps=f"{logs['frames_per_s']:.2f}")
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
        if tr.step < cfg.max_steps:  # stopped by a signal: exit promptly (schedulers kill soon after SIGTERM)
            self.log(f"stopped at step {tr.step}; state saved to {self.ckpt}; continue with --resume")
            return
        if self.val_names and not (cfg.val_every and tr.step % cfg.val_every == 0):
            self.run_validation(tr.step)
        self.log(f"finished at step {tr.step}; model exported to {self.out / 'export'}")

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
        run = Run(cfg, args.resume)

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
