import pytest

from v2v.config import ConfigError, ModelConfig, check_size, from_dict
from v2v.presets import PRESETS, model_preset


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'ngff' \(did you mean 'ngf'\?\)"):
        from_dict(ModelConfig, {"ngff": 3})
    with pytest.raises(ConfigError, match="discriminator.ndff"):
        from_dict(ModelConfig, {"discriminator": {"ndff": 3}})


def test_bad_values():
    with pytest.raises(ConfigError, match="norm must be one of"):
        from_dict(ModelConfig, {"norm": "group"})
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(ModelConfig, {"ngf": "many"})
    with pytest.raises(ConfigError, match="n_scales"):
        from_dict(ModelConfig, {"n_scales": 4})
    with pytest.raises(ConfigError, match="unknown preset"):
        model_preset("label2city_4096")


def test_string_overrides_are_typed():
    cfg = model_preset("street_256", {"ngf": "16", "use_flow": "false", "foreground_labels": "26,24"})
    assert cfg.ngf == 16 and cfg.use_flow is False and cfg.foreground_labels == (26, 24)


def test_size_check_names_nearest_valid():
    with pytest.raises(ConfigError, match="nearest valid size: 256x128"):
        check_size(250, 130, 32)
    check_size(256, 128, 32)


def test_all_presets_validate():
    for name in PRESETS:
        assert model_preset(name).generator_input_nc > 0
