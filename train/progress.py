"""``python -m train.progress``: a demo model's held-out figures against the CPU-hours it has trained, kept as a
record across sessions and drawn as the curve its model card shows.

The record (``docs/progress/NAME.jsonl``) has one line per evaluated export: its steps and CPU-hours in all, the
split it was scored on, whether it is (or was) the shipped model, and its figures as ratios to the real footage
where they need one (sharpness, warping error) — written by ``add`` from a ``python -m v2v evaluate --json`` file
(the rows measured before this tool existed were carried over from the model cards' tables; their ``source`` says
so):

    python -m train.progress add docs/progress/street_256.jsonl --evaluation runs/eval/x.json --split seq0004 --shipped
    python -m train.progress plot docs/progress/street_256.jsonl --out docs/samples/street_256_progress.png

Steps and CPU-hours come from the evaluated export's ``meta.training`` (every run it had, not only the last).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    key: str  # the record's key
    title: str
    target: float | None = None  # the demo target (issue "demo models that look like their footage") ...
    pose_target: bool = False  # ... of the pose models (True) or of the street model (False)
    higher_is_better: bool = True


FIGURES = (
    Figure("kid_x1000", "KID×1000 vs real frames (lower is better)", higher_is_better=False),
    Figure("sharpness_ratio", "sharpness ÷ real", 0.5),
    Figure("motion_ratio", "motion ratio (÷ real)", 0.5),
    Figure("warp_ratio", "warping error ÷ real (lower is better)", 1.3, higher_is_better=False),
    Figure("ssim", "SSIM", 0.75, pose_target=True),
    Figure("pck", "PCK@0.2", 0.9, pose_target=True),
    Figure("pck_moving", "moving-joint PCK@0.2", 0.8, pose_target=True),
    Figure("detected", "person detected (share of frames)", 0.95, pose_target=True),
    Figure("face_sharpness_ratio", "head square: sharpness ÷ real"),
    Figure("hands_sharpness_ratio", "hand squares: sharpness ÷ real"),
)
REFERENCES = {"kid_x1000": (("kid_x1000_other_real", "other real footage"), ("kid_x1000_real_floor", "real-vs-real floor"))}
DRIVING_FIGURES = ("kid_x1000", "kid_x1000_real_floor", "motion_ratio", "mask_mean", "pck", "pck_moving", "detected")
PASSED_THROUGH = ("kid_x1000", "kid_x1000_real_floor", "kid_x1000_other_real", "motion_ratio", "psnr", "ssim",
                  "mask_mean", "pck", "pck_moving", "detected", "face_ssim", "hands_ssim")


class ProgressError(ValueError):
    """A record or evaluation that cannot be used, with what to do about it."""


def figures_of(mean: dict, driving: bool = False) -> dict:
    """The record's figures from an evaluation's per-sequence mean (``v2v evaluate --json`` → ``mean``). Driven by
    another person's video (``driving``), only the figures that do not compare pixels with that person are kept."""
    out = {k: float(mean[k]) for k in PASSED_THROUGH if mean.get(k) is not None}
    for name, real, key in (("sharpness", "sharpness_real", "sharpness_ratio"),
                            ("warp_error", "warp_error_real", "warp_ratio"),
                            ("face_sharpness", "face_sharpness_real", "face_sharpness_ratio"),
                            ("hands_sharpness", "hands_sharpness_real", "hands_sharpness_ratio")):
        if mean.get(name) is not None and mean.get(real):
            out[key] = float(mean[name]) / float(mean[real])
    out = {k: v for k, v in out.items() if math.isfinite(v)}  # NaN: the evaluation had nothing to score there
    if driving:
        out = {k: v for k, v in out.items() if k in DRIVING_FIGURES}
    if not out:
        raise ProgressError("the evaluation has none of the figures a progress record keeps (sharpness, KID, "
                            "motion ratio, warping error, SSIM, PCK); pass the JSON that `v2v evaluate --json` wrote")
    return out


def training_of(export: Path) -> tuple[int, float]:
    """(steps, CPU-hours) in all from an export's ``meta.training``."""
    config = export / "config.json"
    if not config.is_file():
        raise ProgressError(f"{config} not found: the evaluated export must still be there (or pass --steps and "
                            f"--cpu-hours)")
    training = json.loads(config.read_text()).get("meta", {}).get("training")
    if not training or "steps" not in training or "cpu_hours" not in training:
        raise ProgressError(f"{config} has no meta.training (steps, cpu_hours): pass --steps and --cpu-hours")
    return int(training["steps"]), float(training["cpu_hours"])


def read_record(path: Path) -> list[dict]:
    if not path.is_file():
        raise ProgressError(f"progress record {path} not found (`python -m train.progress add` starts one)")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ProgressError(f"{path} line {n} is not JSON ({e}); fix or remove that line") from None
        for key in ("steps", "cpu_hours", "split", "figures"):
            if key not in row:
                raise ProgressError(f"{path} line {n} has no {key!r}; every line needs steps, cpu_hours, split, "
                                    f"figures")
        row.setdefault("branch", "main")
        rows.append(row)
    return rows


def add(record: Path, evaluation: Path, split: str, label: str = "", shipped: bool = False, branch: str = "main",
        driving: bool = False, steps: int | None = None, cpu_hours: float | None = None) -> dict:
    """Append one evaluated export to the record; -> the row written."""
    if not evaluation.is_file():
        raise ProgressError(f"evaluation {evaluation} not found: write it with `python -m v2v evaluate ... --json`")
    try:
        result = json.loads(evaluation.read_text())
    except json.JSONDecodeError as e:
        raise ProgressError(f"{evaluation} is not JSON ({e})") from None
    if "mean" not in result:
        raise ProgressError(f"{evaluation} has no 'mean': pass the JSON that `v2v evaluate --json` wrote")
    if steps is None or cpu_hours is None:
        if "checkpoint" not in result:
            raise ProgressError(f"{evaluation} does not name its checkpoint: pass --steps and --cpu-hours")
        found_steps, found_hours = training_of(Path(result["checkpoint"]))
        steps = found_steps if steps is None else steps
        cpu_hours = found_hours if cpu_hours is None else cpu_hours
    row = {"steps": int(steps), "cpu_hours": round(float(cpu_hours), 3), "split": split, "shipped": bool(shipped),
           "branch": branch, "label": label, "frames": result.get("frames"), "source": str(evaluation),
           "figures": {k: round(v, 5) for k, v in figures_of(result["mean"], driving).items()}}
    if record.is_file():
        read_record(record)  # refuse to append to a record that is already broken
    record.parent.mkdir(parents=True, exist_ok=True)
    with record.open("a") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return row


def plot(record: Path, out: Path, title: str | None = None) -> Path:
    """One panel per figure the record has: a colour per split, a line per branch through its rows in CPU-hour order
    (the main line solid, branches that were not continued dashed), shipped exports filled, the others hollow, the
    target dashed black (and KID's real-footage references dotted). A branch's line starts from the last row of the
    main line before it (the export it was continued from)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_record(record)
    if not rows:
        raise ProgressError(f"{record} has no rows to draw")
    shown = [f for f in FIGURES if any(f.key in r["figures"] for r in rows)]
    splits = list(dict.fromkeys(r["split"] for r in rows))
    pose = any("pck" in r["figures"] for r in rows)
    cols = min(4, len(shown))
    nrows = (len(shown) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, figure in zip(axes.flat, shown):
        for i, split in enumerate(splits):
            c = colors[i % len(colors)]
            of_split = [r for r in rows if r["split"] == split and figure.key in r["figures"]]
            for branch in dict.fromkeys(r["branch"] for r in of_split):
                pts = sorted((r["cpu_hours"], r["figures"][figure.key], r["shipped"]) for r in of_split
                             if r["branch"] == branch)
                main_line = branch == "main"
                if not main_line:
                    before = [(r["cpu_hours"], r["figures"][figure.key], r["shipped"]) for r in of_split
                              if r["branch"] == "main" and r["cpu_hours"] < pts[0][0]]
                    pts = sorted(before)[-1:] + pts
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "-" if main_line else "--", color=c,
                        alpha=0.6 if main_line else 0.35, label=split if main_line else None)
                for x, y, shipped in pts:
                    ax.plot(x, y, "o", color=c, markerfacecolor=c if shipped else "white", markersize=6)
            for ref_key, ref_name in REFERENCES.get(figure.key, ()):
                refs = [r["figures"][ref_key] for r in of_split if ref_key in r["figures"]]
                if refs:
                    ax.axhline(sum(refs) / len(refs), color=c, linestyle=":", linewidth=1)
                    if i == 0:
                        ax.annotate(ref_name, (0.01, sum(refs) / len(refs)), xycoords=("axes fraction", "data"),
                                    fontsize=7, color=c, va="bottom")
        if figure.target is not None and figure.pose_target == pose:
            ax.axhline(figure.target, color="black", linestyle="--", linewidth=1)
            ax.annotate(f"target {'≥' if figure.higher_is_better else '≤'} {figure.target:g}", (1, figure.target),
                        xycoords=("axes fraction", "data"), fontsize=7, ha="right", va="bottom")
        ax.set_title(figure.title, fontsize=9)
        ax.set_xlabel("CPU-hours in all", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title or f"{record.stem}: held-out figures against training (filled: shipped exports)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.progress", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add", help="append an evaluated export to a progress record")
    a.add_argument("record", type=Path)
    a.add_argument("--evaluation", type=Path, required=True, help="the JSON `python -m v2v evaluate --json` wrote")
    a.add_argument("--split", required=True, help="what it was scored on, e.g. seq0004, heldout, musepose")
    a.add_argument("--label", default="")
    a.add_argument("--shipped", action="store_true", help="this export is (or was) the shipped model")
    a.add_argument("--branch", default="main",
                   help="the line it belongs to: main (what the shipped model continues), else a name for an arm or "
                        "run that was not continued")
    a.add_argument("--driving", action="store_true",
                   help="driven by another person's video: keep only KID, motion, mask and pose figures")
    a.add_argument("--steps", type=int, help="steps in all (default: the export's meta.training)")
    a.add_argument("--cpu-hours", type=float, help="CPU-hours in all (default: the export's meta.training)")
    d = sub.add_parser("plot", help="draw a record's curves")
    d.add_argument("record", type=Path)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--title")
    args = p.parse_args(argv)
    try:
        if args.command == "add":
            row = add(args.record, args.evaluation, args.split, args.label, args.shipped, args.branch,
                      args.driving, args.steps, args.cpu_hours)
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(plot(args.record, args.out, args.title))
    except ProgressError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
