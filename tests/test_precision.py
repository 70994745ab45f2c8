"""precision "auto": bf16 only where the hardware has native bf16 (elsewhere it is emulated and ~10x slower)."""
import warnings

import pytest
import torch

from synthetic import tiny_trainer
from test_engine import tiny_model
from train.config import load_config
from v2v import precision
from v2v.config import ConfigError
from v2v.engine import Engine
from v2v.errors import UserError


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) AVX512-BF16; AMX is absent either way."""
    def set_native(native: bool):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return set_native


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_is_bf16_only_where_it_is_native(cpu_bf16, native, expected):
    cpu_bf16(native)
    assert precision.native_bf16("cpu") is native
    assert precision.resolve_precision("auto", "cpu") == expected
    assert precision.resolve_precision("fp32", "cpu") == "fp32"


def test_amx_counts_as_native(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.resolve_precision("auto", "cpu") == "bf16"


def test_a_missing_or_failing_feature_probe_means_no_native_bf16(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: 1 / 0)
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert "no native bf16" in precision.cpu_description()


def test_explicit_bf16_where_emulated_warns_and_is_kept(cpu_bf16):
    cpu_bf16(False)
    with pytest.warns(RuntimeWarning, match="no native bf16.*Use precision auto or fp32"):
        assert precision.resolve_precision("bf16", "cpu") == "bf16"
    cpu_bf16(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.resolve_precision("bf16", "cpu") == "bf16"


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="auto, fp32, bf16.*'fp8'"):
        precision.resolve_precision("fp8")


@pytest.mark.parametrize("native, dtype", [(True, torch.bfloat16), (False, torch.float32)])
def test_engine_default_computes_in_the_resolved_precision(tmp_path, cpu_bf16, native, dtype):
    cpu_bf16(native)
    engine = Engine.load(tiny_model(tmp_path / "m"))
    assert engine.precision == ("bf16" if native else "fp32")
    assert next(engine.networks["generator"].parameters()).dtype == dtype


def test_engine_rejects_an_unknown_precision_with_a_user_error(tmp_path):
    with pytest.raises(UserError, match="precision must be one of auto, fp32, bf16"):
        Engine.load(tiny_model(tmp_path / "m"), precision="half")


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_trainer_resolves_auto(tmp_path, cpu_bf16, native, expected):
    cpu_bf16(native)
    trainer, _ = tiny_trainer(tmp_path, overrides=["precision=auto"])
    assert trainer.precision == expected
    with trainer.autocast():
        assert torch.is_autocast_enabled("cpu") is native


def test_train_config_accepts_auto_and_fp16_and_rejects_others(tmp_path):
    from pathlib import Path
    config = Path(__file__).resolve().parents[1] / "train" / "configs" / "tiny_test.yaml"
    assert load_config(config, ["data.root=x"]).precision == "fp32"
    for name in ("auto", "bf16", "fp16"):
        assert load_config(config, ["data.root=x", f"precision={name}"]).precision == name
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16"):
        load_config(config, ["data.root=x", "precision=fp64"])


def test_demo_training_configs_leave_the_choice_to_the_hardware():
    from pathlib import Path
    configs = Path(__file__).resolve().parents[1] / "train" / "configs"
    for name in ("street_256", "street_256_noflow", "dancer_256"):
        assert load_config(configs / f"{name}.yaml", []).precision == "auto", name


@pytest.mark.parametrize("native", [True, False])
def test_trainer_channels_last_auto_follows_bf16(tmp_path, cpu_bf16, native):
    cpu_bf16(native)
    trainer, _ = tiny_trainer(tmp_path, overrides=["precision=auto", "channels_last=auto"])
    assert trainer.channels_last is native
    weight = next(trainer.G["generator"].parameters())
    assert weight.is_contiguous(memory_format=torch.channels_last) is (native or weight.dim() != 4)
    forced, _ = tiny_trainer(tmp_path / "forced", overrides=["precision=fp32", "channels_last=true"])
    assert forced.channels_last is True


def test_channels_last_config_values(tmp_path):
    from pathlib import Path
    config = Path(__file__).resolve().parents[1] / "train" / "configs" / "tiny_test.yaml"
    assert load_config(config, ["data.root=x"]).channels_last == "false"
    assert load_config(config, ["data.root=x", "channels_last=on"]).channels_last == "true"
    with pytest.raises(ConfigError, match="channels_last must be auto, true or false"):
        load_config(config, ["data.root=x", "channels_last=maybe"])
