"""Multimodal synthesis: style mixtures in the exported model, object tracks, per-track sampling and re-rolls."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import make_street_dataset  # noqa: E402

from v2v.checkpoint import export_model, load_model  # noqa: E402
from v2v.cli import main  # noqa: E402
from v2v.errors import UserError  # noqa: E402
from v2v.nn.build import build_generators  # noqa: E402
from v2v.pipeline import Synthesizer  # noqa: E402
from v2v.presets import model_preset  # noqa: E402
from v2v.style import (STUFF_TRACK_BASE, Mixture, StyleBank, StyleRequest, StyleSampler, Tracker,  # noqa: E402
                       fit_mixture, fit_style_bank, track_objects)

SKY, BUILDING, ROAD, CAR = 23, 11, 7, 26
TINY = {"ngf": 8, "n_blocks": 1, "first_frame.ngf": 8, "first_frame.n_blocks": 1, "encoder.nef": 4}


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    cfg = model_preset("street_256", TINY)
    return cfg, build_generators(cfg).eval()


def label_video(n: int = 6, size=(128, 64), shuffle_seed: int | None = None):
    """(labels, instances, masks) lists: sky, building, road, car A moving right, car B moving left. With
    ``shuffle_seed`` the instance ids are redrawn at random in every frame (the tracker must not rely on them)."""
    w, h = size
    rng = np.random.default_rng(shuffle_seed)
    labels, insts, masks = [], [], []
    for t in range(n):
        lab = np.full((h, w), SKY, np.int64)
        lab[h // 4: h // 2] = BUILDING
        lab[h // 2:] = ROAD
        inst = np.zeros((h, w), np.int64)
        ids = rng.choice(np.arange(1, 5000), 2, replace=False) if shuffle_seed is not None else (1, 2)
        a = np.zeros((h, w), bool)
        a[h // 2 - 4: h // 2 + 12, 8 + 3 * t: 36 + 3 * t] = True
        b = np.zeros((h, w), bool)
        b[h // 2 + 6: h // 2 + 22, 90 - 4 * t: 116 - 4 * t] = True
        for m, i in ((a, ids[0]), (b, ids[1])):
            lab[m] = CAR
            inst[m] = i
        labels.append(lab)
        insts.append(inst)
        masks.append({"a": a, "b": b})
    return labels, insts, masks


def contrast_bank(feat_nc: int = 3) -> StyleBank:
    """Very different means per class; cars are a two-component mixture far apart (so a re-roll can flip)."""
    rng = np.random.default_rng(7)
    mixtures = {c: Mixture(np.ones(1), rng.uniform(-0.9, 0.9, (1, feat_nc)), np.eye(feat_nc)[None] * 1e-3, 10)
                for c in (SKY, BUILDING, ROAD)}
    mixtures[CAR] = Mixture(np.array([0.5, 0.5]), np.stack([np.full(feat_nc, 0.9), np.full(feat_nc, -0.9)]),
                            np.stack([np.eye(feat_nc) * 1e-3] * 2), 10)
    return StyleBank(mixtures)


def as_tensors(lab, inst):
    return torch.from_numpy(lab)[None], torch.from_numpy(inst)[None]


# ------------------------------------------------------------------------------------------------ mixtures


def test_fit_mixture_component_counts():
    rng = np.random.default_rng(0)
    one = fit_mixture(rng.normal(size=(1, 3)))
    assert one.components == 1 and np.allclose(one.covariances[0], np.eye(3) * 1e-4)
    assert fit_mixture(rng.normal(size=(9, 3))).components == 1  # fewer than 10 samples: one component
    blobs = np.concatenate([rng.normal(m, 0.05, (200, 3)) for m in (-0.6, 0.0, 0.6)])
    gm = fit_mixture(blobs, max_components=5)
    assert 3 <= gm.components <= 5  # BIC finds the three blobs
    assert fit_mixture(blobs, max_components=2).components <= 2
    assert fit_mixture(np.zeros((30, 3))).components == 1  # identical samples: one component


def test_style_bank_survives_export_and_load(tmp_path):
    rng = np.random.default_rng(1)
    samples = {c: rng.normal(c / 40, 0.1, (n, 3)) for c, n in ((ROAD, 60), (CAR, 25), (SKY, 1))}
    bank = StyleBank.fit(samples, components=4)
    cfg, nets = tiny_model()
    export_model(tmp_path / "m", cfg, nets, extra_tensors={**bank.to_tensors(), "other.t": torch.ones(2)})
    extra = load_model(tmp_path / "m")["extra"]
    assert "other.t" in extra
    for k, v in bank.to_tensors().items():
        assert extra[k].dtype == v.dtype and torch.equal(extra[k], v), k
    again = StyleBank.from_tensors(extra)
    assert again.classes == [ROAD, SKY, CAR] and again.summary() == bank.summary()
    for c in again.classes:
        a = [bank.sample(c, np.random.default_rng(5)) for _ in range(3)]
        b = [again.sample(c, np.random.default_rng(5)) for _ in range(3)]
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert StyleBank.from_tensors({"other.t": torch.ones(2)}) is None
    assert np.array_equal(again.sample(5, np.random.default_rng(0)), np.zeros(3, np.float32))  # no mixture: zeros


def test_fit_style_bank_writes_into_the_model(tmp_path):
    ds = make_street_dataset(tmp_path / "ds", frames=4, sequences=("a", "b", "c"))
    cfg, nets = tiny_model()
    export_model(tmp_path / "m", cfg, nets, meta={"size": [64, 32]}, extra_tensors={"keep.me": torch.arange(4)})
    (tmp_path / "m" / "preview.png").write_bytes(b"not really a png")  # other files in the folder are kept
    before = {k: v.clone() for k, v in nets.state_dict().items()}
    bank = fit_style_bank(tmp_path / "m", ds, components=3)
    assert set(bank.classes) == {SKY, BUILDING, ROAD, CAR}
    assert bank.summary()["car"]["samples"] == 12  # one car per frame, 12 frames
    model = load_model(tmp_path / "m")
    assert torch.equal(model["extra"]["keep.me"], torch.arange(4))
    assert (tmp_path / "m" / "preview.png").read_bytes() == b"not really a png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "m"]  # no temp folders left
    assert model["meta"]["size"] == [64, 32] and model["meta"]["style"]["classes"]["car"]["samples"] == 12
    for k, v in model["networks"].state_dict().items():  # weights unchanged (fp16 round trip)
        assert torch.equal(v, before[k].half().float()), k
    again = StyleBank.from_tensors(model["extra"])
    assert again.summary() == bank.summary()
    # held-out sequences stay out of the mixtures
    bank = fit_style_bank(tmp_path / "m", ds, components=3, exclude=["b"])
    assert bank.summary()["car"]["samples"] == 8
    assert load_model(tmp_path / "m")["meta"]["style"]["sequences"] == ["a", "c"]
    assert fit_style_bank(tmp_path / "m", ds, sequences=["c"]).summary()["car"]["samples"] == 4
    with pytest.raises(UserError, match="'d' is not in"):
        fit_style_bank(tmp_path / "m", ds, exclude=["d"])
    with pytest.raises(UserError, match="no sequences"):
        fit_style_bank(tmp_path / "m", ds, sequences=["a"], exclude=["a"])
    # a model without the encoder has nothing to fit
    cfg2 = model_preset("street_256", {**TINY, "encoder.enabled": False})
    export_model(tmp_path / "plain", cfg2, build_generators(cfg2))
    assert main(["style", "fit", "--checkpoint", str(tmp_path / "plain"), "--dataset", str(ds)]) == 2


# ------------------------------------------------------------------------------------------------ tracking


@pytest.mark.parametrize("use_flow", [True, False])
def test_tracker_keeps_ids_when_instance_ids_are_shuffled(use_flow):
    labels, insts, masks = label_video(8, shuffle_seed=3)
    maps: list = []
    objects = track_objects(labels, insts, use_flow=use_flow, maps=maps)
    ids_a = {int(np.unique(m[k["a"]])[0]) for m, k in zip(maps, masks) if len(np.unique(m[k["a"]])) == 1}
    ids_b = {int(np.unique(m[k["b"]])[0]) for m, k in zip(maps, masks) if len(np.unique(m[k["b"]])) == 1}
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    for m, k in zip(maps, masks):
        assert len(np.unique(m[k["a"]])) == 1 and len(np.unique(m[k["b"]])) == 1
    cars = [o for o in objects if o["class"] == "car"]
    assert len(cars) == 2 and all(o["first_frame"] == 0 and o["last_frame"] == 7 for o in cars)
    stuff = {o["id"]: o for o in objects if o["id"] >= STUFF_TRACK_BASE}
    assert set(stuff) == {STUFF_TRACK_BASE + c for c in (SKY, BUILDING, ROAD)}
    assert stuff[STUFF_TRACK_BASE + ROAD]["class"] == "road"
    assert maps[3][0, 0] == STUFF_TRACK_BASE + SKY


def test_tracker_new_object_gets_a_new_id_and_a_gap_is_bridged():
    labels, insts, masks = label_video(6)
    tracker = Tracker()
    ids = []
    for t, (lab, inst) in enumerate(zip(labels, insts)):
        if t == 2:  # car A hidden for one frame
            inst = np.where(masks[t]["a"], 0, inst)
            lab = np.where(masks[t]["a"], ROAD, lab)
        tmap = tracker.update(lab, inst, t)
        ids.append(int(tmap[masks[t]["a"]][0]) if t != 2 else None)
    assert len({i for i in ids if i is not None}) == 1  # picked up again after the gap
    assert sum(o["class"] == "car" for o in tracker.objects()) == 2


# ------------------------------------------------------------------------------------------------ sampling


def sampler_maps(bank, request, n=5, cfg=None, encoder=None):
    cfg = cfg or model_preset("street_256", TINY)
    labels, insts, _ = label_video(n, shuffle_seed=11)
    sampler = StyleSampler(bank, request, cfg, encoder)
    return [sampler.features(*as_tensors(lab, inst), t) for t, (lab, inst) in enumerate(zip(labels, insts))], sampler


def test_same_seed_same_features_and_reroll_changes_only_that_track():
    bank = contrast_bank()
    labels, _, masks = label_video(5)
    first, sampler = sampler_maps(bank, StyleRequest(seed=4))
    second, _ = sampler_maps(bank, StyleRequest(seed=4))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert first[0].shape == (1, 3, 64, 128) and first[0].dtype == torch.float32
    # one vector per track for the whole video
    for f, m in zip(first, masks):
        assert torch.unique(f[0][:, torch.from_numpy(m["a"])], dim=1).shape[1] == 1
    assert torch.equal(first[0][0, :, 0, 0], first[-1][0, :, 0, 0])
    tmap = Tracker().update(*label_video(1, shuffle_seed=11)[:2])  # the first frame gets the same ids
    car_a = int(tmap[masks[0]["a"]][0])
    assert car_a in {o["id"] for o in sampler.tracker.objects() if o["class"] == "car"}
    rerolled = None
    for s in range(1, 40):
        maps, _ = sampler_maps(bank, StyleRequest(seed=4, rerolls={car_a: s}))
        if (maps[0] - first[0]).abs().max() > 1:
            rerolled = maps
            break
    assert rerolled is not None, "no re-roll seed flipped the car's mixture component"
    for a, b, m in zip(first, rerolled, masks):
        changed = (a - b).abs().amax(1)[0] > 0
        assert torch.equal(changed, torch.from_numpy(m["a"]))  # exactly car A's pixels change
    other, _ = sampler_maps(bank, StyleRequest(seed=5))
    assert any(not torch.equal(a, b) for a, b in zip(first, other))


def test_colour_request_paints_one_track_on_colour_anchored_models_only():
    bank = contrast_bank()
    labels, insts, masks = label_video(3)
    cfg, _ = tiny_model()
    car_a = int(Tracker().update(labels[0], insts[0])[masks[0]["a"]][0])

    def maps(request, color_features=True):
        sampler = StyleSampler(bank, request, cfg, color_features=color_features)
        return [sampler.features(*as_tensors(lab, inst), t) for t, (lab, inst) in enumerate(zip(labels, insts))]

    base = maps(StyleRequest(seed=2))
    red = maps(StyleRequest(seed=2, colors={car_a: "#ff0000"}))
    for a, b, m in zip(base, red, masks):
        car = torch.from_numpy(m["a"])
        assert torch.allclose(b[0][:, car], torch.tensor([1.0, -1.0, -1.0]).view(3, 1).expand(3, int(car.sum())))
        assert torch.equal(a[0][:, ~car], b[0][:, ~car])  # every other object keeps its draw
    assert torch.equal(maps(StyleRequest(seed=2, colors={car_a: (255, 0, 0)}))[0], red[0])
    with pytest.raises(UserError, match="not colours"):
        maps(StyleRequest(colors={car_a: "#ff0000"}), color_features=False)
    for bad in ("red", "#ff00", (0, 0, 300), "#gg0000"):
        with pytest.raises(UserError, match="colour"):
            maps(StyleRequest(colors={car_a: bad}))


def test_spread_scales_draws_around_the_class_mean():
    rng_bank = StyleBank({ROAD: Mixture(np.array([0.5, 0.5]), np.array([[0.1, 0.0, -0.1], [0.3, 0.2, 0.1]]),
                                        np.stack([np.eye(3) * 1e-3] * 2), 10)})
    center = np.array([0.2, 0.1, 0.0], np.float32)
    plain = rng_bank.sample(ROAD, np.random.default_rng(3))
    wide = rng_bank.sample(ROAD, np.random.default_rng(3), spread=2.0)
    np.testing.assert_allclose(wide - center, 2 * (plain - center), atol=1e-6)
    np.testing.assert_allclose(rng_bank.sample(ROAD, np.random.default_rng(3), spread=0.0), center, atol=1e-6)
    cfg = model_preset("street_256", TINY)
    for bad in (-1.0, float("nan"), 11.0):
        with pytest.raises(UserError, match="spread"):
            StyleSampler(rng_bank, StyleRequest(spread=bad), cfg)


def test_classes_without_mixture_get_zeros_and_no_bank_is_all_zeros():
    bank = StyleBank({ROAD: contrast_bank().mixtures[ROAD]})
    maps, _ = sampler_maps(bank, StyleRequest(), n=2)
    assert maps[0][0, :, 0, 0].abs().sum() == 0 and maps[0][0, :, -1, 0].abs().sum() > 0  # sky zero, road not
    maps, _ = sampler_maps(None, StyleRequest(), n=2)
    assert all(m.abs().sum() == 0 for m in maps)


def test_style_from_image_uses_its_class_means():
    cfg, nets = tiny_model()
    labels, insts, _ = label_video(2)
    image = np.zeros((64, 128, 3), np.uint8)
    image[labels[0] == ROAD] = (200, 30, 30)
    image[labels[0] == SKY] = (30, 30, 220)
    image[labels[0] == BUILDING] = (90, 90, 90)
    image[labels[0] == CAR] = (10, 200, 10)
    bank = StyleBank({23: contrast_bank().mixtures[SKY], 33: contrast_bank().mixtures[CAR]})  # 33 bicycle
    sampler = StyleSampler(bank, StyleRequest(from_image=image), cfg, nets["encoder"])
    f = sampler.features(*as_tensors(labels[0], insts[0]), 0)
    with torch.inference_mode():
        enc = nets["encoder"](torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1)[0]
    road = torch.from_numpy(labels[0] == ROAD)
    assert torch.allclose(f[0][:, road][:, 0], enc[:, road].mean(1), atol=1e-5)
    bike = labels[1].copy()
    bike[:4, :4] = 33  # a class the image lacks: drawn from the bank
    f2 = sampler.features(*as_tensors(bike, insts[1]), 1)
    assert f2[0, :, 0, 0].abs().sum() > 0 and not torch.equal(f2[0, :, 0, 0], f2[0, :, 10, 10])
    with pytest.raises(ValueError, match="feature encoder"):
        StyleSampler(bank, StyleRequest(from_image=image), cfg, None)


def test_rerolling_one_car_changes_pixels_inside_its_mask_more_than_outside():
    """A random (untrained) street_256 network at the demo size 256x128. Its instance norms couple every pixel, so
    a re-roll moves the whole frame a little (about 0.05-0.08 mean |change| far from the car); the car itself must
    still change clearly more."""
    cfg, nets = tiny_model(seed=3)
    bank = contrast_bank()
    labels, insts, masks = label_video(4, size=(256, 128), shuffle_seed=2)
    tmap = Tracker().update(labels[0], insts[0])
    car_a = int(tmap[masks[0]["a"]][0])

    def render(request):
        synth, sampler = Synthesizer(cfg, nets), StyleSampler(bank, request, cfg)
        out = []
        for t, (lab, inst) in enumerate(zip(labels, insts)):
            lt, it = as_tensors(lab, inst)
            out.append(synth.step(lt, it, features=sampler.features(lt, it, t))["image"][0])
        return out, sampler

    base, sampler = render(StyleRequest(seed=0))
    base_vec = sampler.vector(car_a, CAR)
    seed = next(s for s in range(1, 50)
                if np.abs(StyleSampler(bank, StyleRequest(rerolls={car_a: s}), cfg).vector(car_a, CAR)
                          - base_vec).max() > 1)
    rerolled, _ = render(StyleRequest(seed=0, rerolls={car_a: seed}))
    inside, outside = [], []
    for a, b, m in zip(base, rerolled, masks):
        diff = (a - b).abs().mean(0)
        mask = torch.from_numpy(m["a"])
        inside.append(diff[mask].mean())
        outside.append(diff[~mask].mean())
    ratio = float(torch.stack(inside).mean() / torch.stack(outside).mean().clamp_min(1e-8))
    print(f"re-roll: mean |change| inside the car {float(torch.stack(inside).mean()):.4f}, outside "
          f"{float(torch.stack(outside).mean()):.4f}, ratio {ratio:.1f}")
    assert ratio > 3


def test_edit_weight_covers_the_tracks_grown_then_feathers_to_zero():
    from v2v.local_edit import edit_weight

    tmap = np.zeros((64, 128), np.int64)
    tmap[20:30, 40:60] = 5
    w = edit_weight(tmap, {5}, grow=3)[0, 0].numpy()
    assert w.shape == (64, 128) and w.dtype == np.float32
    assert (w[17:33, 40:60] == 1).all() and (w[20:30, 37:63] == 1).all()  # the track and 3 px around it
    assert (w[:13] == 0).all() and (w[:, :33] == 0).all() and (w[:, 67:] == 0).all()  # 0 beyond 2 x 3 px
    assert 0 < w[15, 50] < 1  # the feather
    assert not edit_weight(tmap, {6})[0, 0].numpy().any() and not edit_weight(tmap, set()).numpy().any()


@pytest.mark.parametrize("edit", ["reroll", "color"])
def test_engine_local_edit_leaves_every_other_pixel_as_it_was(edit):
    """Engine.frames with a re-roll (or a colour) of one car: every pixel farther than the feather from the car is
    bit for bit the plain video's, in every frame (the random network alone moves them: see the test above), and the
    car changes."""
    from v2v.engine import Engine
    from v2v.inputs.clip import InputClip
    from v2v.local_edit import grow_pixels

    cfg, nets = tiny_model(seed=3)
    engine = Engine(cfg, nets, meta={"style_features": "rgb"}, extra=contrast_bank().to_tensors(),
                    precision="fp32", fast=False)
    labels, insts, masks = label_video(5, size=(256, 128), shuffle_seed=2)
    clip = InputClip("street", (256, 128), 17.0, len(labels), "test",
                     lambda: ({"labels": lt, "instances": it, "mask": None}
                              for lt, it in (as_tensors(a, b) for a, b in zip(labels, insts))))
    car_a = int(Tracker().update(labels[0], insts[0])[masks[0]["a"]][0])
    change = {"rerolls": {car_a: 1}} if edit == "reroll" else {"colors": {car_a: "#ff0000"}}
    plain = np.stack([f["image"] for f in engine.frames(clip, style=StyleRequest(seed=0), extras=False)])
    edited = np.stack([f["image"] for f in engine.frames(clip, style=StyleRequest(seed=0, **change), extras=False)])
    reach = 2 * grow_pixels(128, 256) + 1
    far = ~np.stack([cv2.dilate(m["a"].astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
                     for m in masks])
    np.testing.assert_array_equal(edited[far], plain[far])
    inside = np.stack([m["a"] for m in masks])
    assert np.abs(edited.astype(float) - plain)[inside].mean() > 1.0
    again = np.stack([f["image"] for f in engine.frames(clip, style=StyleRequest(seed=0), extras=False)])
    np.testing.assert_array_equal(again, plain)  # the plain recurrence of an edited job left nothing behind


# ------------------------------------------------------------------------------------------------ command line


def test_tracks_command_lists_objects(tmp_path, capsys):
    labels, insts, _ = label_video(5, shuffle_seed=1)
    (tmp_path / "clip" / "labels").mkdir(parents=True)
    (tmp_path / "clip" / "instances").mkdir()
    for t, (lab, inst) in enumerate(zip(labels, insts)):
        cv2.imwrite(str(tmp_path / "clip" / "labels" / f"{t:06d}.png"), lab.astype(np.uint8))
        cv2.imwrite(str(tmp_path / "clip" / "instances" / f"{t:06d}.png"), inst.astype(np.uint16))
    assert main(["style", "tracks", "--input", str(tmp_path / "clip"), "--size", "128x64", "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    cars = [o for o in objects if o["class"] == "car"]
    assert len(cars) == 2 and {o["first_frame"] for o in cars} == {0} and {o["last_frame"] for o in cars} == {4}
    assert set(objects[0]) == {"id", "class", "first_frame", "last_frame", "pixels"}
    assert {"road", "sky", "building"} <= {o["class"] for o in objects}
    # a plain labels folder with its instances works too, and a missing input is a one-line error
    assert main(["style", "tracks", "--input", str(tmp_path / "clip" / "labels"), "--size", "128x64",
                 "--instances", str(tmp_path / "clip" / "instances")]) == 0
    assert capsys.readouterr().out.count(" car ") == 2
    assert main(["style", "tracks", "--input", str(tmp_path / "nope"), "--size", "128x64"]) == 2
    assert "error:" in capsys.readouterr().err
    # ids depend on the size synthesis runs at, so the command asks for the model (or the size)
    assert main(["style", "tracks", "--input", str(tmp_path / "clip")]) == 2
    assert "give --checkpoint MODEL" in capsys.readouterr().err


def _full_size_clip(folder: Path, frames: int = 3) -> Path:
    """A 2048x1024 label video whose first object is a 2x2 px car (gone at 256x128), then a big car driving."""
    (folder / "labels").mkdir(parents=True)
    (folder / "instances").mkdir()
    for t in range(frames):
        lab = np.full((1024, 2048), SKY, np.uint8)
        lab[300:560] = BUILDING
        lab[560:] = ROAD
        inst = np.zeros((1024, 2048), np.uint16)
        lab[601:603, 1201:1203], inst[601:603, 1201:1203] = CAR, 1  # far away: 2x2 px, between 8-px samples
        lab[640:900, 300 + 40 * t:900 + 40 * t], inst[640:900, 300 + 40 * t:900 + 40 * t] = CAR, 2
        cv2.imwrite(str(folder / "labels" / f"{t:06d}.png"), lab)
        cv2.imwrite(str(folder / "instances" / f"{t:06d}.png"), inst)
    return folder


@pytest.fixture(scope="module")
def styled_model(tmp_path_factory) -> Path:
    """A tiny street model trained (randomly) at 256x128, with style mixtures."""
    cfg, nets = tiny_model()
    folder = tmp_path_factory.mktemp("styled") / "m"
    export_model(folder, cfg, nets, meta={"size": [256, 128]},
                 extra_tensors=contrast_bank(cfg.encoder.feat_nc).to_tensors())
    return folder


def _synthesis_tracks(monkeypatch, model: Path, clip, out: Path, *extra) -> list[dict]:
    """The tracks the style sampler of ``v2v synthesize`` followed (it is what --reroll ids refer to)."""
    seen = []
    features = StyleSampler.features

    def spy(self, *args, **kwargs):
        seen.append(self)
        return features(self, *args, **kwargs)

    monkeypatch.setattr(StyleSampler, "features", spy)
    assert main(["synthesize", "--checkpoint", str(model), "--input", str(clip), "--output", str(out),
                 "--style-seed", "3", "--precision", "fp32", *extra]) == 0
    return [{k: o[k] for k in ("id", "class", "first_frame", "last_frame", "pixels")}
            for o in seen[-1].tracker.objects()]


def _tracks_command(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["style", "tracks", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_tracks_command_ids_are_the_synthesis_ids_on_a_full_size_input(tmp_path, styled_model, monkeypatch,
                                                                      capsys):
    """A 2048x1024 input synthesized by a 256x128 model: `style tracks --checkpoint` tracks at the model's size, so
    its ids are the ones `synthesize --reroll` uses (tracking at the full size numbers the big car 2, not 1)."""
    clip = _full_size_clip(tmp_path / "clip")
    synth = _synthesis_tracks(monkeypatch, styled_model, clip, tmp_path / "out.mp4")
    listed = _tracks_command(capsys, "--checkpoint", str(styled_model), "--input", str(clip))
    assert listed == synth
    assert [(o["id"], o["first_frame"], o["last_frame"]) for o in listed if o["class"] == "car"] == [(1, 0, 2)]
    full = _tracks_command(capsys, "--size", "2048x1024", "--input", str(clip))  # what the command used to do
    big = max((o for o in full if o["class"] == "car"), key=lambda o: o["pixels"])
    assert big["id"] != 1  # the case the ids used to differ in
    # --frames and --relabel as given to synthesize give synthesis's tracks too
    synth = _synthesis_tracks(monkeypatch, styled_model, clip, tmp_path / "out2.mp4", "--frames", "1:3",
                              "--relabel", "building=vegetation")
    listed = _tracks_command(capsys, "--checkpoint", str(styled_model), "--input", str(clip), "--frames", "1:3",
                             "--relabel", "building=vegetation")
    assert listed == synth and "vegetation" in {o["class"] for o in listed}


def test_fit_command(tmp_path, capsys):
    ds = make_street_dataset(tmp_path / "ds", frames=3, sequences=("a",))
    cfg, nets = tiny_model()
    export_model(tmp_path / "m", cfg, nets)
    assert main(["style", "fit", "--checkpoint", str(tmp_path / "m"), "--dataset", str(ds),
                 "--components", "2"]) == 0
    out = capsys.readouterr().out
    assert "style bank: 4 classes" in out and "car" in out
    assert StyleBank.from_tensors(load_model(tmp_path / "m")["extra"]).classes == [ROAD, BUILDING, SKY, CAR]


@pytest.mark.realdata
def test_tracks_on_the_cityscapes_sample(shared_data, capsys):
    """vid2vid's sample sequence (2048x1024, 8-bit instance ids renumbered every frame): the two big cars that stay
    in view are each one track over all 30 frames."""
    assert main(["style", "tracks", "--input", str(shared_data / "cityscapes_vid2vid"), "--size", "256x128",
                 "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    cars = sorted((o for o in objects if o["class"] == "car"), key=lambda o: -o["pixels"])
    assert [(o["first_frame"], o["last_frame"]) for o in cars[:2]] == [(0, 29), (0, 29)]
    assert {"road", "building", "sky"} <= {o["class"] for o in objects if o["id"] >= STUFF_TRACK_BASE}


@pytest.mark.realdata
def test_tracks_command_ids_are_the_synthesis_ids_on_the_cityscapes_sample(shared_data, tmp_path, styled_model,
                                                                           monkeypatch, capsys):
    """The first frames of vid2vid's 2048x1024 sample: `style tracks --checkpoint` lists what synthesis tracks."""
    clip = shared_data / "cityscapes_vid2vid"
    synth = _synthesis_tracks(monkeypatch, styled_model, clip, tmp_path / "out.mp4", "--frames", "0:4")
    listed = _tracks_command(capsys, "--checkpoint", str(styled_model), "--input", str(clip), "--frames", "0:4")
    assert listed == synth and sum(o["class"] == "car" for o in listed) >= 2
