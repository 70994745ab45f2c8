"""vid2vid studio: a modern re-implementation of NVIDIA's vid2vid (Wang et al., NeurIPS 2018)."""
__version__ = "0.1.0"
