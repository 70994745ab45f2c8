"""Training driver for vid2vid studio: ``python -m train --config train/configs/NAME.yaml`` (or under torchrun)."""
