"""What every layer shares: errors, records, atomic outputs, hashes, progress, recipes."""
