"""Plotly figures: pure functions from analytics rows to a ``plotly.graph_objects.Figure``."""
