"""Checkpoint -> artifacts. Heavy dependencies (torch, litert-torch, mediapipe) live here only."""
