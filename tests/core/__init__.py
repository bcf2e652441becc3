"""Tests of the engine (cnnviz.core): no Qt, no files, numpy only."""
