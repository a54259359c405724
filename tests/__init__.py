"""Tests for alphaess_local."""
