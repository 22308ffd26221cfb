"""Recipes of the tfa losses being added (folded into cases.py when done)."""

from __future__ import annotations

from cases import C, Case, N  # noqa: F401

TFA_CASES: list[Case] = []
