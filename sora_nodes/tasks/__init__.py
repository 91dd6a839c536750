"""Editing tasks on the one spacetime-condition mechanism: recipes lay inputs out on a canvas, which the
sampler holds to (`pipeline.generate.sample_video`) and which pastes the known pixels back after decoding."""
