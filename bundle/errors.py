"""Exceptions raised while reading, verifying or writing a bundle.

Hierarchy::

    BundleError                 any problem with a bundle (catch this one)
    ├── BundleNotFoundError     the path is not a bundle directory or archive
    ├── BundleFormatError       manifest.json is missing, not JSON, or breaks the schema
    ├── BundleIntegrityError    a file's sha256 or size differs from the manifest
    ├── UnsafeArchiveError      an archive member would escape the target directory
    └── InputError              a request's raw input cannot be encoded (names the limit; a 4xx at serving)
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "BundleFormatError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "InputError",
    "UnsafeArchiveError",
]


class BundleError(Exception):
    """Base class: the bundle cannot be used as it is."""


class BundleNotFoundError(BundleError):
    """The path given is neither a bundle directory nor a bundle archive."""


class BundleFormatError(BundleError):
    """manifest.json is missing, unreadable, or does not match the schema."""


class BundleIntegrityError(BundleError):
    """A bundle file does not match the checksum recorded in its manifest."""


class UnsafeArchiveError(BundleError):
    """An archive member is a link, a device, or a path outside the target."""


class InputError(BundleError):
    """An input the bundle's processing cannot take (empty batch, token id out of range, ...).

    The message names the limit broken; runtimes answer it with a 4xx.
    """
