"""``python -m v2v info --preset NAME``: parameter counts per network, as JSON."""
from __future__ import annotations

import json

import torch

from ..config import GENERATOR_NORMS
from ..nn.blocks import count_parameters


def register(sub) -> None:
    p = sub.add_parser("info", help="parameter counts of a preset's networks (JSON)")
    p.add_argument("--preset", required=True)
    p.add_argument("--norm", choices=GENERATOR_NORMS, help="override the preset's normalisation")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="other config overrides")
    p.set_defaults(run=run)


def network_sizes(cfg) -> dict:
    from ..nn.build import build_discriminators, build_generators

    with torch.device("meta"):  # shapes only: the 2048 model has over 400 M parameters
        gens = build_generators(cfg)
        discs = build_discriminators(cfg)
    sizes = {f"G{s}": count_parameters(net) for s, net in enumerate(gens["generator"].scales)}
    for name in ("first_frame", "encoder"):
        if name in gens:
            sizes[name] = count_parameters(gens[name])
    sizes["D"] = count_parameters(discs["image"])
    for s, net in enumerate(discs["temporal"].nets):
        sizes[f"D_T{s}"] = count_parameters(net)
    return sizes


def run(args) -> int:
    from ..config import to_dict
    from ..presets import model_preset

    overrides = dict(kv.split("=", 1) for kv in args.set)
    if args.norm:
        overrides["norm"] = args.norm
    cfg = model_preset(args.preset, overrides)
    sizes = network_sizes(cfg)
    print(json.dumps({"preset": args.preset, "networks": sizes, "total": sum(sizes.values()),
                      "config": to_dict(cfg)}, indent=1))
    return 0
