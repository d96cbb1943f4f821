"""Checks for the notebooks' exercises: each function says whether a learner's answer is right."""
