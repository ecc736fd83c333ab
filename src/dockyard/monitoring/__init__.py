"""Monitoring: the prediction log, feedback, drift against the training reference."""
