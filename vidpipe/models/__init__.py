"""Model registry and inference backends."""
