"""The converter coverage matrix: every supported model family packaged, parity-checked, served and called."""
