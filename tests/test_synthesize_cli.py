"""``python -m v2v synthesize``: outputs, extras, and one-line errors with exit code 2 and nothing at OUT."""
import json
import subprocess
import sys

import av
import pytest

from test_engine import label_folder, tiny_model
from v2v.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {"model": tiny_model(root / "model"), "labels": label_folder(root / "scene")}


def run(setup, out, *extra):
    return main(["synthesize", "--checkpoint", str(setup["model"]), "--input", str(setup["labels"]),
                 "--output", str(out), "--precision", "fp32", *extra])


def decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.name, sum(1 for _ in c.decode(s)), (s.width, s.height)


def test_synthesize_with_relabel_extras_and_range(setup, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert run(setup, out, "--relabel", "vegetation=building", "--relabel", "7=8", "--save-extras",
               "--frames", "1:4", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 3 and report["output"] == str(out)
    for name in ("out.mp4", "out_flow.mp4", "out_mask.mp4", "out_warped.mp4"):
        assert decode(tmp_path / name)[:2] == ("h264", 3)


def test_size_option_resizes(setup, tmp_path):
    out = tmp_path / "big.mp4"
    assert run(setup, out, "--size", "128x64") == 0
    assert decode(out) == ("h264", 5, (128, 64))


@pytest.mark.parametrize("extra, message", [
    (["--size", "100x60"], "nearest valid size: 96x64"),
    (["--relabel", "forest=building"], "unknown class 'forest'"),
    (["--relabel", "vegetation"], "must look like vegetation->building"),
    (["--frames", "9:12"], "selects no frames"),
])
def test_bad_options_exit_2_and_write_nothing(setup, tmp_path, capsys, extra, message):
    out = tmp_path / "out.mp4"
    assert run(setup, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_checkpoint_input_and_output(setup, tmp_path, capsys):
    base = ["synthesize", "--output", str(tmp_path / "o.mp4"), "--precision", "fp32"]
    assert main([*base, "--checkpoint", str(tmp_path), "--input", str(setup["labels"])]) == 2
    assert "not an exported model" in capsys.readouterr().err
    assert main([*base, "--checkpoint", str(setup["model"]), "--input", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    pose = tiny_model(tmp_path / "pose", "dancer_256")
    for street_input in (setup["labels"], setup["labels"] / "labels"):
        assert main([*base, "--checkpoint", str(pose), "--input", str(street_input)]) == 2
        assert "street label maps (class ids) but the model is a pose model" in capsys.readouterr().err
    bad_out = ["synthesize", "--checkpoint", str(setup["model"]), "--input", str(setup["labels"]),
               "--output", str(tmp_path / "o.avi")]
    assert main(bad_out) == 2
    assert "must end in .mp4" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["pose"]


def test_unknown_label_ids_in_the_input(tmp_path, capsys):
    model = tiny_model(tmp_path / "m")
    labels = label_folder(tmp_path / "bad", 3, ids=99)
    out = tmp_path / "o.mp4"
    assert main(["synthesize", "--checkpoint", str(model), "--input", str(labels), "--output", str(out)]) == 2
    assert "99" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".o*"))


def test_subprocess_exit_code_and_one_line(setup, tmp_path):
    r = subprocess.run([sys.executable, "-m", "v2v", "synthesize", "--checkpoint", str(setup["model"]), "--input",
                        str(setup["labels"]), "--output", str(tmp_path / "o.mp4"), "--size", "65x32"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "64x32" in r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.realdata
def test_cityscapes_vid2vid_sequence(shared_data, tmp_path, capsys):
    model = tiny_model(tmp_path / "m", meta={"size": [256, 128]})
    seq = shared_data / "cityscapes_vid2vid" / "train_A" / "seq0001"
    out = tmp_path / "city.mp4"
    assert main(["synthesize", "--checkpoint", str(model), "--input", str(seq), "--output", str(out),
                 "--frames", "0:4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["size"] == [256, 128] and report["fps"] == 17.0
    assert decode(out) == ("h264", 4, (256, 128))


def test_style_flags(setup, tmp_path, capsys):
    """--style-seed / --reroll / --reroll-seed reach the style sampler; the same seed gives the same video from
    one invocation to the next (separate processes, as users run it); errors are one line."""
    from test_style import contrast_bank

    from v2v.checkpoint import export_model, load_model

    model = load_model(setup["model"])
    styled = export_model(tmp_path / "styled", model["config"], model["networks"], meta={"size": [64, 32]},
                          extra_tensors=contrast_bank().to_tensors())
    base = ["synthesize", "--checkpoint", str(styled), "--input", str(setup["labels"]), "--precision", "fp32"]

    def cli(*extra):
        return subprocess.run([sys.executable, "-m", "v2v", *base, *extra], capture_output=True, text=True,
                              timeout=300)

    for name, extra in (("a", ["--style-seed", "3"]), ("b", ["--style-seed", "3"]),
                        ("c", ["--style-seed", "3", "--reroll", "1", "--reroll-seed", "9"])):
        r = cli("--output", str(tmp_path / f"{name}.mp4"), *extra)
        assert r.returncode == 0, r.stderr
    frames = {k: [f.to_ndarray(format="rgb24") for f in av.open(str(tmp_path / f"{k}.mp4")).decode(video=0)]
              for k in "abc"}
    def mean_diff(p, q):
        return float(sum(abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(frames[p], frames[q])))

    # Same seed: the same video, bit for bit (after decoding), from separate processes; a re-roll changes it.
    assert len(frames["a"]) == len(frames["b"]) == 5
    assert mean_diff("a", "b") == 0
    assert mean_diff("a", "c") > 0
    assert main(base + ["--output", str(tmp_path / "d.mp4"), "--reroll", "1", "--reroll-seed", "1",
                        "--reroll-seed", "2"]) == 2
    assert "one --reroll-seed per --reroll" in capsys.readouterr().err
    assert main(base[:2] + [str(setup["model"])] + base[3:] + ["--output", str(tmp_path / "e.mp4"),
                                                              "--style-seed", "1"]) == 2
    assert "no style mixtures" in capsys.readouterr().err
    # --color needs a model whose style features are colours (meta style_features "rgb")
    assert main(base + ["--output", str(tmp_path / "f.mp4"), "--color", "1=#ff0000"]) == 2
    assert "not colours" in capsys.readouterr().err
    assert main(base + ["--output", str(tmp_path / "f.mp4"), "--color", "red"]) == 2
    assert "TRACK_ID=#rrggbb" in capsys.readouterr().err
    rgb = export_model(tmp_path / "rgb", model["config"], model["networks"],
                       meta={"size": [64, 32], "style_features": "rgb"}, extra_tensors=contrast_bank().to_tensors())
    assert main(["synthesize", "--checkpoint", str(rgb), *base[3:], "--output", str(tmp_path / "g.mp4"),
                 "--style-seed", "3", "--color", "1=#ff0000"]) == 0
    painted = [f.to_ndarray(format="rgb24") for f in av.open(str(tmp_path / "g.mp4")).decode(video=0)]
    assert sum(abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(frames["a"], painted)) > 0
    assert not any((tmp_path / f"{k}.mp4").exists() for k in "def")
