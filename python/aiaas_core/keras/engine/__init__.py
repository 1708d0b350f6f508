"""Model, Sequential and the training loop."""
