"""Procedural street scenes: Cityscapes-id label videos of a camera driving down a street.

The world is built once from a seed and then rendered frame by frame, so every frame of one scene shows the same
buildings, trees and cars, and the same car keeps its instance id in every frame.

Coordinates
-----------
* **Road coordinates** (metres): ``x`` lateral (right is positive; the centre line between the two driving
  directions is ``x = 0``; traffic drives on the right), ``y`` up from the ground, ``s`` distance along the road.
* **Camera**: a pinhole at height ``camera_height`` (1.15-1.3 m, about Cityscapes' 1.2 m) looking down the road; it
  moves forward along ``s`` with the traffic in its lane. The road bends with a constant curvature; the camera
  follows the bend, so in camera space a point at depth ``d`` is shifted sideways by ``bend(d)`` (a parabola near
  the camera that continues as a straight line, i.e. the road turns and then runs straight on).
* **Screen**: ``u = cx + f x / d``, ``v = cy - f y / d`` with ``f = 1.1 W`` (about Cityscapes' field of view) and the
  horizon at ``cy = 0.43 H`` (Cityscapes' camera looks slightly down). Sizes and positions are defined in metres and
  angles, so one seed renders the same scene at any resolution.

Layout
------
The street's proportions follow the Cityscapes label maps the street model is trained on (measured with
:mod:`v2v.label_stats`): tall facades (14-34 m; 10-24 m on green sides) that leave the sky a wedge above the
street, a far skyline that closes the street's end, big street trees, grass strips beside the road or the sidewalk,
fences, low walls and hedges in front of buildings and in their gaps, lamps, signs and traffic lights at the curb,
few pedestrians, and traffic that is mostly ahead of the camera (its own lane's cars 30 m ahead or more, the other
lanes of its direction 20 m, oncoming cars at long gaps, rarely a truck) besides parked cars.

Everything solid is a convex piece given by 8 vertices (boxes, prisms, flat polygons padded by repetition). A piece
is clipped against the near plane, projected, and filled as the convex hull of its projection; pieces are painted
far to near (ground, then buildings, then roadside objects and traffic sorted by their nearest point).
Every car, truck and person has its own instance id (0 where there is none), the same in every frame. Ids are
numbered within blocks of 4096, one block per row of objects (each sidewalk's people, each parking strip, each
lane), so they stay the same when the scene is made longer.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import UserError
from ..labels import CITYSCAPES, colorize

# Cityscapes labelIds used here (see v2v/labels.py).
GROUND, ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE = 6, 7, 8, 11, 12, 13, 17
TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = 19, 20, 21, 22, 23
PERSON, CAR, TRUCK = 24, 26, 27

NEAR = 0.3  # near clipping plane, metres
VIEW_DISTANCE = 420.0  # objects beyond this are not drawn (a few pixels at most)
GROUND_DISTANCE = 2000.0
BEND_STRAIGHT = 150.0  # beyond this depth the bend continues as a straight line
INSTANCE_BLOCK = 4096  # instance ids per object stream; 16 streams fit 16 bits
CULL_MARGIN = 60.0  # metres; longer than any object
LANE = 3.3
PARKING = 2.4
FOCAL = 1.1  # focal length in image widths (Cityscapes: 2262 px at 2048)
HORIZON = 0.43  # horizon row in image heights (Cityscapes' camera looks slightly down)

# Layers are painted in this order; within the object layer pieces go far to near.
LAYER_GROUND, LAYER_MARKINGS, LAYER_BUILDINGS, LAYER_OBJECTS = 0, 1, 2, 3

_PAIRS = np.array([(i, j) for i in range(8) for j in range(i + 1, 8)])


def box(x0: float, x1: float, y0: float, y1: float, s0: float, s1: float) -> np.ndarray:
    """(8, 3) vertices of an axis-aligned box in road coordinates."""
    return np.array([(x, y, s) for x in (x0, x1) for y in (y0, y1) for s in (s0, s1)], dtype=np.float64)


def flat(points_xy: np.ndarray, s: float) -> np.ndarray:
    """(8, 3) vertices of a flat convex polygon (k <= 8 points in x, y) standing across the road at ``s``."""
    pts = np.asarray(points_xy, dtype=np.float64)
    pts = np.concatenate([pts, np.repeat(pts[-1:], 8 - len(pts), 0)])
    return np.column_stack([pts, np.full(8, s)])


def octagon(cx: float, cy: float, rx: float, ry: float | None = None) -> np.ndarray:
    a = np.arange(8) * np.pi / 4 + np.pi / 8
    return np.column_stack([cx + rx * np.cos(a), cy + (ry or rx) * np.sin(a)])


@dataclass
class Pieces:
    """Convex pieces of the world: ``verts`` (M, 8, 3) road coordinates at time 0, moving along ``s`` at ``speed``
    m/s. Pieces of one object share a ``group`` (they are sorted together). ``swing`` (M, 8) moves single vertices
    along ``s`` (legs of walking people) by ``swing * sin(rate * time + phase)`` and lifts them by ``lift`` times its
    positive part."""
    verts: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    layer: np.ndarray
    group: np.ndarray
    speed: np.ndarray
    swing: np.ndarray
    lift: np.ndarray
    rate: np.ndarray
    phase: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    @property
    def groups_end(self) -> int:
        """One past the largest group id."""
        return int(self.group.max()) + 1 if len(self.group) else 1


class _PieceList:
    """Accumulates pieces while the world is built."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.groups = 0
        self.block = 0
        self.used: dict[int, int] = {}

    def new_group(self) -> int:
        self.groups += 1
        return self.groups

    def instance_block(self, block: int) -> None:
        """Number the next objects inside ``block``: ids ``1 + block * BLOCK + i``. Each stream of objects (the
        people of one sidewalk, the cars of one lane...) has its own block, so an object's id does not depend on
        how many objects other streams made (a longer scene keeps the ids of a shorter one)."""
        self.block = block

    def new_instance(self) -> int:
        i = self.used.get(self.block, 0)
        if i >= INSTANCE_BLOCK - 1:
            raise UserError(f"this scene has more than {INSTANCE_BLOCK - 1} objects in one row, too many for "
                            "16-bit instance ids; render fewer frames")
        self.used[self.block] = i + 1
        return 1 + self.block * INSTANCE_BLOCK + i

    def add(self, verts, label, layer, group, instance=0, speed=0.0, swing=None, lift=0.0, rate=0.0, phase=0.0):
        swing = np.zeros(8) if swing is None else np.asarray(swing, dtype=np.float64)
        self.rows.append((verts, label, instance, layer, group, speed, swing, lift, rate, phase))

    def finish(self) -> Pieces:
        if not self.rows:
            z = np.zeros(0)
            return Pieces(np.zeros((0, 8, 3)), z.astype(np.uint8), z.astype(np.int32), z.astype(np.int8),
                          z.astype(np.int64), z, np.zeros((0, 8)), z, z, z)
        cols = list(zip(*self.rows))
        return Pieces(
            verts=np.stack(cols[0]), label=np.array(cols[1], np.uint8), instance=np.array(cols[2], np.int32),
            layer=np.array(cols[3], np.int8), group=np.array(cols[4], np.int64), speed=np.array(cols[5]),
            swing=np.stack(cols[6]), lift=np.array(cols[7]), rate=np.array(cols[8]), phase=np.array(cols[9]))


@dataclass
class Side:
    """One side of the street, ``sign`` +1 for the right, -1 for the left. Widths in metres."""
    sign: int
    curb: float  # |x| of the road edge
    sidewalk: float
    verge: float  # terrain strip between sidewalk and buildings (0: none)
    green: bool  # fewer buildings, more trees
    strip: float = 0.0  # grass strip between the road and the sidewalk, where the trees stand (0: none)

    @property
    def walk(self) -> float:
        """|x| of the sidewalk's inner edge."""
        return self.curb + self.strip

    @property
    def building_line(self) -> float:
        return self.curb + self.strip + self.sidewalk + self.verge


@dataclass
class World:
    seed: int
    frames: int
    fps: float
    camera_speed: float  # m/s
    camera_lane_x: float
    camera_height: float
    curvature: float  # 1/m, positive bends right
    sides: tuple[Side, Side]  # left, right
    pieces: Pieces
    skyline: list[tuple[float, float, float, int]]  # (angle0, angle1, top angle, label) rectangles
    skyline_blobs: list[tuple[float, float, float]]  # (angle x, angle y, radius) vegetation blobs
    stats: dict = field(default_factory=dict)

    def camera(self, frame: float) -> tuple[float, float]:
        """(x, s) of the camera at a frame index: forward at constant speed, swaying a little within the lane."""
        t = frame / self.fps
        return self.camera_lane_x + 0.15 * np.sin(2 * np.pi * t / 7.0), self.camera_speed * t

    def summary(self) -> dict:
        return {"camera_speed_mps": round(self.camera_speed, 3), "curvature_per_m": round(self.curvature, 6),
                "camera_height_m": self.camera_height, **self.stats}


# --------------------------------------------------------------------------------------------------- world building
def build_world(seed: int, frames: int, fps: float = 17.0, markings: bool = False) -> World:
    """Lay out a street for ``frames`` frames of driving, deterministically from ``seed``.

    Every stream of objects (buildings on one side, cars in one lane...) draws from its own random generator and
    is laid out from a fixed start along the road, so a longer scene with the same seed begins with the same
    street, traffic and instance ids as a shorter one."""
    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    rng = stream(0)
    lanes_fwd, lanes_back = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    park_right, park_left = bool(rng.random() < 0.45), bool(rng.random() < 0.4)
    curb_r = lanes_fwd * LANE + (PARKING if park_right else 0.0)
    curb_l = lanes_back * LANE + (PARKING if park_left else 0.0)
    sides = []
    for sign, curb in ((-1, curb_l), (1, curb_r)):
        green = bool(rng.random() < 0.25)
        verge = float(rng.uniform(2.0, 7.0)) if (green or rng.random() < 0.4) else 0.0
        strip = float(rng.uniform(1.0, 2.5)) if rng.random() < 0.5 else 0.0
        sides.append(Side(sign, curb, float(rng.uniform(2.5, 5.0)), verge, green, strip))
    cam_lane = int(rng.integers(lanes_fwd))
    speed = float(rng.uniform(7.0, 12.0))
    curvature = 0.0 if rng.random() < 0.35 else float(rng.choice([-1, 1]) * rng.uniform(4e-4, 1.6e-3))
    lane_speeds = [speed + (float(rng.uniform(0.8, 2.5)) if lane == cam_lane else float(rng.uniform(-2.5, 3.0)))
                   for lane in range(lanes_fwd)] + [-float(rng.uniform(8.0, 14.0)) for _ in range(lanes_back)]
    world = World(seed=seed, frames=frames, fps=fps, camera_speed=speed, camera_lane_x=(cam_lane + 0.5) * LANE,
                  camera_height=float(rng.uniform(1.15, 1.3)), curvature=curvature, sides=(sides[0], sides[1]),
                  pieces=None, skyline=[], skyline_blobs=[])  # type: ignore[arg-type]

    duration = frames / fps
    s_lo, s_hi = -40.0, speed * duration + VIEW_DISTANCE
    out = _PieceList()
    counts = {"buildings": 0, "trees": 0, "poles": 0, "cars": 0, "people": 0}
    for k, side in enumerate(sides):
        counts["buildings"] += _buildings(out, stream(10 + k), side, s_lo, s_hi)
        counts["trees"] += _trees(out, stream(12 + k), side, s_lo, s_hi)
        counts["poles"] += _poles(out, stream(14 + k), side, s_lo, s_hi)
        out.instance_block(k)
        counts["people"] += _people(out, stream(16 + k), side, s_lo, s_hi)
    for k, (sign, park) in enumerate(((-1, park_left), (1, park_right))):
        if park:
            out.instance_block(2 + k)
            x = sign * (sides[k].curb - PARKING / 2)
            counts["cars"] += _parked_cars(out, stream(18 + k), x, s_lo, s_hi)
    for lane, v in enumerate(lane_speeds):
        out.instance_block(4 + lane)
        x = (lane + 0.5) * LANE if lane < lanes_fwd else -(lane - lanes_fwd + 0.5) * LANE
        # lanes of the camera's direction start ahead of it (its own lane further); oncoming cars come at gaps
        start = (30.0 if lane == cam_lane else 20.0) if lane < lanes_fwd else None
        gap = (15.0, 90.0) if lane < lanes_fwd else (30.0, 150.0)
        counts["cars"] += _traffic(out, stream(20 + 2 * lane), stream(21 + 2 * lane), x, v, speed, duration, start,
                                   gap)
    if markings:
        _markings(out, lanes_fwd, lanes_back, s_lo, s_hi)
    world.pieces = out.finish()
    world.skyline, world.skyline_blobs = _skyline(stream(1))
    world.stats = {"lanes": [lanes_back, lanes_fwd], **counts}
    return world


def _buildings(out: _PieceList, rng, side: Side, s_lo: float, s_hi: float) -> int:
    """Buildings along the building line, some behind a front garden with a fence, wall or hedge; in the gaps
    between them a hedge, bushes or a fence."""
    n, s = 0, s_lo
    gap_p = 0.45 if side.green else 0.12
    line = side.building_line
    while s < s_hi:
        if rng.random() < gap_p:
            length = float(rng.uniform(4.0, 16.0))
            kind = rng.random()
            if kind < 0.35:  # a hedge or bushes in the gap
                x0 = line + float(rng.uniform(0.0, 2.0))
                g = out.new_group()
                out.add(_side_box(side, x0, x0 + 2.0, 0.0, float(rng.uniform(1.2, 3.5)), s, s + length),
                        VEGETATION, LAYER_BUILDINGS, g)
            elif kind < 0.6:
                _boundary(out, rng, side, line, s, s + length, FENCE)
        else:
            length = float(rng.uniform(8.0, 35.0))
            garden = rng.random() < 0.35
            x0 = line + (float(rng.uniform(1.5, 4.0)) if garden else
                         float(rng.uniform(0.0, 1.5)) if rng.random() < 0.5 else 0.0)
            height = float(rng.uniform(10.0, 24.0) if side.green else rng.uniform(14.0, 34.0))
            g = out.new_group()
            out.add(_side_box(side, x0, x0 + float(rng.uniform(10.0, 20.0)), 0.0, height, s, s + length),
                    BUILDING, LAYER_BUILDINGS, g)
            if garden:
                kind = rng.random()
                _boundary(out, rng, side, line, s, s + length, FENCE if kind < 0.55 else WALL if kind < 0.75
                          else VEGETATION, g)
            n += 1
        s += length
    return n


def _boundary(out: _PieceList, rng, side: Side, x: float, s0: float, s1: float, label: int,
              group: int | None = None) -> None:
    """A fence, low wall or hedge along ``|x| = x`` (in front of the building of ``group``, painted after it)."""
    thick = 0.8 if label == VEGETATION else 0.2
    h = float(rng.uniform(1.0, 2.0))
    out.add(_side_box(side, x, x + thick, 0.0, h, s0, s1), label, LAYER_BUILDINGS,
            out.new_group() if group is None else group)


def _side_box(side: Side, x0: float, x1: float, y0: float, y1: float, s0: float, s1: float) -> np.ndarray:
    """A box between |x| = x0 and x1 on this side."""
    a, b = sorted((side.sign * x0, side.sign * x1))
    return box(a, b, y0, y1, s0, s1)


def _tree(out: _PieceList, rng, x: float, s: float) -> None:
    g = out.new_group()
    trunk_h = float(rng.uniform(2.5, 4.5))
    out.add(box(x - 0.15, x + 0.15, 0.0, trunk_h + 0.5, s - 0.15, s + 0.15), VEGETATION, LAYER_OBJECTS, g)
    radius = float(rng.uniform(1.8, 3.5))
    for _ in range(int(rng.integers(3, 6))):  # a crown made of a few overlapping blobs
        r = radius * float(rng.uniform(0.55, 0.9))
        cx = x + float(rng.uniform(-0.6, 0.6)) * radius
        cy = trunk_h + radius + float(rng.uniform(-0.5, 0.6)) * radius
        out.add(flat(octagon(cx, cy, r, r * float(rng.uniform(0.8, 1.1))), s), VEGETATION, LAYER_OBJECTS, g)


def _trees(out: _PieceList, rng, side: Side, s_lo: float, s_hi: float) -> int:
    if not side.green and rng.random() < 0.4:
        return 0
    spacing = (7.0, 14.0) if side.green else (10.0, 30.0)
    if side.strip:
        offset = side.curb + side.strip / 2
    elif side.verge:
        offset = side.walk + side.sidewalk + side.verge / 2
    else:
        offset = side.walk + side.sidewalk * 0.75
    n, s = 0, s_lo + float(rng.uniform(0, spacing[1]))
    while s < s_hi:
        if rng.random() < 0.85:
            _tree(out, rng, side.sign * (offset + float(rng.uniform(-0.3, 0.3))), s)
            n += 1
        s += float(rng.uniform(*spacing))
    return n


def _sign(out: _PieceList, rng, x: float, s: float, h: float, g: int) -> None:
    """A traffic sign (round, square or a wider direction sign) whose top is at height ``h``, facing the camera."""
    kind = rng.random()
    if kind < 0.2:
        w, t = float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.4, 0.7))
        shape = np.array([(x - w, h - t), (x + w, h - t), (x + w, h), (x - w, h)])
    else:
        r = float(rng.uniform(0.3, 0.5))
        shape = octagon(x, h - r, r) if kind < 0.6 else np.array(
            [(x - r, h - 2 * r), (x + r, h - 2 * r), (x + r, h), (x - r, h)])
    out.add(flat(shape, s - 0.06), TRAFFIC_SIGN, LAYER_OBJECTS, g)


def _poles(out: _PieceList, rng, side: Side, s_lo: float, s_hi: float) -> int:
    n, s = 0, s_lo + float(rng.uniform(0, 30))
    x = side.sign * (side.curb + 0.45)
    while s < s_hi:
        g = out.new_group()
        kind = rng.random()
        if kind < 0.5:  # street lamp with an arm over the road, now and then with a sign
            h = float(rng.uniform(7.0, 9.0))
            out.add(box(x - 0.1, x + 0.1, 0.0, h, s - 0.1, s + 0.1), POLE, LAYER_OBJECTS, g)
            a, b = sorted((x, x - side.sign * 1.8))
            out.add(box(a, b, h - 0.15, h, s - 0.07, s + 0.07), POLE, LAYER_OBJECTS, g)
            if rng.random() < 0.35:
                _sign(out, rng, x, s, float(rng.uniform(2.8, 3.4)), g)
        elif kind < 0.85:  # traffic sign, one or two on a post
            h = float(rng.uniform(2.6, 3.4))
            out.add(box(x - 0.05, x + 0.05, 0.0, h, s - 0.05, s + 0.05), POLE, LAYER_OBJECTS, g)
            _sign(out, rng, x, s, h, g)
            if rng.random() < 0.3:
                _sign(out, rng, x, s, h - 1.1, g)
        else:  # traffic light
            h = float(rng.uniform(3.5, 4.5))
            out.add(box(x - 0.07, x + 0.07, 0.0, h, s - 0.07, s + 0.07), POLE, LAYER_OBJECTS, g)
            out.add(box(x - 0.2, x + 0.2, h - 0.1, h + 1.0, s - 0.2, s + 0.1), TRAFFIC_LIGHT, LAYER_OBJECTS, g)
        n += 1
        s += float(rng.uniform(15.0, 40.0))
    return n


def _person(out: _PieceList, rng, x: float, s: float, speed: float) -> None:
    g, inst = out.new_group(), out.new_instance()
    h = float(rng.uniform(1.6, 1.9))
    head_r = 0.11 * h / 1.75
    hip = 0.5 * h
    rate = 2 * np.pi * 1.8 * abs(speed) / 1.3
    phase = float(rng.uniform(0, 2 * np.pi))
    common = dict(label=PERSON, layer=LAYER_OBJECTS, group=g, instance=inst, speed=speed)
    out.add(flat(octagon(x, h - head_r, head_r), s), **common)
    torso = [(x - 0.22, h - 2.2 * head_r), (x + 0.22, h - 2.2 * head_r), (x + 0.2, hip - 0.05), (x - 0.2, hip - 0.05)]
    out.add(flat(torso, s), **common)
    feet = np.array([0, 0, 1, 1, 1, 1, 1, 1], dtype=np.float64)  # vertices 2.. are the foot (padding repeats it)
    for k, (a, b) in enumerate(((x - 0.17, x - 0.02), (x + 0.02, x + 0.17))):
        leg = [(a, hip), (b, hip), (b - 0.01, 0.0), (a + 0.01, 0.0)]
        amp = 0.3 if speed else 0.0
        out.add(flat(leg, s), swing=amp * feet, lift=0.08 if speed else 0.0, rate=rate, phase=phase + k * np.pi,
                **common)


def _people(out: _PieceList, rng, side: Side, s_lo: float, s_hi: float) -> int:
    density = float(rng.uniform(0.001, 0.007))  # people per metre of sidewalk
    n, s = 0, s_lo + float(rng.exponential(1 / density))
    while s < s_hi:
        x = side.sign * (side.walk + float(rng.uniform(0.5, side.sidewalk - 0.3)))
        speed = 0.0 if rng.random() < 0.3 else float(rng.choice([-1, 1]) * rng.uniform(0.9, 1.6))
        _person(out, rng, x, s, speed)
        n += 1
        s += float(rng.exponential(1 / density))
    return n


def _car(out: _PieceList, rng, x: float, s0: float, speed: float, forward: bool, ends_at: bool = False) -> float:
    """A car (or now and then a truck) spanning ``s0`` .. ``s0 + length`` (``ends_at``: ``s0 - length`` .. ``s0``);
    returns its length."""
    g, inst = out.new_group(), out.new_instance()
    common = dict(layer=LAYER_OBJECTS, group=g, instance=inst, speed=speed)
    if rng.random() < 0.01:  # truck: cab and cargo box
        length, w = float(rng.uniform(6.5, 9.0)), 1.25
        s0 = s0 - length if ends_at else s0
        cab = (s0 + length - 2.0, s0 + length) if forward else (s0, s0 + 2.0)
        cargo = (s0, s0 + length - 2.2) if forward else (s0 + 2.2, s0 + length)
        out.add(box(x - w, x + w, 0.35, 2.6, *cab), label=TRUCK, **common)
        out.add(box(x - w, x + w, 0.35, float(rng.uniform(3.0, 3.6)), *cargo), label=TRUCK, **common)
        for ws in (s0 + 1.0, s0 + length - 1.5):
            out.add(box(x - w + 0.05, x + w - 0.05, 0.0, 0.5, ws, ws + 0.8), label=TRUCK, **common)
        return length
    length, w = float(rng.uniform(4.0, 4.9)), float(rng.uniform(0.85, 0.95))
    s0 = s0 - length if ends_at else s0
    roof = float(rng.uniform(1.4, 1.75)) if rng.random() < 0.2 else float(rng.uniform(1.35, 1.5))
    out.add(box(x - w, x + w, 0.28, 0.95, s0, s0 + length), label=CAR, **common)
    lo, hi = (0.15, 0.8) if forward else (0.2, 0.85)  # cabin towards the rear, bonnet in front
    b0, b1 = s0 + lo * length, s0 + hi * length
    t0, t1 = b0 + 0.12 * length, b1 - 0.1 * length
    cabin = np.array([(x - w + 0.06, 0.95, b0), (x - w + 0.06, 0.95, b1), (x + w - 0.06, 0.95, b0),
                      (x + w - 0.06, 0.95, b1), (x - w + 0.2, roof, t0), (x - w + 0.2, roof, t1),
                      (x + w - 0.2, roof, t0), (x + w - 0.2, roof, t1)])
    out.add(cabin, label=CAR, **common)
    for wx in ((x - w + 0.02, x - w + 0.3), (x + w - 0.3, x + w - 0.02)):
        for ws in (s0 + 0.55, s0 + length - 1.2):
            out.add(box(wx[0], wx[1], 0.0, 0.4, ws, ws + 0.65), label=CAR, **common)
    return length


def _parked_cars(out: _PieceList, rng, x: float, s_lo: float, s_hi: float) -> int:
    n, s = 0, s_lo + float(rng.uniform(0, 5))
    occupancy = float(rng.uniform(0.1, 0.5))
    while s < s_hi:
        if rng.random() < occupancy:
            s += _car(out, rng, x + float(rng.uniform(-0.15, 0.15)), s, 0.0, x > 0)
            n += 1
        else:
            s += 5.5
        s += float(rng.uniform(0.8, 4.0))
    return n


def _traffic(out: _PieceList, rng_ahead, rng_behind, x: float, speed: float, cam_speed: float, duration: float,
             start: float | None, gap: tuple[float, float] = (15.0, 90.0)) -> int:
    """Cars in one lane, all at ``speed`` so they never collide, ``gap`` metres apart, laid out at time 0 from
    ``start`` (default 0) forwards (``rng_ahead``) and backwards (``rng_behind``). With ``start`` (the lanes of the
    camera's direction) no car is closer than it at time 0 and none is behind the camera."""
    # rear positions at time 0 such that the car is in the camera's view at some time
    ends = [-30.0 - speed * t + cam_speed * t for t in (0.0, duration)] + \
           [VIEW_DISTANCE - speed * t + cam_speed * t for t in (0.0, duration)]
    lo, hi = min(ends), max(ends)
    anchor = 0.0 if start is None else start
    n, s = 0, anchor + float(rng_ahead.uniform(0, 20))
    while s < hi:
        s += _car(out, rng_ahead, x, s, speed, speed > 0) + float(rng_ahead.uniform(*gap))
        n += 1
    if start is None:
        s = anchor - float(rng_behind.uniform(*gap))
        while s > lo:
            s -= _car(out, rng_behind, x, s, speed, speed > 0, ends_at=True) + float(rng_behind.uniform(*gap))
            n += 1
    return n


def _markings(out: _PieceList, lanes_fwd: int, lanes_back: int, s_lo: float, s_hi: float) -> None:
    """Dashed lane lines between lanes of one direction and a dashed centre line, as 'ground' pieces."""
    xs = [0.0] + [k * LANE for k in range(1, lanes_fwd)] + [-k * LANE for k in range(1, lanes_back)]
    for x in xs:
        for s in np.arange(s_lo, s_hi, 9.0):
            out.add(box(x - 0.08, x + 0.08, 0.0, 0.0, s, s + 3.0), GROUND, LAYER_MARKINGS, 0)


def _skyline(rng) -> tuple[list, list]:
    """Distant buildings and tree tops along the horizon, in angles (radians from the optical axis)."""
    rects, blobs, a = [], [], -1.2
    while a < 1.2:
        w = float(rng.uniform(0.01, 0.06))
        if rng.random() < 0.55:
            rects.append((a, a + w, float(rng.uniform(0.04, 0.14)), BUILDING))
        else:
            for _ in range(int(rng.integers(1, 4))):
                r = float(rng.uniform(0.015, 0.045))
                blobs.append((a + float(rng.uniform(0, w)), r * float(rng.uniform(0.2, 0.9)), r))
        a += w
    return rects, blobs


# --------------------------------------------------------------------------------------------------------- rendering
def _bend(d: np.ndarray, curvature: float) -> np.ndarray:
    dd = np.clip(d, 0.0, None)
    near = np.minimum(dd, BEND_STRAIGHT)
    return curvature * (near ** 2 / 2 + BEND_STRAIGHT * (dd - near))


def _ground(world: World, cam_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, 8, 3) ground strips and their (M,) labels (terrain, verges, sidewalks, road) for the current camera
    position, each strip split in depth so that the bend shows."""
    left, right = world.sides
    xs = [(-left.curb, right.curb, ROAD)]
    for side in (left, right):  # from the curb outwards: grass strip, sidewalk, verge, beyond the buildings
        edges = np.cumsum([side.curb, side.strip, side.sidewalk, side.verge, 400.0])
        for a, b, lab in zip(edges[:-1], edges[1:], (TERRAIN, SIDEWALK, TERRAIN, TERRAIN)):
            xs.append(tuple(sorted((side.sign * a, side.sign * b))) + (lab,))
    xs = [r for r in xs if r[1] > r[0]]
    d = np.geomspace(NEAR, GROUND_DISTANCE, 41)
    d0, d1 = d[:-1], d[1:]
    strips = []
    labels = []
    for x0, x1, lab in xs:
        v = np.zeros((len(d0), 8, 3))
        v[:, :, 0] = np.where(np.arange(8) < 4, x0, x1)
        v[:, :, 2] = cam_s + np.where(np.arange(8) % 2 == 0, d0[:, None], d1[:, None])
        strips.append(v)
        labels.append(np.full(len(d0), lab, np.uint8))
    return np.concatenate(strips), np.concatenate(labels)


def _project(world: World, verts: np.ndarray, cam_x: float, cam_s: float, f: float, cx: float, cy: float):
    """Clip pieces (M, 8, 3) at the near plane and project. Returns screen points (M, 36, 2) and validity (M, 36):
    the 8 vertices in front of the camera plus the edges' crossings of the near plane."""
    d = verts[..., 2] - cam_s
    vi, vj = verts[:, _PAIRS[:, 0]], verts[:, _PAIRS[:, 1]]
    di, dj = d[:, _PAIRS[:, 0]], d[:, _PAIRS[:, 1]]
    crosses = (di - NEAR) * (dj - NEAR) < 0
    t = np.where(crosses, (NEAR - di) / np.where(crosses, dj - di, 1.0), 0.0)
    cut = vi + t[..., None] * (vj - vi)
    pts = np.concatenate([verts, cut], 1)
    valid = np.concatenate([d >= NEAR, crosses], 1)
    depth = np.maximum(pts[..., 2] - cam_s, NEAR)
    x = pts[..., 0] - cam_x + _bend(depth, world.curvature)
    y = pts[..., 1] - world.camera_height
    uv = np.stack([cx + f * x / depth, cy - f * y / depth], -1)
    return np.clip(uv, -1e7, 1e7), valid


def _fill(labels: np.ndarray, instances: np.ndarray, uv: np.ndarray, valid: np.ndarray, label: np.ndarray,
          instance: np.ndarray, order: np.ndarray) -> None:
    w, h = labels.shape[1], labels.shape[0]
    fixed = np.round(uv * 16).astype(np.int64)
    lo = np.where(valid[..., None], uv, np.inf).min(1)
    hi = np.where(valid[..., None], uv, -np.inf).max(1)
    visible = valid.sum(1) >= 2
    visible &= (hi[:, 0] >= 0) & (lo[:, 0] < w) & (hi[:, 1] >= 0) & (lo[:, 1] < h)
    for m in order:  # one polygon per piece (a few hundred per frame), never per pixel
        if not visible[m]:
            continue
        hull = cv2.convexHull(fixed[m][valid[m]].astype(np.int32))
        cv2.fillConvexPoly(labels, hull, int(label[m]), cv2.LINE_8, 4)
        cv2.fillConvexPoly(instances, hull, int(instance[m]), cv2.LINE_8, 4)


def render_frame(world: World, frame: int, width: int, height: int) -> dict:
    """Label ids (H, W) uint8 and instance ids (H, W) uint16 of one frame."""
    f, cx, cy = FOCAL * width, (width - 1) / 2, HORIZON * height
    cam_x, cam_s = world.camera(frame)
    t = frame / world.fps
    labels = np.full((height, width), SKY, np.uint8)
    instances = np.zeros((height, width), np.uint16)
    horizon = int(np.floor(cy)) + 2
    for a0, a1, top, lab in world.skyline:
        u0, u1 = int(round(cx + f * a0)), int(round(cx + f * a1))
        if u1 >= 0 and u0 < width:
            labels[max(int(round(cy - f * top)), 0):horizon, max(u0, 0):max(u1, 0)] = lab
    for ax, ay, r in world.skyline_blobs:
        cv2.circle(labels, (int(round(cx + f * ax)), int(round(cy - f * ay))), max(int(round(f * r)), 1),
                   VEGETATION, -1)
    labels[horizon:] = TERRAIN

    ground, ground_labels = _ground(world, cam_s)
    uv, valid = _project(world, ground, cam_x, cam_s, f, cx, cy)
    _fill(labels, instances, uv, valid, ground_labels, np.zeros(len(ground), np.int32), np.arange(len(ground)))

    p = world.pieces
    if len(p) == 0:
        return {"labels": labels, "instances": instances}
    # cheap cull on the pieces' extent along the road first (long scenes hold many thousands of pieces); the
    # margin keeps whole objects (all shorter than it) together for the group sort below
    s_lo, s_hi = p.verts[:, :, 2].min(1), p.verts[:, :, 2].max(1)
    moved = p.speed * t - cam_s
    reach = np.abs(p.swing).max(1)
    cand = np.nonzero((s_hi + moved + reach >= NEAR - CULL_MARGIN) &
                      (s_lo + moved - reach <= VIEW_DISTANCE + CULL_MARGIN))[0]
    verts = p.verts[cand]
    wave = np.sin(p.rate[cand] * t + p.phase[cand])
    swing = p.swing[cand]
    verts[..., 2] += (p.speed[cand] * t)[:, None] + swing * wave[:, None]
    verts[..., 1] += swing.astype(bool) * (p.lift[cand] * np.maximum(wave, 0.0))[:, None]
    d = verts[..., 2] - cam_s
    near, far = d.min(1), d.max(1)
    group, layer = p.group[cand], p.layer[cand]
    # an object is sorted by its nearest point; pieces of one group share the group's key
    key = np.full(p.groups_end, np.inf)
    np.minimum.at(key, group, near)
    group_near = np.where(group > 0, key[group], near)
    keep = np.nonzero((far >= NEAR) & (group_near <= VIEW_DISTANCE))[0]
    depth_key = np.where(layer[keep] >= LAYER_BUILDINGS, -group_near[keep], 0.0)
    order = keep[np.lexsort((keep, group[keep], depth_key, layer[keep]))]
    uv, valid = _project(world, verts[order], cam_x, cam_s, f, cx, cy)
    _fill(labels, instances, uv, valid, p.label[cand][order], p.instance[cand][order], np.arange(len(order)))
    return {"labels": labels, "instances": instances}


# ----------------------------------------------------------------------------------------------------------- writing
MAX_FRAMES = 20_000  # 20 minutes at 17 fps
MAX_SIDE = 8192


def check_scene_args(frames: int, size: tuple[int, int], fps: float) -> None:
    if not 1 <= frames <= MAX_FRAMES:
        raise UserError(f"--frames must be between 1 and {MAX_FRAMES}, got {frames}")
    w, h = size
    if not (16 <= w <= MAX_SIDE and 16 <= h <= MAX_SIDE):
        raise UserError(f"scene size {w}x{h} is out of range; width and height must be 16..{MAX_SIDE}")
    if not fps > 0:
        raise UserError(f"--fps must be positive, got {fps}")


def write_scene(out: str | Path, frames: int, size: tuple[int, int], seed: int, fps: float = 17.0,
                markings: bool = False, overwrite: bool = False, preview: bool = True,
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Render a scene into ``out``: ``labels/000000.png`` (8-bit Cityscapes ids), ``instances/000000.png`` (16-bit,
    0 = none), ``labels_color.mp4`` (colourised preview, unless ``preview`` is False) and ``scene.json``.

    The folder is written under a temp name next to ``out`` and renamed when complete. Returns the report that is
    also stored in scene.json, with timing (``seconds``, ``frames_per_s``) added.
    """
    check_scene_args(frames, size, fps)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UserError(f"output folder {out} already exists and is not empty; choose another or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    start = time.perf_counter()
    try:
        world = build_world(seed, frames, fps, markings)
        (tmp / "labels").mkdir()
        (tmp / "instances").mkdir()
        writer = None
        if preview:
            from ..video import VideoWriter

            writer = VideoWriter(tmp / "labels_color.mp4", fps)
        present = np.zeros(256, bool)
        try:
            for i in range(frames):
                r = render_frame(world, i, *size)
                present[np.unique(r["labels"])] = True
                for what in ("labels", "instances"):
                    if not cv2.imwrite(str(tmp / what / f"{i:06d}.png"), r[what]):
                        raise OSError(f"could not write {what} frame {i} into {tmp}")
                if writer is not None:
                    writer.write(colorize(r["labels"], CITYSCAPES))
                if progress is not None:
                    progress(i + 1, frames)
            if writer is not None:
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        seconds = time.perf_counter() - start
        report = {"frames": frames, "size": list(size), "seed": seed, "fps": fps, "markings": markings,
                  "label_set": "cityscapes",
                  "classes": [CITYSCAPES.names[i] for i in np.nonzero(present)[0] if i < CITYSCAPES.num_classes],
                  "world": world.summary(), "seconds": round(seconds, 3),
                  "frames_per_s": round(frames / max(seconds, 1e-9), 2)}
        (tmp / "scene.json").write_text(json.dumps(report, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report["out"] = str(out)
    return report
