"""Image models at serving time: encoded images in, top-k labels out.

- :mod:`handlers.image.processor`: the image bundles' processor (decode and preprocess with
  ``bundle.processing.image``, the code the packager's parity gate ran; top-k labels).
- :mod:`handlers.image.wire`: images in each protocol's request shape, answers in its answer shape.
"""
