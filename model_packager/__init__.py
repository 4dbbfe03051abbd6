"""Build phase: convert trained models to ONNX, gate on parity, write bundles."""
