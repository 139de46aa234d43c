"""Readers (and the few writers) of the file formats edgekit meets, without running models."""
