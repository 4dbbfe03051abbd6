"""A CloudWatch dashboard per stage: per-version latency and errors of every model, and the API's totals."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.names import stage_name

__all__ = ["ModelDashboard", "ModelDashboardProps"]

_PERIOD = Duration.minutes(1)


def _search(query: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{query}', '{statistic}', 60)", label=label, period=_PERIOD, using_metrics={}
    )


@dataclass(frozen=True)
class ModelDashboardProps:
    """``lambda_functions``: model -> function name; ``sagemaker_endpoints``: model -> endpoint name."""

    stage: str
    api_name: str
    lambda_functions: dict[str, str] = field(default_factory=dict)
    sagemaker_endpoints: dict[str, str] = field(default_factory=dict)


class ModelDashboard(Construct):
    """Attribute: ``dashboard``. Lines are found by SEARCH, so each new version (Lambda ``ExecutedVersion``,
    SageMaker variant) appears without redeploying the dashboard."""

    def __init__(self, scope: Construct, construct_id: str, props: ModelDashboardProps) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=stage_name(props.stage))
        api = {"ApiName": props.api_name}
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/ApiGateway",
                        metric_name=name,
                        dimensions_map=api,
                        statistic="Sum",
                        period=_PERIOD,
                    )
                    for name in ("Count", "4XXError", "5XXError")
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API latency p99 (ms)",
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/ApiGateway",
                        metric_name="Latency",
                        dimensions_map=api,
                        statistic="p99",
                        period=_PERIOD,
                    )
                ],
                width=12,
            ),
        )
        for model, function in sorted(props.lambda_functions.items()):
            scope_query = f'{{AWS/Lambda,ExecutedVersion,FunctionName,Resource}} FunctionName="{function}"'
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{model}: p99 duration per version (ms)",
                    left=[_search(f'{scope_query} MetricName="Duration"', "p99", "")],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{model}: errors per version",
                    left=[_search(f'{scope_query} MetricName="Errors"', "Sum", "")],
                    width=12,
                ),
            )
        for model, endpoint in sorted(props.sagemaker_endpoints.items()):
            scope_query = f'{{AWS/SageMaker,EndpointName,VariantName}} EndpointName="{endpoint}"'
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{model}: p99 model latency per variant (µs)",
                    left=[_search(f'{scope_query} MetricName="ModelLatency"', "p99", "")],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{model}: 5xx per variant",
                    left=[_search(f'{scope_query} MetricName="Invocation5XXErrors"', "Sum", "")],
                    width=12,
                ),
            )
