"""Figures of the study: pandas DataFrames (gold tables) in, matplotlib figures out. No Spark."""
