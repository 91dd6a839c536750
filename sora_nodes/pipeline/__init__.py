"""A render composed: text, sampling and decoding (`generate`), what a render will cost before it starts
(`budget`), and the previews the sampler shows while it runs."""
