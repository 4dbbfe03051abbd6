"""Runtime: serve maaskit bundles over HTTP with onnxruntime (Lambda, SageMaker, local)."""
