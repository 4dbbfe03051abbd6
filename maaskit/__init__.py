"""maaskit: package trained models as verified ONNX bundles, serve them, deploy them."""

__version__ = "0.1.0"
