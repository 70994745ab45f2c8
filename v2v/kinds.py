"""The kinds of video the studio synthesises — street scenes, a person driven by a pose, a talking face — declared
once.

Code asks a kind what it can do (``kinds.get(name).flips``, ``kind.label_ids``) instead of comparing names, so
a new kind is one :class:`Kind` here plus its readers: the media reader of
:data:`v2v.inputs.clip.MEDIA_READERS` and the dataset writer of ``v2v prepare`` (``PREPARERS`` in
:mod:`v2v.commands.prepare`); ``tests/test_kinds.py`` checks that every kind has both.

A model's kind follows its label set (:func:`of_label_set`): the label set a kind declares, else the encoding
(class ids: street; three-channel images: pose; one-channel images: face).
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError
from .labels import LabelSet


@dataclass(frozen=True)
class Kind:
    name: str
    label_set: str  # the label set its datasets and models use unless told otherwise
    label_ids: bool  # label maps hold class ids (one-hot encoded; relabel, paint, recolour); else rendered images
    image_channels: int  # channels of its rendered label images (0 for class-id maps)
    flips: bool  # a horizontal flip is a valid training augmentation (a mirrored skeleton swaps left and right)
    styles: bool  # objects carry instance ids: style banks, re-rolls and colours (v2v style)
    predicts: bool  # its label maps can be continued beyond the last frame (v2v predict)
    keypoints: bool  # its datasets carry pose keypoints: PCK evaluation, normalising a driving pose to the target
    media: str  # what a user brings for it, for messages


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("street", label_set="cityscapes", label_ids=True, image_channels=0, flips=True, styles=True, predicts=True,
         keypoints=False, media="label maps (PNGs, a colourised label video, a scene) or a vid2vid street folder"),
    Kind("pose", label_set="pose", label_ids=False, image_channels=3, flips=False, styles=False, predicts=False,
         keypoints=True, media="a dance video or a prepared pose dataset"),
    Kind("face", label_set="face", label_ids=False, image_channels=1, flips=False, styles=False, predicts=False,
         keypoints=False, media="a talking-head video or a prepared face dataset"),
)}
NAMES = tuple(KINDS)


def get(kind: str | Kind) -> Kind:
    """The kind called ``kind`` (a Kind passes through); UserError naming the known kinds otherwise."""
    if isinstance(kind, Kind):
        return kind
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise UserError(f"kind must be one of {', '.join(NAMES)}, got {kind!r}") from None


def of_label_set(label_set: LabelSet) -> Kind:
    """The kind of a model or dataset with this label set."""
    for k in KINDS.values():
        if k.label_set == label_set.name:
            return k
    if label_set.encoding == "onehot":
        return KINDS["street"]
    for k in KINDS.values():
        if not k.label_ids and k.image_channels == label_set.image_channels:
            return k
    raise UserError(f"label set {label_set.name!r} ({label_set.encoding}, {label_set.image_channels} channels) "
                    f"fits none of the kinds {', '.join(NAMES)}")
