"""Perception: video in, tracks out: reading video, the AoE encoder, proposers and detectors, the tracker, and a long video's segments built into library records (indexing.py)."""
