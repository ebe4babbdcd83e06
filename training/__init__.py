"""Retraining: dataset loading, augmentation, train/eval loops, reports and bundle export."""
