"""``python -m v2v convert-nvidia --preset label2city_2048 --g0 latest_net_G0.pth [--g1 ...] [--g2 ...]
[--single-g latest_net_G_2048.pth] --out MODEL``: NVIDIA vid2vid checkpoints -> an exported v2v model folder
(see :mod:`v2v.checkpoint_nvidia`). Give G0, G0+G1 or G0+G1+G2 (the model then has 1, 2 or 3 scales); without the
single G the first frames are generated from blank history, as the reference's ``--no_first_img``."""
from __future__ import annotations

import json

from ..errors import UserError


def register(sub) -> None:
    p = sub.add_parser("convert-nvidia", help="convert NVIDIA vid2vid generator checkpoints into a v2v model")
    p.add_argument("--preset", required=True, help="label2city_2048 or label2city_1024 (alias label2city_1024_g1)")
    p.add_argument("--g0", required=True, help="latest_net_G0.pth")
    p.add_argument("--g1", help="latest_net_G1.pth")
    p.add_argument("--g2", help="latest_net_G2.pth")
    p.add_argument("--single-g", help="the pix2pixHD first-frame generator, e.g. label2city_single/latest_net_G_2048.pth")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..checkpoint_nvidia import convert

    if args.g2 and not args.g1:
        raise UserError("--g2 needs --g1 (the scales are G0, G1, G2 from coarse to fine)")
    files = [f for f in (args.g0, args.g1, args.g2) if f]
    report = convert(args.preset, files, args.out, single_g=args.single_g, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report))
    else:
        w, h = report["size"]
        print(f"wrote {report['out']}: {report['preset']} with {report['scales']} scale(s)"
              f"{' + single G' if report['first_frame'] else ''}, {report['parameters'] / 1e6:.1f} M parameters, "
              f"output {w}x{h}")
    return 0
