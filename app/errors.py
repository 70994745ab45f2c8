"""Turning bad input into a gr.Error message that the page shows, while the server keeps serving.

:func:`user_facing` wraps an event handler (plain function or generator): ``UserError``/``ValueError``/``OSError``
(the project's convention for bad input and unreadable files) become ``gr.Error`` with the same one-line message;
anything else is logged with its traceback and shown as a short generic error. :func:`message_of` gives that
message for handlers that report a failure without raising.

Messages are plain text: API clients get them as they are ("vegetation->building", not "vegetation-&gt;building"),
and the browser's toast sanitises the HTML it is given, so nothing needs escaping.

:class:`StudioBlocks` answers the failures that happen before any handler runs, which gradio would answer with an
empty error and a traceback in the log: a file path that was never uploaded to this server, and a value a component
cannot take (an infinite seed, say).
"""
from __future__ import annotations

import functools
import inspect
import logging
import re
from pathlib import PurePath

import gradio as gr
from gradio.exceptions import ComponentProcessingError, InvalidPathError

log = logging.getLogger("v2v.app")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^\s'\"/:;,()]+)+/([^\s'\"/:;,()]+)")
_REFUSED = re.compile(r"Cannot move (.+?) to the gradio cache dir")
_AT_INDEX = re.compile(r"component at index (\d+)")


def clean(message: str) -> str:
    """One line, server paths shortened to their file names."""
    line = message.strip().splitlines()[0] if message.strip() else "error"
    return _PATH.sub(r"\1", line)


def message_of(e: BaseException) -> str:
    """The one-line message shown for ``e`` (unexpected errors are logged with their traceback)."""
    if isinstance(e, gr.Error):
        return str(e.message)
    if isinstance(e, InvalidPathError):
        return not_uploaded_message(e)
    if isinstance(e, (ValueError, OSError)):
        return clean(str(e) or type(e).__name__)
    log.exception("unexpected error in an app handler", exc_info=e)
    return clean(f"internal error ({type(e).__name__}: {e}); the server is still running, try again")


def not_uploaded_message(e: BaseException) -> str:
    m = _REFUSED.search(str(e))
    name = f"the file {PurePath(m.group(1)).name} " if m else "a file "
    return (f"{name}was not uploaded to this server, so it cannot be used: upload it first (gradio_client: pass "
            "handle_file(path), which uploads it; in the browser: choose the file again)")


def _convert(e: BaseException) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    return gr.Error(message_of(e), print_exception=False)


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


class StudioBlocks(gr.Blocks):
    """gr.Blocks whose input files that were never uploaded (a FileData path such as /etc/passwd sent by an API
    client) are refused with a message saying so, instead of gradio's empty error and logged traceback."""

    async def preprocess_data(self, block_fn, *args, **kwargs):
        try:
            return await super().preprocess_data(block_fn, *args, **kwargs)
        except InvalidPathError as e:
            log.info("refused a file that was not uploaded: %s", e)
            raise gr.Error(not_uploaded_message(e), print_exception=False) from None
        except ComponentProcessingError as e:
            m = _AT_INDEX.search(str(e))
            inputs = getattr(block_fn, "inputs", None) or []
            label = getattr(inputs[int(m[1])], "label", None) if m and int(m[1]) < len(inputs) else None
            cause = e.__cause__ or e
            what = f"the value given for {label!r}" if label else "an input value"
            raise gr.Error(clean(f"{what} cannot be used ({type(cause).__name__}: {cause}); check it and try again"),
                           print_exception=False) from None
