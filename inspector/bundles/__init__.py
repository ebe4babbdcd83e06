"""The models folder: list bundles, activate one, roll back, re-apply thresholds with a dry run."""
