"""One router per protocol; each keeps that protocol's request, response and error shapes."""

__all__ = ["PROTOCOL_MODULES"]

#: Modules exposing ``router(repository, settings) -> RouteTable``.
PROTOCOL_MODULES = (
    "handlers.protocols.maaskit",
    "handlers.protocols.oip",
    "handlers.protocols.tfserving",
    "handlers.protocols.torchserve",
    "handlers.protocols.sagemaker",
)
