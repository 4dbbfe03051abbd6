"""Example deploy inputs: two tiny real bundles (built by ``make_bundles``) for the example config."""
