"""edgekit: put Gemma checkpoints on phones, browsers and ARM boards."""

__version__ = "0.1.0"
