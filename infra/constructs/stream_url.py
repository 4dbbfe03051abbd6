"""The streaming pieces of a generative Lambda endpoint: its environment and its Function URL.

The function runs maaskit's streaming loop (``handlers/lambda_stream``) in place of the managed Python
runtime's own: ``AWS_LAMBDA_EXEC_WRAPPER`` names the staged wrapper, which ``exec``s ``python -m
handlers.lambda_stream``. The Function URL sits on the ``live`` alias (so CodeDeploy's traffic shifting
applies to it), streams (``InvokeMode: RESPONSE_STREAM``, up to 200 MB and 15 minutes) and takes
SigV4-signed callers (``AWS_IAM``) unless the deploy file says ``url_auth: none``.
"""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StreamingConfig
from infra.streaming import EXEC_WRAPPER

__all__ = ["EXEC_WRAPPER_VARIABLE", "TASK_ROOT", "add_stream_url", "stream_environment"]

#: Lambda's variable naming a script to run instead of the runtime's bootstrap.
EXEC_WRAPPER_VARIABLE = "AWS_LAMBDA_EXEC_WRAPPER"
TASK_ROOT = "/var/task"


def stream_environment(*, zip_package: bool) -> dict[str, str]:
    """What a streaming zip function adds to its environment (an image's entry point is the loop itself).

    ``PYTHONPATH`` names the code and the dependency layer (``/opt/python``) because the managed runtime's
    bootstrap, which would add them, is replaced by the loop.
    """
    if not zip_package:
        return {}
    return {EXEC_WRAPPER_VARIABLE: f"{TASK_ROOT}/{EXEC_WRAPPER}", "PYTHONPATH": f"{TASK_ROOT}:/opt/python"}


def add_stream_url(scope: Construct, alias: lambda_.Alias, config: StreamingConfig, model: str) -> lambda_.FunctionUrl:
    """A streaming Function URL on ``alias`` (auth from ``config.url_auth``), and its URL as a stack output."""
    public = config.url_auth == "none"
    url = alias.add_function_url(
        auth_type=lambda_.FunctionUrlAuthType.NONE if public else lambda_.FunctionUrlAuthType.AWS_IAM,
        invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM,
    )
    CfnOutput(scope, "StreamUrl", value=url.url, description=f"Streaming Function URL of {model} (live alias)")
    return url
