"""Fixtures of the app tests: models (the shipped ones when present, else tiny random ones), an in-process server
on a free port, and gradio clients.

Everything the app writes goes under this session's tmp folder (V2V_APP_TMP, GRADIO_TEMP_DIR).
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest

_TMP = Path(tempfile.mkdtemp(prefix="v2v-app-tests-"))
os.environ.setdefault("V2V_APP_TMP", str(_TMP / "sessions"))
os.environ.setdefault("GRADIO_TEMP_DIR", str(_TMP / "gradio"))
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"street": "street_256", "pose": "dancer_256"}
TEST_MAX_FRAMES = 12


@pytest.fixture(scope="session", autouse=True)
def _remove_app_tmp():
    yield
    shutil.rmtree(_TMP, ignore_errors=True)


def shipped_models_present() -> bool:
    return all((ROOT / "assets" / "models" / n / "model.safetensors").is_file() for n in SHIPPED.values())


def build_tiny_models(folder: Path) -> dict[str, str]:
    """A tiny random street model (with a style bank) and a tiny pose model, exported into ``folder``."""
    import torch

    from v2v.checkpoint import export_model
    from v2v.nn.build import build_generators
    from v2v.presets import model_preset
    from v2v.style import StyleBank

    torch.manual_seed(0)
    tiny = {"ngf": 8, "n_blocks": 1, "first_frame.ngf": 8, "first_frame.n_blocks": 1}
    cfg = model_preset("street_256", {**tiny, "encoder.nef": 4})
    rng = np.random.default_rng(0)
    bank = StyleBank.fit({c: rng.uniform(-1, 1, (12, cfg.encoder.feat_nc)) for c in (7, 8, 11, 21, 23, 24, 26, 27)},
                         components=2)
    export_model(folder / "street_tiny", cfg, build_generators(cfg), meta={"size": [256, 128]},
                 extra_tensors=bank.to_tensors())
    cfg = model_preset("dancer_256", tiny)
    export_model(folder / "dancer_tiny", cfg, build_generators(cfg), meta={"size": [256, 256]})
    return {"street": "street_tiny", "pose": "dancer_tiny"}


@pytest.fixture(scope="session")
def app_models(tmp_path_factory) -> dict:
    """{"street": name, "pose": name, "tiny": bool}: V2V_TEST_MODELS_DIR's models when set (e.g. to take
    screenshots with other models), else the shipped ones, else tiny random ones."""
    chosen = os.environ.get("V2V_TEST_MODELS_DIR", "").strip()
    if chosen:
        from app.models import find_models

        os.environ["V2V_MODELS_DIR"] = chosen
        found = {kind: [m.name for m in find_models(kind)] for kind in ("street", "pose")}
        if not all(found.values()):
            pytest.fail(f"V2V_TEST_MODELS_DIR={chosen} needs a street and a pose model, found {found}")
        return {"street": found["street"][0], "pose": found["pose"][0], "tiny": False}
    if shipped_models_present():
        os.environ.pop("V2V_MODELS_DIR", None)
        return {**SHIPPED, "tiny": False}
    folder = tmp_path_factory.mktemp("models")
    names = build_tiny_models(folder)
    os.environ["V2V_MODELS_DIR"] = str(folder)
    return {**names, "tiny": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def test_limits():
    from app.limits import Limits

    return Limits(max_frames=TEST_MAX_FRAMES, max_upload_mb=8, max_seconds=30, max_side=1920, concurrency=1,
                  max_queue=16)


@pytest.fixture(scope="session")
def app_url(app_models, test_limits):
    """The app running in this process (prevent_thread_lock) on a free port."""
    from app.main import build_app, configure_torch, launch

    configure_torch()
    demo = build_app(test_limits)
    _, url, _ = launch(demo, test_limits, server_name="127.0.0.1", server_port=free_port(),
                       prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture
def client(app_url):
    from gradio_client import Client

    c = Client(app_url, verbose=False, download_files=str(_TMP / "downloads"), analytics_enabled=False)
    yield c
    c.close()
