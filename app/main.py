"""vid2vid studio: ``python app/main.py [--host HOST] [--port PORT] [--share]``.

Three tabs (street scenes, style, motion transfer) over the v2v library, plus named API endpoints for
``gradio_client`` (see :mod:`app.api`). Limits come from environment variables (:mod:`app.limits`); models from
``assets/models`` (or ``$V2V_MODELS_DIR``, see :mod:`app.models`).
"""
from __future__ import annotations

import os
import sys

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ["HF_HUB_OFFLINE"] = "1"

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import signal  # noqa: E402

import gradio as gr  # noqa: E402

from app import api, motion_tab, street_tab, style_tab  # noqa: E402
from app.common import CSS  # noqa: E402
from app.errors import StudioBlocks  # noqa: E402
from app.limits import Limits, load_limits  # noqa: E402
from app.models import find_models  # noqa: E402

TITLE = "vid2vid studio"
CACHE_CLEANUP = (900, 3600)  # every 15 min, delete gradio's cached files older than 1 h


def configure_torch() -> None:
    """One torch thread by default (V2V_TORCH_THREADS to change): on a busy 2-core machine a second OpenMP thread
    makes inference several times slower, and the video encoder and server need a core too."""
    import torch

    threads = int(os.environ.get("V2V_TORCH_THREADS", "1") or 1)
    torch.set_num_threads(max(1, threads))


def build_app(limits: Limits | None = None) -> gr.Blocks:
    limits = limits or load_limits()
    models = find_models()
    with StudioBlocks(title=TITLE, delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(f"# {TITLE}\nLabel maps and poses in, video out: a re-implementation of NVIDIA vid2vid. "
                    "Edit a street scene's labels and synthesize it, re-roll the look of single objects, or make "
                    "a trained person dance.")
        if not models:
            gr.Markdown("**No model is installed.** Put exported models in `assets/models/` or set "
                        "`V2V_MODELS_DIR`.")
        gr.Markdown(limits.describe(), elem_classes="v2v-limits")
        state = gr.State(street_tab.new_state(), time_to_live=3600, delete_callback=street_tab.delete_state)
        with gr.Tabs():
            with gr.Tab("Street scenes", id="street"):
                street = street_tab.build(limits, state)
            with gr.Tab("Style", id="style"):
                style_tab.build(limits, state, street)
            with gr.Tab("Motion transfer", id="motion"):
                motion_tab.build(limits)
        api.build(limits)
        if street["load_inputs"][0].value:  # show the first example right away
            demo.load(street["handlers"]["on_load_example"], street["load_inputs"], street["load_outputs"],
                      api_visibility="private")
    demo.queue(default_concurrency_limit=limits.concurrency, max_size=limits.max_queue)
    return demo


def launch(demo: gr.Blocks, limits: Limits | None = None, **kwargs):
    """Launch with the app's settings (upload limit, css); ``kwargs`` go to ``Blocks.launch``."""
    limits = limits or load_limits()
    kwargs.setdefault("max_file_size", limits.max_upload_bytes)
    kwargs.setdefault("footer_links", ["api", "gradio"])
    return demo.launch(css=CSS, theme=gr.themes.Soft(), **kwargs)


def start_message(local_url: str, share_url: str | None, share: bool) -> str:
    """What ``python app/main.py`` prints once it serves (instead of gradio's own lines, whose hint names
    ``launch(share=True)`` rather than this app's ``--share``)."""
    lines = [f"* Running on local URL:  {local_url}"]
    if not share and not os.environ.get("SPACE_ID"):
        lines.append("* To create a public link, restart with `python app/main.py --share`.")
    elif share and share_url:
        lines.append("* The public link is temporary (up to a week); stop the app with Ctrl-C to close it.")
    return "\n".join(lines)


def _exit_on_sigterm(*_) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second signal must not interrupt the cleanup
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="vid2vid studio web app")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to listen on (0.0.0.0 for all interfaces)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    args = p.parse_args(argv)
    try:
        limits = load_limits()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_torch()
    # SIGTERM (e.g. a container stopping) exits like Ctrl-C, so the session folders are removed (atexit)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    demo = build_app(limits)
    # quiet: gradio's start lines would tell to set `share=True` in `launch()`; ours name --share
    _, local_url, share_url = launch(demo, limits, server_name=args.host, server_port=args.port, share=args.share,
                                     quiet=True, prevent_thread_lock=True)
    print(start_message(local_url, share_url, args.share), flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
