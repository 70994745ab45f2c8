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

import gradio as gr

log = logging.getLogger("v2v.app")


def _convert(e: BaseException) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, (ValueError, OSError)):
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return gr.Error(html.escape(msg), print_exception=False)
    log.exception("unexpected error in an app handler")
    return gr.Error(html.escape(f"internal error ({type(e).__name__}: {e}); the server is still running, try again"),
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
