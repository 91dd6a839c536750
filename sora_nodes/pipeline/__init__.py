"""A render: its sampling (`sampling`: settings, noise, the guided denoiser), a video of any length (`long_video`
chains windows along a prompt `schedule`), the one composition every caller uses (`generate`: checks, text,
sampling, decoding), what a render will cost before it starts (`budget`), and the sampler's previews."""
