"""What the page shows, read from the running app's config (no browser)."""
from __future__ import annotations


def _components(client, kind: str) -> list[dict]:
    return [c for c in client.config["components"] if c["type"] == kind]


def test_buttons_are_words(client):
    """Emoji show as empty boxes where no emoji font is installed: button labels are plain text."""
    labels = [c["props"].get("value") or "" for c in _components(client, "button")]
    assert {"Re-roll the selected object", "Paint the selected object", "Re-roll everything"} <= set(labels)
    odd = [label for label in labels if any(ord(ch) >= 0x2000 for ch in label)]
    assert not odd, f"buttons with symbols a plain font may lack: {odd}"


def test_side_by_side_titles_name_the_panels(client):
    labels = [c["props"].get("label") for c in _components(client, "video")]
    assert "Side by side: driving | pose | result" in labels  # an uploaded clip (the default choice)
