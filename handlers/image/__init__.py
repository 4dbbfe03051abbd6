"""Image models at serving time: encoded images in, top-k labels out.

- :mod:`handlers.image.processor`: the image bundles' processor (encoded images out of the codecs'
  family-neutral inputs; decode and preprocess with ``bundle.processing.image``, the code the packager's
  parity gate ran; top-k labels in each answer style). No protocol module knows about images.
"""
