"""One training step of vid2vid, and the networks/optimisers it updates.

Per step, for a batch of T-frame sequences:

1. The generator update. The first L frames are real (the reference's training history); frames L..T-1 are
   generated recurrently, every scale keeping its own history; gradients flow back through the most recent
   ``frames_backprop`` generated frames (truncated BPTT). The first-frame generator renders frame 0 on its own.
   Loss = image GAN + feature matching (+ VGG) on the output and on the hallucinated image, flow L1 + flow warp
   (masked by the ground-truth flow's confidence), temporal warp of the output, mask regulariser, and for every
   temporal scale whose window fits: temporal GAN + feature matching on K frames taken K^s apart with the K-1
   real flows. With ``face_crop``: a face D's GAN + feature matching on head crops. With the feature encoder E:
   its colour anchor (``loss.style_color``) and the style consistency of every generated frame
   (``loss.style_consistency``: E, frozen, must read back the features given).
2. The image D update (real vs. every fake of the step).
3. One update per temporal D scale (and one of the face D, with ``face_crop``).
The generator's loss terms are computed unweighted by one method per group (``_image_terms``,
``_first_frame_terms``, ``_face_terms``, ``_motion_terms``, ``_temporal_terms``) and scaled by
:meth:`Trainer.loss_weights`, the one place that pairs each logged name with its weight; ``update_generator``,
``update_image_D``, ``update_face_D`` (with a face D) and ``update_temporal_D`` are the updates, in that order.
In float32 the one-hot label channels of the generators' first convolutions are summed by lookup
(``one_hot_lookup``, :func:`v2v.nn.fast.one_hot_training_conv`; the same sums as the dense convolution).
Every optimiser is Adam and follows the same constant-then-linear-decay schedule.
"""
from __future__ import annotations

import contextlib
import copy
import re
import warnings

import torch
import torch.nn.functional as F

from v2v import conditioning
from v2v.face_crop import crop_squares
from v2v.flow import resize_flow, warp
from v2v.flow_prior import label_flow_batch
from v2v.labels import foreground_mask
from v2v.losses import (build_perceptual_loss, feature_matching_loss, flow_loss, flow_warp_loss, foreground_l1_loss,
                        gan_loss, mask_regularizer, style_color_loss, style_consistency_loss, temporal_warp_loss)
from v2v.nn.blocks import ReflectConv2d, downsample
from v2v.nn.build import build_discriminators, build_generators
from v2v.nn.encoder import instance_pool, region_ids
from v2v.nn.fast import enable_one_hot_training, one_hot_hint
from v2v.nn.generator import split_label_parts
from v2v.precision import resolve_precision

from . import schedule
from .config import TRAIN_PRECISIONS, TrainConfig
from .diff_augment import Augmentation, parse_policy
from .distributed import DistInfo, average_gradients, broadcast_parameters


def _down(x: torch.Tensor, times: int) -> torch.Tensor:
    for _ in range(times):
        x = downsample(x)
    return x


def compose_flow(flows: list[torch.Tensor]) -> torch.Tensor:
    """Chain backward flows [f_{a→a-1}, f_{a-1→a-2}, ...] into f_{a→a-m}."""
    total = flows[0]
    for f in flows[1:]:
        total = total + warp(f, total)
    return total


class Trainer:
    def __init__(self, cfg: TrainConfig, dist: DistInfo):
        self.cfg = cfg
        self.dist = dist
        self.device = dist.device
        self.mcfg = cfg.model_config()
        # What the step computes in: cfg.precision with "auto" resolved for this device (v2v.precision), and
        # whether its tensors are channels-last (auto: with bf16 only).
        self.precision = resolve_precision(cfg.precision, self.device, TRAIN_PRECISIONS)
        self.channels_last = self.precision == "bf16" if cfg.channels_last == "auto" else cfg.channels_last == "true"
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.G = build_generators(self.mcfg).to(self.device)
        self.D = build_discriminators(self.mcfg, face=cfg.face_crop > 0).to(self.device)
        broadcast_parameters(self.G, dist.world_size)
        broadcast_parameters(self.D, dist.world_size)
        if cfg.grad_checkpointing:
            self.G["generator"].set_gradient_checkpointing(True)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        betas = (cfg.beta1, cfg.beta2)
        self.G_ema = None  # the generators' moving average (cfg.ema_decay), what exports and validation use
        if cfg.ema_decay:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D["image"].parameters(), lr=cfg.lr, betas=betas)
        self.opt_DT = [torch.optim.Adam(n.parameters(), lr=cfg.lr, betas=betas) for n in self.D["temporal"].nets]
        self.opt_DF = torch.optim.Adam(self.D["face"].parameters(), lr=cfg.lr, betas=betas) if "face" in self.D \
            else None
        ReflectConv2d.enabled = cfg.fast_padding
        # one-hot label channels by lookup (fp32 only, as at inference); the networks' first convolutions are marked
        self.one_hot_lookup = bool(cfg.one_hot_lookup and self.precision == "fp32"
                                   and enable_one_hot_training(self.G, self.mcfg))
        # Batching the label branches of a sequence's frames gives the same result only with per-sample norms.
        self.batch_label_branches = cfg.batch_label_branches and self.mcfg.norm != "batch"
        self.augment_policy = parse_policy(cfg.diff_augment)
        self.time_fraction = 0.0  # share of a wall-time budget spent (the driver sets it; 0: no budget)
        lam = lambda step: schedule.lr_factor(cfg.schedule, step, cfg.max_steps, self.time_fraction)  # noqa: E731
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lam) for o in self.optimizers]
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.perceptual = build_perceptual_loss(cfg.loss.perceptual, cfg.vgg_weights or None)
        if self.perceptual is not None:
            self.perceptual.to(self.device)
            if self.channels_last:
                self.perceptual.to(memory_format=torch.channels_last)
        self.step = 0

    @property
    def G_inference(self) -> torch.nn.ModuleDict:
        """The generators to export, validate and sample: the moving average when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    @torch.no_grad()
    def update_ema(self) -> None:
        ema, live = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema, live, 1.0 - self.cfg.ema_decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def sync_ema(self) -> None:
        """Restart the average at the current weights (after loading weights from elsewhere)."""
        if self.G_ema is not None:
            self.G_ema.load_state_dict(self.G.state_dict())

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.opt_G, self.opt_D, *self.opt_DT, *([self.opt_DF] if self.opt_DF else [])]

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # ------------------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"step": self.step, "G": self.G.state_dict(), "D": self.D.state_dict(),
                "G_ema": self.G_ema.state_dict() if self.G_ema is not None else {},
                "optimizers": [o.state_dict() for o in self.optimizers],
                "schedulers": [s.state_dict() for s in self.schedulers],
                "scaler": self.scaler.state_dict() if self.scaler else {}}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            if state.get("G_ema"):
                self.G_ema.load_state_dict(state["G_ema"])
            else:  # a checkpoint from a run without the average: start it here
                self.sync_ema()
        for o, s in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(s)
        for sch, s in zip(self.schedulers, state["schedulers"]):
            sch.load_state_dict(s)
        if self.scaler and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])

    # ------------------------------------------------------------------------------------------------ inputs
    def prepare(self, batch: dict, n_scales_active: int) -> dict:
        """Move a dataset batch to the device, encode it, and bring it to the resolution being trained."""
        dev, mcfg = self.device, self.mcfg
        shrink = mcfg.n_scales - n_scales_active  # progressive training: coarser resolution early on
        labels, inst = batch["labels"].to(dev), batch["instances"].to(dev)
        images, flow, conf = batch["images"].to(dev), batch["flow"].to(dev), batch["flow_conf"].to(dev)
        masks = batch["masks"].to(dev)
        person = None  # where foreground_l1 looks: the dataset's masks, else the foreground classes
        if self.cfg.loss.foreground_l1:
            if bool(masks.any()):
                person = [_down(masks[:, t], shrink) for t in range(masks.shape[1])]
            elif mcfg.labels.encoding == "onehot":
                person = [_down(foreground_mask(mcfg.labels, labels[:, t], mcfg.fg_ids), shrink)
                          for t in range(labels.shape[1])]
        T = images.shape[1]
        enc, fg = [], []
        for t in range(T):
            e = conditioning.encode(mcfg, labels[:, t], inst[:, t])
            m = conditioning.fg_mask(mcfg, labels[:, t], masks[:, t])
            enc.append(_down(e, shrink))
            fg.append(None if m is None else _down(m, shrink))
        real = [_down(images[:, t], shrink) for t in range(T)]
        size = real[0].shape[-2:]
        gt_flow = [resize_flow(flow[:, t], tuple(size)) if shrink else flow[:, t] for t in range(T)]
        gt_conf = [(F.interpolate(conf[:, t], size=tuple(size), mode="nearest") if shrink else conf[:, t])
                   for t in range(T)]
        prior = [None] * T  # full size: the generator brings it to each scale's resolution
        if mcfg.use_flow and mcfg.flow_prior == "labels":
            for t in range(mcfg.n_past_frames, T):  # only the frames the sequential generator makes
                prior[t] = label_flow_batch(labels[:, t], labels[:, t - 1])
        feats, regions, style_color = [None] * T, [None] * T, None
        if "encoder" in self.G:
            full = images.flatten(0, 1)
            ids = region_ids(labels.flatten(0, 1), inst.flatten(0, 1), mcfg.labels.num_classes,
                             mcfg.encoder.stuff_pooling)
            pooled = instance_pool(self.G["encoder"](full), ids)
            if self.cfg.loss.style_color:
                style_color = style_color_loss(pooled, instance_pool(full, ids))
            pooled = pooled.view(*images.shape[:2], *pooled.shape[1:])
            feats = [_down(pooled[:, t], shrink) for t in range(T)]
            if self.cfg.loss.style_consistency:  # the regions of the frames the consistency term pools over
                ids = ids.view(*images.shape[:2], *ids.shape[1:])
                regions = [F.interpolate(ids[:, t, None].float(), size=tuple(size), mode="nearest")[:, 0].long()
                           if shrink else ids[:, t] for t in range(T)]
        if self.channels_last:
            def cl(x):
                return None if x is None else x.contiguous(memory_format=torch.channels_last)
            enc, real, fg, feats = ([cl(x) for x in seq] for seq in (enc, real, fg, feats))
        face = None  # head centres (B, T, 2) for the face D, at this resolution
        if "face" in self.D:
            if "face_center" not in batch:
                raise ValueError("face_crop is on but the batch has no face_center: build the VideoDataset with "
                                 "face_centers=True")
            face = batch["face_center"].to(dev).float() / 2 ** shrink
        # the class ids behind the one-hot channels, for the lookup (full resolution only: coarser maps are soft)
        ids = [labels[:, t].long() for t in range(T)] if self.one_hot_lookup and not shrink else None
        return {"enc": enc, "fg": fg, "real": real, "flow": gt_flow, "conf": gt_conf, "feats": feats, "prior": prior,
                "regions": regions, "style_color": style_color, "person": person, "face": face, "ids": ids, "T": T}

    def _encode_frozen(self, images: torch.Tensor) -> torch.Tensor:
        """E(images) with E's weights held fixed: gradients reach the images (the generator), not E."""
        enc = self.G["encoder"]
        params = {k: v.detach() for k, v in enc.named_parameters()}
        return torch.func.functional_call(enc, params, (images,))

    def _style_terms(self, x: dict, fakes: list[torch.Tensor], frames: list[int]) -> dict:
        """Style losses: E's colour anchor, and the consistency of the generated frames (``fakes``, of sequence
        frames ``frames``) with the features they were given."""
        w, terms = self.cfg.loss, {}
        if x["style_color"] is not None:
            terms["E_color"] = x["style_color"] * w.style_color
        if w.style_consistency and "encoder" in self.G:
            encoded = self._encode_frozen(torch.cat(fakes, 0))
            given = torch.cat([x["feats"][t] for t in frames], 0)
            regions = torch.cat([x["regions"][t] for t in frames], 0)
            terms["G_style"] = style_consistency_loss(encoded, given, regions) * w.style_consistency
        return terms

    # ------------------------------------------------------------------------------------------------ step
    def generate(self, x: dict, n_active: int, n_frozen: int) -> dict:
        """Roll the generator over frames L..T-1 and the first-frame generator over frame 0. The history starts
        from the real frames 0..L-1 or, with chance ``schedule.generated_history``, from the first-frame
        generator's (detached) outputs for them, as at inference."""
        mcfg, L = self.mcfg, self.mcfg.n_past_frames
        keep = max(1, self.cfg.schedule.frames_backprop)

        def hinted(inp: torch.Tensor, ids: torch.Tensor | None):
            """Declare the class ids (B, F, H, W) behind ``inp``'s one-hot channels (for the lookup), if known."""
            return one_hot_hint(inp, ids) if ids is not None else contextlib.nullcontext()

        def window_ids(t: int) -> torch.Tensor | None:  # frames t-L..t, as conditioning.window stacks them
            return None if x["ids"] is None else torch.stack([x["ids"][max(i, 0)] for i in range(t - L, t + 1)], 1)

        def first_frame(t: int) -> torch.Tensor:
            inp = conditioning.first_frame_input(mcfg, x["enc"][t], x["feats"][t])
            with hinted(inp, None if x["ids"] is None else x["ids"][t].unsqueeze(1)):
                return self.G["first_frame"](inp)["image"]

        first = first_frame(0) if "first_frame" in self.G else None
        starts = x["real"][:L]
        if first is not None and float(torch.rand(())) < self.cfg.schedule.generated_history:
            with torch.no_grad():
                starts = [first.detach()] + [first_frame(t) for t in range(1, L)]
        history = [[_down(starts[t], n_active - 1 - s) for t in range(L)] for s in range(n_active)]
        inputs = [conditioning.generator_input(mcfg, x["enc"], t, x["feats"][t]) for t in range(L, x["T"])]
        parts = [None] * len(inputs)
        if self.batch_label_branches:  # what reads only the labels runs for all frames as one batch
            batched = torch.cat(inputs, 0)
            ids = None if x["ids"] is None else torch.cat([window_ids(t) for t in range(L, x["T"])], 0)
            with hinted(batched, ids):
                stacked = self.G["generator"].label_branches(batched, n_frozen, n_active)
            parts = split_label_parts(stacked, len(inputs))
        outs = []
        for t, inp, part in zip(range(L, x["T"]), inputs, parts):
            prev = [torch.cat(h[-L:], 1) for h in history]
            out = self.G["generator"](inp, prev, x["fg"][t], frozen_scales=n_frozen, num_scales=n_active,
                                      flow_prior=x["prior"][t], label_parts=part)
            outs.append(out)
            for s, h in enumerate(history):
                h.append(out["scale_images"][s])
                if len(outs) >= keep and len(h) > keep:  # truncated BPTT: older frames carry no gradient
                    h[-keep - 1] = h[-keep - 1].detach()
        return {"outs": outs, "first": first, "history_start": starts[L - 1]}

    def _augmentation(self, like: torch.Tensor) -> Augmentation | None:
        """A DiffAugment draw for a batch shaped like ``like`` ((n, ..., H, W)), or None when it is off."""
        if not self.augment_policy:
            return None
        return Augmentation.draw(self.augment_policy, like.shape[0], tuple(like.shape[-2:]), like.device)

    def _d_image(self, cond: torch.Tensor, image: torch.Tensor, aug: Augmentation | None = None,
                 net: str = "image") -> dict:
        """A conditional D (the image D, or the face D on head crops) on ``image`` beside its conditioning maps."""
        if aug is not None:
            image, cond = aug(image, cond)
        return self.D[net](torch.cat([cond, image], 1))

    def _d_temporal(self, s: int, frames: torch.Tensor, flows: torch.Tensor, aug: Augmentation | None = None
                    ) -> dict:
        if aug is not None:
            frames, flows = aug(frames, flows)
        return self.D["temporal"](s, frames, flows)

    def _temporal_windows(self, x: dict, fakes: list[torch.Tensor], L: int) -> list[dict]:
        """For each temporal scale whose window fits the generated frames: fake and real K-frame windows (frames
        spaced K^s apart, ending at the last frame) and the K-1 real flows between them, divided by 20."""
        K = self.mcfg.discriminator.n_frames_D
        n = len(fakes)
        windows = []
        for s in range(len(self.D["temporal"].nets)):
            stride = K ** s
            if self.D["temporal"].span(s) > n:
                continue
            idx = [n - 1 - stride * (K - 1 - j) for j in range(K)]  # indices into the generated frames
            frames_t = [L + i for i in idx]  # indices into the sequence
            flows = [compose_flow([x["flow"][t - k] for k in range(stride)]) / 20.0 for t in frames_t[1:]]
            windows.append({
                "scale": s,
                "fake": torch.stack([fakes[i] for i in idx], 1),
                "real": torch.stack([x["real"][t] for t in frames_t], 1),
                "flows": torch.stack(flows, 1).detach(),
            })
        return windows

    def _backward(self, loss: torch.Tensor, params) -> None:
        if self.scaler:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        average_gradients(params, self.dist.world_size)

    def _opt_step(self, opt: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(opt)
        else:
            opt.step()

    # ------------------------------------------------------------------------------------------------ losses
    def _image_terms(self, step: dict) -> dict:
        """The sequential generator's frames (and its hallucinated image h) against the image D, the perceptual
        network and the real frames."""
        cfg = self.cfg
        cond, real, fake = step["cond"], step["real"], step["fake"]
        aug = self._augmentation(real)  # one draw for both sides: feature matching compares like with like
        with torch.no_grad():
            d_real = self._d_image(cond, real, aug)
        values = {}
        d_fake = self._d_image(cond, fake, aug)
        values["G_GAN"] = gan_loss(d_fake["predictions"], True, cfg.gan_mode, False)
        values["G_FM"] = feature_matching_loss(d_fake["features"], d_real["features"])
        if step["raw"] is not None:
            d_raw = self._d_image(cond, step["raw"], aug)
            values["G_GAN_raw"] = gan_loss(d_raw["predictions"], True, cfg.gan_mode, False)
            values["G_FM_raw"] = feature_matching_loss(d_raw["features"], d_real["features"])
        if self.perceptual is not None:
            values["G_Perceptual"] = self.perceptual(fake, real)
        if cfg.loss.image_l1:
            values["G_L1"] = F.l1_loss(fake.float(), real.float())
        if step["person"] is not None:
            values["G_FG_L1"] = foreground_l1_loss(fake, real, step["person"])
        return values

    def _face_crops(self, x: dict, gen: dict, step: dict) -> dict | None:
        """Head crops (``cfg.face_crop`` square) of every generated frame of the step and of the first frame, with
        the same squares of their conditioning maps and real frames; None without a face D or without a visible
        head in any of them."""
        if x["face"] is None:
            return None
        L, side = self.mcfg.n_past_frames, self.cfg.face_crop
        centers = torch.cat([x["face"][:, t] for t in range(L, x["T"])], 0)  # time-major, as step["fake"]
        cond, fake, real = step["cond"], step["fake"], step["real"]
        if gen["first"] is not None:
            centers = torch.cat([centers, x["face"][:, 0]], 0)
            cond, fake = torch.cat([cond, x["enc"][0]], 0), torch.cat([fake, gen["first"]], 0)
            real = torch.cat([real, x["real"][0]], 0)
        fixed, keep = crop_squares(torch.cat([cond, real], 1).detach(), centers, side)
        if not len(keep):
            return None
        nc = cond.shape[1]
        return {"cond": fixed[:, :nc], "real": fixed[:, nc:], "fake": crop_squares(fake, centers, side)[0]}

    def _face_terms(self, face: dict) -> dict:
        """The head crops of the generated frames against the face D (GAN and feature matching)."""
        aug = self._augmentation(face["real"])
        with torch.no_grad():
            d_real = self._d_image(face["cond"], face["real"], aug, "face")
        d_fake = self._d_image(face["cond"], face["fake"], aug, "face")
        return {"G_GAN_face": gan_loss(d_fake["predictions"], True, self.cfg.gan_mode, False),
                "G_FM_face": feature_matching_loss(d_fake["features"], d_real["features"])}

    def _first_frame_terms(self, x: dict, first: torch.Tensor) -> dict:
        """The first-frame generator's frame 0 against the image D, the perceptual network and the real frame."""
        cfg = self.cfg
        aug = self._augmentation(first)
        with torch.no_grad():
            d_real0 = self._d_image(x["enc"][0], x["real"][0], aug)
        d_first = self._d_image(x["enc"][0], first, aug)
        values = {"F_GAN": gan_loss(d_first["predictions"], True, cfg.gan_mode, False),
                  "F_FM": feature_matching_loss(d_first["features"], d_real0["features"])}
        if self.perceptual is not None:
            values["F_Perceptual"] = self.perceptual(first, x["real"][0])
        if cfg.loss.first_frame_l1:
            values["F_L1"] = F.l1_loss(first.float(), x["real"][0].float())
        if x["person"] is not None:
            values["F_FG_L1"] = foreground_l1_loss(first, x["real"][0], x["person"][0])
        return values

    def _motion_terms(self, x: dict, gen: dict, step: dict) -> dict:
        """Flow and occlusion mask against the ground-truth flow, and the output's temporal consistency."""
        L, outs = self.mcfg.n_past_frames, gen["outs"]
        gt_flow = torch.cat(x["flow"][L:], 0)
        conf = torch.cat(x["conf"][L:], 0)
        prev_real = torch.cat(x["real"][L - 1:-1], 0)
        prev_fake = torch.cat([gen["history_start"]] + [o["image"] for o in outs[:-1]], 0)
        values = {}
        if self.mcfg.use_flow:
            flow = torch.cat([o["flow"] for o in outs], 0)
            mask = torch.cat([o["mask"] for o in outs], 0)
            values["F_Flow"] = flow_loss(flow, gt_flow, conf)
            values["F_Warp"] = flow_warp_loss(flow, prev_real, step["real"], conf)
            values["W_mask"] = mask_regularizer(mask, conf)
        values["G_Warp"] = temporal_warp_loss(step["fake"], prev_fake, gt_flow, conf)
        return values

    def _temporal_terms(self, windows: list[dict]) -> dict:
        """Every temporal scale whose window fits: the generated K-frame windows against its temporal D."""
        values = {}
        for win in windows:
            s, aug = win["scale"], self._augmentation(win["real"])
            with torch.no_grad():
                dt_real = self._d_temporal(s, win["real"], win["flows"], aug)
            dt_fake = self._d_temporal(s, win["fake"], win["flows"], aug)
            values[f"T{s}_GAN"] = gan_loss(dt_fake["predictions"], True, self.cfg.gan_mode, False)
            values[f"T{s}_FM"] = feature_matching_loss(dt_fake["features"], dt_real["features"])
        return values

    def loss_weights(self) -> dict[str, float]:
        """The generator update's loss terms, declared once: logged name -> the weight its value is scaled by
        (temporal terms under ``T_GAN``/``T_FM`` for every scale ``T{s}_...``; the style terms, E_color and
        G_style, are weighted in :meth:`_style_terms`)."""
        w, mcfg = self.cfg.loss, self.mcfg
        return {
            "G_GAN": w.gan, "G_FM": w.feature_matching,  # the output frames vs the image D
            "G_GAN_raw": w.gan, "G_FM_raw": w.feature_matching,  # the hallucinated image h vs the image D
            "G_Perceptual": w.perceptual.weight, "G_L1": w.image_l1, "G_FG_L1": w.foreground_l1,
            "F_GAN": w.gan, "F_FM": w.feature_matching, "F_Perceptual": w.perceptual.weight,  # the first frame
            "F_L1": w.first_frame_l1, "F_FG_L1": w.foreground_l1,
            "F_Flow": w.flow / 2 ** (mcfg.n_scales - 1), "F_Warp": w.flow_warp, "W_mask": w.mask,
            "G_Warp": w.temporal_warp,
            "T_GAN": w.temporal_gan, "T_FM": w.feature_matching * w.temporal_gan,
            "G_GAN_face": w.face_gan, "G_FM_face": w.feature_matching,  # head crops vs the face D (face_crop)
        }

    def _weighted(self, values: dict) -> dict:
        weights = self.loss_weights()
        return {name: value * weights[re.sub(r"^T\d+_", "T_", name)] for name, value in values.items()}

    # ------------------------------------------------------------------------------------------------ updates
    def update_generator(self, x: dict, gen: dict, windows: list[dict], step: dict, face: dict | None = None
                         ) -> dict:
        """One Adam step of the generators (and E) on every declared term; returns the weighted terms."""
        L = self.mcfg.n_past_frames
        with self.autocast():
            values = self._image_terms(step)
            first = gen["first"]
            if first is not None:
                values.update(self._first_frame_terms(x, first))
            if face is not None:
                values.update(self._face_terms(face))
            terms = self._weighted(values)
            terms.update(self._style_terms(x, ([first] if first is not None else []) + [step["fake"]],
                                           ([0] if first is not None else []) + list(range(L, x["T"]))))
            terms.update(self._weighted(self._motion_terms(x, gen, step)))
            terms.update(self._weighted(self._temporal_terms(windows)))
            g_loss = sum(terms.values())
        self.opt_G.zero_grad(set_to_none=True)
        self._backward(g_loss, self.G.parameters())
        self._opt_step(self.opt_G)
        if self.G_ema is not None:
            self.update_ema()
        logs = {k: float(v.detach()) for k, v in terms.items()}
        logs["G_total"] = float(g_loss.detach())
        return logs

    def update_image_D(self, x: dict, gen: dict, step: dict) -> float:
        """One step of the image D: real frames against every fake of the step (outputs, h, first frame)."""
        first, cond = gen["first"], step["cond"]
        fakes, conds = [step["fake"].detach()], [cond]
        if step["raw"] is not None:
            fakes.append(step["raw"].detach())
            conds.append(cond)
        if first is not None:
            fakes.append(first.detach())
            conds.append(x["enc"][0])
        with self.autocast():
            fakes = torch.cat(fakes, 0)
            d_fake = self._d_image(torch.cat(conds, 0), fakes, self._augmentation(fakes))
            reals = torch.cat([step["real"]] + ([x["real"][0]] if first is not None else []), 0)
            d_real = self._d_image(torch.cat([cond] + ([x["enc"][0]] if first is not None else []), 0), reals,
                                   self._augmentation(reals))
        return self._discriminator_step(self.opt_D, self.D["image"], d_fake, d_real)

    def _discriminator_step(self, opt: torch.optim.Optimizer, net: torch.nn.Module, d_fake: dict, d_real: dict
                            ) -> float:
        """A discriminator's loss, 0.5 · (GAN(fake → 0) + GAN(real → 1)), and its Adam step; -> the loss."""
        d_loss = 0.5 * (gan_loss(d_fake["predictions"], False, self.cfg.gan_mode)
                        + gan_loss(d_real["predictions"], True, self.cfg.gan_mode))
        opt.zero_grad(set_to_none=True)
        self._backward(d_loss, net.parameters())
        self._opt_step(opt)
        return float(d_loss.detach())

    def update_face_D(self, face: dict) -> float:
        """One step of the face D: the real head crops against the generated ones."""
        with self.autocast():
            fake = face["fake"].detach()
            d_fake = self._d_image(face["cond"], fake, self._augmentation(fake), "face")
            d_real = self._d_image(face["cond"], face["real"], self._augmentation(face["real"]), "face")
        return self._discriminator_step(self.opt_DF, self.D["face"], d_fake, d_real)

    def update_temporal_D(self, win: dict) -> float:
        """One step of the temporal D of ``win``'s scale: real windows against the generated ones."""
        s = win["scale"]
        with self.autocast():
            dt_fake = self._d_temporal(s, win["fake"].detach(), win["flows"], self._augmentation(win["fake"]))
            dt_real = self._d_temporal(s, win["real"], win["flows"], self._augmentation(win["real"]))
        return self._discriminator_step(self.opt_DT[s], self.D["temporal"].nets[s], dt_fake, dt_real)

    def train_step(self, batch: dict) -> dict:
        cfg, mcfg = self.cfg, self.mcfg
        L = mcfg.n_past_frames
        n_active = schedule.active_scales(cfg.schedule, self.step, mcfg.n_scales)
        n_frozen = schedule.frozen_scales(cfg.schedule, self.step, mcfg.n_scales)
        self.G.train()
        self.D.train()

        self.D.requires_grad_(False)
        with self.autocast():
            x = self.prepare(batch, n_active)
            if x["T"] <= L:
                raise ValueError(f"training sequences need more than L={L} frames, got {x['T']}")
            gen = self.generate(x, n_active, n_frozen)
            outs = gen["outs"]
            step = {"cond": torch.cat(x["enc"][L:], 0), "real": torch.cat(x["real"][L:], 0),
                    "fake": torch.cat([o["image"] for o in outs], 0),
                    "raw": torch.cat([o["raw_image"] for o in outs], 0)
                    if cfg.raw_image_losses and mcfg.use_flow else None,
                    "person": torch.cat(x["person"][L:], 0) if x["person"] is not None else None}
            windows = self._temporal_windows(x, [o["image"] for o in outs], L)
            face = self._face_crops(x, gen, step)
        logs = self.update_generator(x, gen, windows, step, face)
        self.D.requires_grad_(True)
        logs["D_image"] = self.update_image_D(x, gen, step)
        if face is not None:
            logs["D_face"] = self.update_face_D(face)
        for win in windows:
            logs[f"D_T{win['scale']}"] = self.update_temporal_D(win)

        if self.scaler:
            self.scaler.update()
        with warnings.catch_warnings():  # a temporal D whose window did not fit this step still follows the schedule
            warnings.simplefilter("ignore", UserWarning)
            for sch in self.schedulers:
                sch.step()
        self.step += 1
        logs.update(lr=self.opt_G.param_groups[0]["lr"], frames=x["T"], scales=n_active, frozen=n_frozen)
        self._last = {"x": x, "outs": outs, "first": gen["first"]}
        return logs
