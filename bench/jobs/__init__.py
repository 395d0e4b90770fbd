"""Jobs that sample: one guided run (`sample`), and the two demos built on it and on the uplift sweep."""
