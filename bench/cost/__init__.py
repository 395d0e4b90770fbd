"""The measured cost of a guided step: interleaved timing, memory, profiles, eager / graph / compile modes."""
