"""Checkpoint intake: recognise a Gemma checkpoint and give converters a Hugging Face folder."""
