"""Pieces the panels share: image views, a thumbnail gallery, a drawing pad, mosaics of small
arrays, rows of controls and a redraw coalescer."""
