"""train.figure: the sample grid has a row per frame and a column per picture; bad requests say what to give."""
import sys
from pathlib import Path

import cv2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import make_street_dataset  # noqa: E402

from train.figure import main  # noqa: E402
from v2v.checkpoint import export_model  # noqa: E402
from v2v.dataset_format import open_dataset  # noqa: E402
from v2v.nn.build import build_generators  # noqa: E402
from v2v.presets import model_preset  # noqa: E402

TINY = {"ngf": 8, "n_blocks": 1, "first_frame.ngf": 8, "first_frame.n_blocks": 1, "encoder.nef": 4}


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("figure")
    ds = make_street_dataset(tmp / "ds", frames=4, size=(64, 32))
    cfg = model_preset("street_256", TINY)
    export_model(tmp / "m", cfg, build_generators(cfg))
    return tmp, ds, tmp / "m"


def test_grid_has_a_row_per_frame_and_a_column_per_picture(model_and_data):
    tmp, ds, m = model_and_data
    seq = open_dataset(ds).sequences[0].name
    out = tmp / "fig.png"
    assert main(["--dataset", str(ds), "--sequence", seq, "--frames", "0", "3", "--model", f"a={m}",
                 "--model", f"b={m}", "--real", "--out", str(out)]) == 0
    picture = cv2.imread(str(out))
    assert picture.shape[:2] == (2 * 32, 4 * 64)  # rows: 2 frames; columns: input, real, a, b


def test_bad_requests_say_what_to_give(model_and_data, capsys):
    tmp, ds, m = model_and_data
    seq = open_dataset(ds).sequences[0].name
    assert main(["--dataset", str(ds), "--sequence", seq, "--frames", "9", "--model", f"a={m}",
                 "--out", str(tmp / "x.png")]) == 2
    assert "has 4 frames" in capsys.readouterr().err
    assert main(["--dataset", str(ds), "--sequence", "nope", "--frames", "0", "--model", f"a={m}",
                 "--out", str(tmp / "x.png")]) == 2
    assert "is not in" in capsys.readouterr().err
    assert main(["--dataset", str(ds), "--sequence", seq, "--frames", "0", "--model", str(m),
                 "--out", str(tmp / "x.png")]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
