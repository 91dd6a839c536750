"""Editing tasks on the one spacetime-condition mechanism: recipes lay inputs out on a canvas."""
