"""maaskit: package trained models as verified ONNX bundles, serve them, deploy them."""

from bundle.version import maaskit_version

__version__ = maaskit_version()
