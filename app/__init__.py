"""vid2vid studio, the browser app (Gradio). Start it with ``python app/main.py``.

The app adds no model logic: it calls :mod:`v2v.engine`, :mod:`v2v.style`, :mod:`v2v.labels`, :mod:`v2v.inputs`
and :mod:`v2v.video`. Importing any part of it switches gradio's analytics and Hugging Face hub access off first.
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
