"""NVIDIA checkpoint import: key mapping of every configuration in the reference key list (by shapes, on the meta
device), a full label2city_1024 conversion from fake checkpoints (load, run), tensor identity of the mapping, G0
against an independent functional re-implementation of NVIDIA's CompositeGenerator, and mismatch errors."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from v2v.checkpoint_nvidia import SCALE_GROUPS, convert, map_modules, map_single_g, parse_key_list, reference_config
from v2v.checkpoint import read_model_config
from v2v.cli import main
from v2v.config import FirstFrameConfig, ModelConfig
from v2v.engine import Engine
from v2v.errors import UserError
from v2v.nn.build import build_generators
from v2v.nn.first_frame import FirstFrameGenerator
from v2v.nn.generator import ScaleGenerator

KEY_FILE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "vid2vid-checkpoint-keys.txt"


@pytest.fixture(scope="module")
def keys():
    if not KEY_FILE.is_file():
        pytest.skip(f"reference key list not found at {KEY_FILE}")
    return parse_key_list(KEY_FILE.read_text())


def header_params(name: str, net: str) -> float:
    line = next(l for l in KEY_FILE.read_text().splitlines() if l.startswith(f"===== {name} {net} "))
    return float(line.split("nparams=")[1].split("M")[0]) * 1e6


def fake_state(shapes: dict, seed: int = 0, stats: bool = True) -> dict:
    """Random tensors of the right shapes, scaled like NVIDIA's init (conv ~ N(0, .02), norm scale ~ N(1, .02))."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in shapes.items():
        name = k.rsplit(".", 1)[-1]
        if name == "num_batches_tracked":
            if stats:
                out[k] = torch.tensor(1000)
        elif name in ("running_mean", "running_var"):
            out[k] = torch.rand(shape, generator=g) + 5.0  # nonsense statistics: they must be ignored
        elif len(shape) > 1:
            out[k] = torch.randn(shape, generator=g) * 0.02
        elif name == "weight":
            out[k] = 1 + torch.randn(shape, generator=g) * 0.02
        else:
            out[k] = torch.randn(shape, generator=g) * 0.01
    return out


def meta_state(shapes: dict) -> dict:
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def image_label_set(tmp_path, channels: int) -> str:
    path = tmp_path / f"maps{channels}.json"
    path.write_text(json.dumps({"name": f"maps{channels}", "encoding": "image", "channels": channels}))
    return str(path)


# ---------------------------------------------------------------------------------------------- mapping by shapes
@pytest.mark.parametrize("name", ["label2city_2048", "label2city_1024_g1", "edge2face_512", "pose2body_1024p"])
def test_video_generator_keys_map_by_shape(keys, tmp_path, name):
    if name.startswith("label2city"):
        cfg = reference_config(name)
    else:  # not convertible (other inputs), but the layout must still match
        channels, scales = (15, 1) if name == "edge2face_512" else (6, 3)
        cfg = ModelConfig(label_set=image_label_set(tmp_path, channels), use_instance=False, ngf=128, n_downsample=3,
                          n_blocks=9, n_scales=scales, norm="batch", use_foreground=False,
                          first_frame=FirstFrameConfig(enabled=False))
    with torch.device("meta"):
        gen = build_generators(cfg)["generator"]
    nets = sorted(net for (n, net) in keys if n == name)
    assert len(nets) == cfg.n_scales
    for s, net in enumerate(nets):
        shapes = keys[(name, net)]
        ours, mapping = map_modules(meta_state(shapes), gen.scales[s], SCALE_GROUPS, f"{name} {net}")
        learnable = [k for k in shapes if k.rsplit(".", 1)[-1] in ("weight", "bias")]
        assert sorted(mapping) == sorted(learnable)
        total = sum(v.numel() for v in ours.values())
        assert total == sum(torch.Size(shapes[k]).numel() for k in learnable)
        assert abs(total - header_params(name, net)) < 0.01e6  # the header rounds to 10 k


@pytest.mark.parametrize("net, ngf, n_down, n_local", [("G_512", 64, 3, 0), ("G_1024", 64, 4, 0),
                                                       ("G_2048", 32, 4, 1)])
def test_single_g_keys_map_by_shape(keys, net, ngf, n_down, n_local):
    cfg = FirstFrameConfig(ngf=ngf, n_downsample=n_down, n_local_enhancers=n_local, norm="instance_plain",
                           input_channels=35)
    with torch.device("meta"):
        g = FirstFrameGenerator(cfg, 36)
    shapes = keys[("label2city_single", net)]
    ours, mapping = map_single_g(meta_state(shapes), g, net)
    assert len(mapping) == len(ours) == len(g.state_dict())
    total = sum(v.numel() for v in ours.values())
    assert abs(total - header_params("label2city_single", net)) < 0.01e6


def test_unsupported_configurations_say_why(keys):
    for name in ("edge2face_512", "pose2body_1024p"):
        with pytest.raises(UserError, match="cannot convert"):
            reference_config(name)
    with torch.device("meta"):
        g = FirstFrameGenerator(FirstFrameConfig(ngf=64, n_downsample=3, norm="instance_plain"), 35)
    with pytest.raises(UserError, match="unexpected key group 'model_downsample'"):
        map_single_g(meta_state(keys[("edge2face_single", "G")]), g, "edge2face single G")


def test_shape_and_key_mismatches_name_the_key(keys):
    cfg = reference_config("label2city_1024_g1")
    with torch.device("meta"):
        scale = build_generators(cfg)["generator"].scales[1]
    shapes = dict(keys[("label2city_1024_g1", "G1")])
    bad = dict(shapes, **{"model_down_img.1.weight": (64, 9, 7, 7)})
    with pytest.raises(UserError, match=r"key model_down_img\.1\.weight has shape \(64, 9, 7, 7\), expected "
                                        r"\(64, 6, 7, 7\)"):
        map_modules(meta_state(bad), scale, SCALE_GROUPS, "G1")
    missing = {k: v for k, v in shapes.items() if not k.startswith("model_final_w.")}
    with pytest.raises(UserError, match="model_final_w"):
        map_modules(meta_state(missing), scale, SCALE_GROUPS, "G1")
    extra = dict(shapes, **{"model_extra.0.weight": (3,)})
    with pytest.raises(UserError, match="unexpected key group 'model_extra'"):
        map_modules(meta_state(extra), scale, SCALE_GROUPS, "G1")
    short = {k: v for k, v in shapes.items() if not k.startswith("model_up_img.4.")}
    with pytest.raises(UserError, match="expected"):
        map_modules(meta_state(short), scale, SCALE_GROUPS, "G1")


# ---------------------------------------------------------------------------------------- a real-size conversion
@pytest.fixture(scope="module")
def converted(keys, tmp_path_factory):
    """label2city_1024: G0 (138 M parameters) + G1 + G2 + single G 1024 (183 M) as fake .pth files, converted."""
    root = tmp_path_factory.mktemp("nvidia")
    files = {}
    for i, (cfg_name, net) in enumerate([("label2city_1024_g1", "G0"), ("label2city_1024_g1", "G1"),
                                         ("label2city_1024_g1", "G2"), ("label2city_single", "G_1024")]):
        files[net] = root / f"latest_net_{net}.pth"
        torch.save(fake_state(keys[(cfg_name, net)], seed=i, stats=net != "G1"), files[net])
    report = convert("label2city_1024_g1", [files["G0"], files["G1"], files["G2"]], root / "model",
                     single_g=files["G_1024"])
    return {"root": root, "files": files, "report": report, "model": root / "model"}


@pytest.mark.slow
def test_converted_model_loads_and_runs(converted):
    r = converted["report"]
    assert r["scales"] == 3 and r["size"] == [1024, 512] and r["first_frame"]
    assert abs(r["parameters"] - (137.79e6 + 3.830e6 + 1.141e6 + 182.54e6)) / r["parameters"] < 1e-3
    engine = Engine.load(converted["model"], precision="fp32")
    assert engine.config.fg_ids == (26,) and engine.config.first_frame.norm == "instance_plain"
    assert engine.size == (1024, 512)
    labels = torch.zeros(1, 32, 64, dtype=torch.long)
    labels[:, 16:, :] = 7
    labels[:, 20:28, 10:30] = 26
    synth = engine.new_synthesizer()
    outs = [synth.step(labels, labels.clone()) for _ in range(3)]
    assert set(outs[0]) == {"image"} and "flow" in outs[2]
    for out in outs:
        assert out["image"].shape == (1, 3, 32, 64) and torch.isfinite(out["image"]).all()


@pytest.mark.slow
def test_converted_tensors_equal_the_sources_by_name(converted, keys):
    saved = load_file(str(converted["model"] / "model.safetensors"))
    cfg = reference_config("label2city_1024_g1")
    with torch.device("meta"):
        nets = build_generators(cfg)
    checked = 0
    for s, net in enumerate(("G0", "G1", "G2")):
        theirs = torch.load(converted["files"][net], weights_only=True)
        _, mapping = map_modules(meta_state({k: tuple(v.shape) for k, v in theirs.items()}),
                                 nets["generator"].scales[s], SCALE_GROUPS, net, prefix=f"generator.scales.{s}.")
        for nkey, okey in mapping.items():
            assert torch.equal(saved[okey], theirs[nkey].half()), (nkey, okey)
            checked += 1
    theirs = torch.load(converted["files"]["G_1024"], weights_only=True)
    _, mapping = map_single_g(meta_state({k: tuple(v.shape) for k, v in theirs.items()}), nets["first_frame"], "G",
                              prefix="first_frame.")
    for nkey, okey in mapping.items():
        assert torch.equal(saved[okey], theirs[nkey].half())
        checked += 1
    assert checked == len([k for k in saved])


@pytest.mark.slow
def test_cli_reports_a_mismatch_and_writes_nothing(converted, tmp_path, capsys):
    f = converted["files"]
    out = tmp_path / "m"
    assert main(["convert-nvidia", "--preset", "label2city_1024", "--g0", str(f["G1"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "G0 latest_net_G1.pth" in err and "has shape" in err and "expected" in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main(["convert-nvidia", "--preset", "edge2face_512", "--g0", str(f["G0"]), "--out", str(out)]) == 2
    assert "cannot convert edge2face_512" in capsys.readouterr().err
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert main(["convert-nvidia", "--preset", "label2city_1024", "--g0", str(tmp_path / "junk.pth"),
                 "--out", str(out)]) == 2
    assert "weights_only=True" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_g0_only_gives_a_one_scale_model(converted, tmp_path, capsys):
    out = tmp_path / "g0"
    assert main(["convert-nvidia", "--preset", "label2city_1024_g1", "--g0", str(converted["files"]["G0"]),
                 "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scales"] == 1 and report["size"] == [256, 128] and not report["first_frame"]


# ------------------------------------------------------------------------ G0 against NVIDIA's forward, by hand
def _run_group(state: dict, group: str, x: torch.Tensor) -> torch.Tensor:
    """Execute one of NVIDIA's nn.Sequential groups from its keys alone: reflection-padded 7x7 convs, stride-2 3x3
    convs (transposed in *_up groups), batch-statistics BatchNorm + ReLU, ResnetBlocks (conv_block.1/2/5/6)."""
    def bn(t, prefix):
        return F.batch_norm(t, None, None, state[f"{prefix}.weight"], state[f"{prefix}.bias"], True, 0.0, 1e-5)

    indices = sorted({int(k.split(".")[1]) for k in state if k.startswith(group + ".")})
    for i in indices:
        p = f"{group}.{i}"
        if f"{p}.conv_block.1.weight" in state:
            h = F.conv2d(F.pad(x, (1,) * 4, mode="reflect"), state[f"{p}.conv_block.1.weight"],
                         state[f"{p}.conv_block.1.bias"])
            h = F.relu(bn(h, f"{p}.conv_block.2"))
            h = F.conv2d(F.pad(h, (1,) * 4, mode="reflect"), state[f"{p}.conv_block.5.weight"],
                         state[f"{p}.conv_block.5.bias"])
            x = x + bn(h, f"{p}.conv_block.6")
            continue
        w = state[f"{p}.weight"]
        if w.dim() == 1:
            x = F.relu(bn(x, p))
        elif w.shape[-1] == 7:
            x = F.conv2d(F.pad(x, (3,) * 4, mode="reflect"), w, state[f"{p}.bias"])
        elif "_up" in group:
            x = F.conv_transpose2d(x, w, state[f"{p}.bias"], stride=2, padding=1, output_padding=1)
        else:
            x = F.conv2d(x, w, state[f"{p}.bias"], stride=2, padding=1)
    return x


def _nvidia_g0(state: dict, labels: torch.Tensor, prev: torch.Tensor, car: torch.Tensor) -> torch.Tensor:
    """CompositeGenerator.forward (vid2vid networks.py) at test time, written from the reference notes."""
    trunk = _run_group(state, "model_down_seg", labels) + _run_group(state, "model_down_img", prev)
    img_feat = _run_group(state, "model_up_img", _run_group(state, "model_res_img", trunk))
    img_raw = torch.tanh(_run_group(state, "model_final_img", img_feat))
    flow_feat = _run_group(state, "model_up_flow", _run_group(state, "model_res_flow", trunk))
    flow = _run_group(state, "model_final_flow", flow_feat) * 20
    w = torch.sigmoid(_run_group(state, "model_final_w", flow_feat))
    _, _, h, wd = prev.shape
    gy, gx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, wd), indexing="ij")
    grid = torch.stack([gx, gy], -1)[None] + torch.stack([flow[:, 0] / ((wd - 1) / 2), flow[:, 1] / ((h - 1) / 2)], -1)
    warped = F.grid_sample(prev[:, -3:], grid, mode="bilinear", padding_mode="border", align_corners=True)
    img = img_raw * w + warped * (1 - w)
    fg = _run_group(state, "indv_final", _run_group(state, "indv_up", _run_group(state, "indv_res",
                                                                                _run_group(state, "indv_down", labels))))
    return torch.tanh(fg) * car + img * (1 - car)


@pytest.mark.slow
def test_converted_g0_equals_nvidia_forward(converted):
    theirs = torch.load(converted["files"]["G0"], weights_only=True)
    theirs = {k: v.half().float() if v.is_floating_point() else v for k, v in theirs.items()}  # as exported
    cfg, _ = read_model_config(converted["model"])
    with torch.device("meta"):
        g0 = ScaleGenerator(cfg, 0)
    saved = load_file(str(converted["model"] / "model.safetensors"))
    prefix = "generator.scales.0."
    g0.load_state_dict({k[len(prefix):]: v.float() for k, v in saved.items() if k.startswith(prefix)}, assign=True)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 35, (3, 16, 32), generator=g)
    ids[:, 4:12, 8:20] = 26
    edges = (torch.rand(3, 1, 16, 32, generator=g) > 0.9).float()
    labels = torch.cat([torch.cat([F.one_hot(ids[t], 35).permute(2, 0, 1)[None].float(), edges[t:t + 1]], 1)
                        for t in range(3)], 1)
    prev = torch.rand(1, 6, 16, 32, generator=g) * 2 - 1
    car = (ids[-1] == 26).float()[None, None]
    with torch.inference_mode():
        ours = g0(labels, prev, car)["image"]
        ref = _nvidia_g0(theirs, labels, prev, car)
    assert ours.shape == ref.shape == (1, 3, 16, 32)
    assert (ours - ref).abs().max() < 1e-4
