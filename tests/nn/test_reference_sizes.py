"""The paper presets must have NVIDIA's parameter counts (their checkpoints are converted onto ours)."""
import json
import subprocess
import sys

import pytest

from v2v.commands.info import network_sizes
from v2v.presets import model_preset


@pytest.mark.parametrize("preset, expected", [
    ("label2city_2048", {"G0": 411.34e6, "G1": 2.881e6, "G2": 0.860e6, "D": 11.21e6, "D_T0": 11.11e6}),
    ("label2city_1024", {"G0": 137.79e6, "G1": 3.830e6, "G2": 1.141e6}),
])
def test_reference_parameter_counts(preset, expected):
    sizes = network_sizes(model_preset(preset, {"norm": "batch"}))
    for net, n in expected.items():
        assert abs(sizes[net] - n) / n < 0.0005, (net, sizes[net], n)


def test_info_cli_prints_json():
    out = subprocess.run([sys.executable, "-m", "v2v", "info", "--preset", "label2city_1024", "--norm", "batch"],
                         capture_output=True, text=True, check=True).stdout
    nets = json.loads(out)["networks"]
    assert {"G0", "G1", "G2", "first_frame", "D", "D_T0"} <= set(nets)
