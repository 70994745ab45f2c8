"""Turning bad input into a gr.Error message that the page shows, while the server keeps serving.

:func:`user_facing` wraps an event handler (plain function or generator): ``UserError``/``ValueError``/``OSError``
(the project's convention for bad input and unreadable files) become ``gr.Error`` with the same one-line message;
anything else is logged with its traceback and shown as a short generic error.
"""
from __future__ import annotations

import functools
import html
import inspect
import logging
import re

import gradio as gr

log = logging.getLogger("v2v.app")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s'\"/:;,()]+)+/([^\s'\"/:;,()]+)")


def clean(message: str) -> str:
    """One line, server paths shortened to their file names, HTML-escaped (gradio shows messages as HTML)."""
    line = message.strip().splitlines()[0] if message.strip() else "error"
    return html.escape(_PATH.sub(r"\1", line), quote=False)


def _convert(e: BaseException) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, (ValueError, OSError)):
        return gr.Error(clean(str(e) or type(e).__name__), print_exception=False)
    log.exception("unexpected error in an app handler")
    return gr.Error(clean(f"internal error ({type(e).__name__}: {e}); the server is still running, try again"),
                    print_exception=False)


def user_facing(fn):
    """Decorator: see the module docstring. Keeps the signature (gradio reads it for gr.Progress / gr.Request)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - every failure becomes a message
                raise _convert(e) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise _convert(e) from None
    return wrapper
