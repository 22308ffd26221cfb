"""Recipes of the asl losses being added (folded into cases.py when done)."""

from __future__ import annotations

from cases import C, Case, N  # noqa: F401

ASL_CASES: list[Case] = []
