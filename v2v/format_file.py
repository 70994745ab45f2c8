"""The project's JSON headers (dataset.json, a model's config.json, a label predictor's config.json): read once,
with the format name and version checked and every failure a UserError that says what to do."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import UserError


def read_format_json(path: Path, fmt: str, version: int, what: str, remedy: str, missing: str = "") -> dict:
    """The JSON object in ``path``, which must declare ``"format": fmt`` and a version no newer than ``version``.
    ``what`` names the file's kind in messages ("a v2v dataset"); ``remedy`` says how to make it again;
    ``missing`` is the message when there is no such file (default: one built from ``what`` and ``remedy``)."""
    if not Path(path).is_file():
        raise UserError(missing or f"{path} is missing: it should be {what}; {remedy}")
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); {remedy}") from None
    except OSError as e:
        raise UserError(f"cannot read {path} ({e}); {remedy}") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{path} is not {what} (format {found!r})")
    if int(data.get("version", 0)) > version:
        raise UserError(f"{path} is {what} of version {data.get('version')}, newer than this program ({version}); "
                        "update vid2vid studio")
    return data
