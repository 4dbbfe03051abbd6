"""Pydantic models that document the JSON routes in the OpenAPI document.

They are imported only when /openapi.json is built (never on the request path, never at cold start):
routes parse bodies with orjson and validate them against the model's own signature.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bundle.manifest import Task

__all__ = ["SCHEMAS"]

Nested = list[Any]


class TensorInfo(BaseModel):
    """A model input or output as the manifest declares it."""

    name: str
    dtype: str = Field(examples=["float32"])
    shape: list[int | None] = Field(description="null marks a dynamic axis (usually the batch)", examples=[[None, 4]])


class ModelSummary(BaseModel):
    name: str
    versions: list[str] = Field(description="semantic versions, oldest first")
    latest: str


class ModelList(BaseModel):
    models: list[ModelSummary]


class ToolVersion(BaseModel):
    name: str
    version: str


class ModelDetail(BaseModel):
    name: str
    version: str
    latest: str
    versions: list[str]
    ready: bool
    task: Task
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    labels: list[str] | list[int] | None
    label_output: str | None
    probability_output: str | None
    framework: ToolVersion
    created: str
    providers: list[str]


class PredictRequest(BaseModel):
    """Send either named tensors or rows."""

    inputs: dict[str, Nested | float | int | str] | None = Field(
        default=None, description="tensors by input name, as nested lists", examples=[{"x": [[5.1, 3.5, 1.4, 0.2]]}]
    )
    rows: list[Any] | None = Field(
        default=None,
        description="one entry per example: a list of values (single input, or all columns in input order) "
        "or an object keyed by input name",
        examples=[[[5.1, 3.5, 1.4, 0.2]]],
    )


class PredictResponse(BaseModel):
    model: str
    version: str
    outputs: dict[str, Nested]
    labels: list[Any] | None = Field(default=None, description="one predicted class label per row (classifiers)")


class MaaskitErrorBody(BaseModel):
    status: int
    type: str
    message: str


class MaaskitError(BaseModel):
    error: MaaskitErrorBody


OipDatatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"
]


class InferInput(BaseModel):
    name: str
    shape: list[int]
    datatype: OipDatatype
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data_size": n} when the tensor follows the JSON header as binary'
    )
    data: list[Any] | None = Field(default=None, description="row-major elements (flat or nested)")


class InferRequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"binary_data": true} for a binary answer, {"classification": k} for top-k labels'
    )


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = Field(default=None, description='{"binary_data_output": true}')
    inputs: list[InferInput]
    outputs: list[InferRequestedOutput] | None = None


class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferOutput]


class OipError(BaseModel):
    error: str


class TfPredictRequest(BaseModel):
    signature_name: str | None = None
    instances: list[Any] | None = Field(default=None, description="row format: one entry per example")
    inputs: Any | None = Field(default=None, description="columnar format: a tensor, or tensors by input name")


class TfPredictResponse(BaseModel):
    predictions: list[Any] | None = Field(default=None, description="answer to the row format")
    outputs: Any | None = Field(default=None, description="answer to the columnar format")


class TfVersionStatus(BaseModel):
    version: str
    state: str
    status: dict[str, str]


class TfModelStatus(BaseModel):
    model_version_status: list[TfVersionStatus]


class TfError(BaseModel):
    error: str


SCHEMAS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        ModelList,
        ModelDetail,
        PredictRequest,
        PredictResponse,
        MaaskitError,
        InferRequest,
        InferResponse,
        OipError,
        TfPredictRequest,
        TfPredictResponse,
        TfModelStatus,
        TfError,
    )
}
