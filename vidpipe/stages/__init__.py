"""The processing steps; each turns one segment file into another."""
