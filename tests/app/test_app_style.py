"""Style tab logic: the objects the app lists are the tracks the engine's style sampler re-rolls, and a re-roll
changes the generated video mostly where that object is."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app import session
from app.limits import Limits
from app.street_tab import run_street
from app.style_tab import list_objects, thumbnails
from app.uploads import load_example
from v2v.style import STUFF_TRACK_BASE, Tracker

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 10


@pytest.fixture(scope="module")
def volume():
    return load_example(ROOT / "assets" / "examples" / "street_scene_2", (256, 128), Limits())


def generate(volume, app_models, **style) -> np.ndarray:
    """The app's street job on the first FRAMES frames at seed 5 with ``style`` (rerolls= / colors=): the frames."""
    work = session.new_dir()
    try:
        done = [e for e in run_street(volume, app_models["street"], work, "s", Limits(max_frames=FRAMES), seed=5,
                                      require_style=True, **style) if e["event"] == "done"][0]
        return done["frames_made"].astype(np.float32)
    finally:
        session.remove_dir(work)


def largest_car(objects: list[dict]) -> dict:
    return max((o for o in objects if o["class"] == "car"), key=lambda o: o["pixels"])


def car_masks(maps: list[np.ndarray], car: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the track's pixels, and the track grown by 12 px (changes beyond it are "away from it")."""
    inside = np.stack(maps) == car["id"]
    near = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((25, 25), np.uint8)) for m in inside]).astype(bool)
    return inside, near


def test_listed_tracks_are_the_engine_inputs_tracks(volume):
    from v2v.inputs.clip import street_clip

    objects, maps = list_objects(volume, FRAMES)
    assert objects and any(o["id"] >= STUFF_TRACK_BASE for o in objects)
    clip = street_clip(volume.labels[:FRAMES], volume.instances[:FRAMES], volume.fps, volume.size)  # as run_street
    tracker = Tracker()
    for item, expected in zip(clip, maps):
        np.testing.assert_array_equal(tracker.update(item["labels"], item["instances"], item["index"]), expected)
    thumbs = thumbnails(objects, maps, np.stack([volume.color(i) for i in range(FRAMES)]))
    assert len(thumbs) == len(objects) and thumbs[0].shape == (96, 96, 3)


def test_reroll_changes_mostly_that_object(volume, app_models):
    objects, maps = list_objects(volume, FRAMES)
    car = largest_car(objects)
    a, b = generate(volume, app_models, rerolls={}), generate(volume, app_models, rerolls={car["id"]: 99})
    inside, near = car_masks(maps, car)
    diff = np.abs(a - b).mean(-1)
    print(f"re-roll: inside {diff[inside].mean():.2f}, away {diff[~near].mean():.3f} grey levels")
    # the rest of the frame stays the plain video (v2v.local_edit); before it, 1.1 grey levels on held-out footage
    assert diff[~near].mean() <= 0.3 and diff[inside].mean() >= 10 * diff[~near].mean()
    assert diff[inside].mean() > 0
    np.testing.assert_array_equal(generate(volume, app_models, rerolls={}), a)  # same seed, same video


@pytest.mark.parametrize("which", ["largest car", "road"])
def test_painting_an_object_changes_mostly_that_object(volume, app_models, which):
    """The colour picker: the selected object gets a colour (models whose style features are colours; the tiny
    random stand-in models have none, and say so). The road covers much of the frame: the style modulation is
    what lets its features through the generators' instance norms."""
    from v2v.errors import UserError

    objects, maps = list_objects(volume, FRAMES)
    track = largest_car(objects) if which == "largest car" else {"id": STUFF_TRACK_BASE + 7}
    if app_models["tiny"]:
        with pytest.raises(UserError, match="not colours"):
            generate(volume, app_models, colors={track["id"]: "#c02020"})
        return
    a, b = generate(volume, app_models, colors={}), generate(volume, app_models, colors={track["id"]: "#c02020"})
    inside, near = car_masks(maps, track)
    diff = np.abs(a - b).mean(-1)
    print(f"paint {which}: inside {diff[inside].mean():.1f}, away {diff[~near].mean():.1f} grey levels")
    assert diff[~near].mean() <= 0.3 and diff[inside].mean() >= 10 * diff[~near].mean()
    assert b[inside][:, 0].mean() > a[inside][:, 0].mean() + 10  # redder


def test_variety_slider_reaches_the_style_sampler(volume, app_models):
    """The Style tab's "Variety" is StyleRequest.spread: 0 gives every object its class's typical look, so the
    video differs from the seed's own draws; 1 is the default."""
    from app.style_tab import make_handlers, new_style_state

    state = make_handlers(Limits())["on_variety"](new_style_state(), 0)
    assert state["spread"] == 0.0
    typical, drawn = generate(volume, app_models, spread=0.0), generate(volume, app_models)
    assert np.abs(typical - drawn).mean() > 0.5
    np.testing.assert_array_equal(generate(volume, app_models, spread=1.0), drawn)
