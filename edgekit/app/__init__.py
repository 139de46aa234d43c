"""The application layer: what the CLI commands do beyond one library call (plan, hand-off, describe)."""
