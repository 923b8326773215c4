"""Accuracy evaluation on labelled photos (LFW protocol, open-set identification)."""
