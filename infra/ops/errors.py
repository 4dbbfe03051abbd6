"""Errors raised by release operations; the CLI prints the message and exits with code 2.

Hierarchy::

    OpsError                    anything an operator must act on (catch this one)
    ├── ConfigurationError      no bucket, no region, no credentials: say which setting to give
    ├── NotFoundError           the model, version, function, alias or endpoint does not exist
    ├── RefusedError            the operation was checked and refused (bad weight, deployment running)
    ├── RegistryConflictError   the registry holds this version with different content
    └── AwsCallError            AWS answered an error the checks above did not foresee
"""

from __future__ import annotations

__all__ = [
    "AwsCallError",
    "ConfigurationError",
    "NotFoundError",
    "OpsError",
    "RefusedError",
    "RegistryConflictError",
]


class OpsError(Exception):
    """Base class: the operation did not happen; ``str(error)`` says what to do next."""


class ConfigurationError(OpsError):
    """A required setting (bucket, region, credentials) is missing or unusable."""


class NotFoundError(OpsError):
    """The named resource does not exist."""


class RefusedError(OpsError):
    """The checks before acting failed; nothing was changed."""


class RegistryConflictError(OpsError):
    """The registry already holds that version with different content."""


class AwsCallError(OpsError):
    """An AWS API call failed in a way the checks did not foresee."""
