"""Decoding Open Inference Protocol (KServe V2) inference requests.

Every field is checked for its JSON type before it is used, and every error names the
field (``inputs[2].shape``, ``outputs[0].name``). Work is linear in the size of the
request and bounded by the model: at most a few more input tensors than features, at
most :data:`MAX_DIMS` dimensions, nesting no deeper than the declared shape (flattened
without recursion, so a deep ``data`` is a 422, not a ``RecursionError``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from dockyard.errors import BadRequest, FieldError, InvalidInput, PayloadTooLarge
from dockyard.predictor.validation import MAX_ERRORS
from dockyard.server.bodies import decode_json

NUMPY_TYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES = (*NUMPY_TYPES, "BYTES")
HEADER_LENGTH = "inference-header-content-length"
# No input layout Dockyard accepts has more than two dimensions; eight leaves room for the
# clearer message about the expected layout, and keeps the element count a small number.
MAX_DIMS = 8
# Input tensors accepted beyond one per feature, so that a few wrong or repeated names
# are still reported one by one; past that the request is refused as a whole.
EXTRA_INPUTS = 8
# Elements per tensor, per row allowed in a batch (the shape is checked before any data).
ELEMENTS_PER_ROW = 1024
# Longest Inference-Header-Content-Length taken as a number (a petabyte of JSON).
_MAX_LENGTH_DIGITS = 15

Columns = dict[str, list[Any]]


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The request's JSON document and the binary tensor data after it. ``header_length``
    is the ``Inference-Header-Content-Length`` header, when given."""
    if header_length is None:
        return decode_json(body), b""
    # isdigit() alone accepts '²' and other digits int() refuses; ASCII digits only.
    if (
        not header_length.isascii()
        or not header_length.isdigit()
        or len(header_length) > _MAX_LENGTH_DIGITS
        or int(header_length) > len(body)
    ):
        raise BadRequest(
            f"Invalid {HEADER_LENGTH} header: {header_length[:20]!r}.",
            hint=f"It is the byte length of the JSON part of the body ({len(body)} bytes in all).",
        )
    split = int(header_length)
    return decode_json(body[:split]), body[split:]


def check_request(document: Any, outputs: Collection[str]) -> None:
    """The top-level fields other than ``inputs``: ``id``, ``parameters`` and
    ``outputs`` (each requested output known to the model)."""
    if not isinstance(document, dict):
        raise BadRequest("An inference request must be a JSON object with 'inputs'.")
    errors: list[FieldError] = []
    if "id" in document and not isinstance(document["id"], str):
        errors.append(FieldError("id", "expected a string"))
    if not isinstance(document.get("parameters", {}), dict):
        errors.append(FieldError("parameters", "expected an object"))
    _check_outputs(document.get("outputs", []), outputs, errors)
    if errors:
        raise InvalidInput(errors)


def _check_outputs(requested: Any, outputs: Collection[str], errors: list[FieldError]) -> None:
    if not isinstance(requested, list):
        errors.append(FieldError("outputs", "expected an array of output objects"))
        return
    # An output asked for twice is answered once (the response never grows with the
    # request), so the entries are only checked, in one pass, up to MAX_ERRORS problems.
    for index, output in enumerate(requested):
        if len(errors) >= MAX_ERRORS:
            return
        where = f"outputs[{index}]"
        if not isinstance(output, dict):
            errors.append(FieldError(where, "expected an object with a 'name'"))
            continue
        name = output.get("name")
        if not isinstance(name, str):
            errors.append(FieldError(f"{where}.name", "expected a string"))
        elif name not in outputs:
            errors.append(
                FieldError(name[:100], f"unknown output; available: {', '.join(outputs)}")
            )
        if not isinstance(output.get("parameters", {}), dict):
            errors.append(FieldError(f"{where}.parameters", "expected an object"))


def decode_inputs(
    document: dict[str, Any], binary: bytes, names: Sequence[str], max_rows: int
) -> tuple[Columns, int]:
    """``inputs`` → feature columns (by name, not yet validated) and the row count."""
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput([FieldError("inputs", "expected a non-empty array of input tensors")])
    if len(inputs) > len(names) + EXTRA_INPUTS:
        raise InvalidInput(
            [
                FieldError(
                    "inputs",
                    f"{len(inputs)} input tensors; this model takes one per feature "
                    f"({len(names)}) or a single [N, {len(names)}] tensor",
                )
            ]
        )
    tensors: dict[str, tuple[list[int], list[Any]]] = {}
    offset = 0
    for index, tensor in enumerate(inputs):
        name, shape, values, used = _tensor(
            index, tensor, binary, offset, max_rows * ELEMENTS_PER_ROW
        )
        if name in tensors:
            raise InvalidInput([FieldError(name, "input given more than once")])
        tensors[name] = (shape, values)
        offset += used
    if offset != len(binary):
        raise BadRequest(
            f"{len(binary) - offset} bytes of binary tensor data belong to no input.",
            hint="Give each binary input its 'binary_data_size' parameter.",
        )
    columns, rows = _columns(names, tensors)
    if rows == 0:
        raise InvalidInput([FieldError("inputs", "no rows to predict")])
    if rows > max_rows:
        raise PayloadTooLarge(f"{rows} rows in one request; the limit is {max_rows}.")
    return columns, rows


def _tensor(
    index: int, tensor: Any, binary: bytes, offset: int, max_elements: int
) -> tuple[str, list[int], list[Any], int]:
    """One input tensor -> (name, shape, flat values, binary bytes consumed)."""
    where = f"inputs[{index}]"
    if not isinstance(tensor, dict):
        raise InvalidInput([FieldError(where, "expected a tensor object")])
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidInput([FieldError(f"{where}.name", "expected a non-empty string")])
    name = name[:100]
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        shown = repr(datatype[:20]) if isinstance(datatype, str) else "a non-string"
        raise InvalidInput(
            [
                FieldError(
                    f"{where}.datatype",
                    f"unsupported datatype {shown}; expected one of {', '.join(DATATYPES)}",
                )
            ]
        )
    if (
        not isinstance(shape, list)
        or not 0 < len(shape) <= MAX_DIMS
        or not all(type(d) is int and 0 <= d < 2**31 for d in shape)
    ):
        raise InvalidInput(
            [
                FieldError(
                    f"{where}.shape",
                    f"expected an array of 1 to {MAX_DIMS} non-negative integers",
                )
            ]
        )
    count = math.prod(shape)
    if count > max_elements:
        raise PayloadTooLarge(f"Input '{name}' has {count} elements; too many.")
    parameters = tensor.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput([FieldError(f"{where}.parameters", "expected an object")])
    size = parameters.get("binary_data_size")
    used = 0
    if size is not None:
        values = _binary_values(tensor, where, datatype, size, binary[offset:], count)
        used = size
    elif "data" in tensor:
        values = _flatten(tensor["data"], shape, where)
    else:
        raise InvalidInput([FieldError(f"{where}.data", "missing")])
    if len(values) != count:
        raise InvalidInput(
            [FieldError(name, f"shape {shape} needs {count} elements, got {len(values)}")]
        )
    return name, shape, values, used


def _binary_values(
    tensor: dict[str, Any], where: str, datatype: str, size: Any, binary: bytes, count: int
) -> list[Any]:
    """The elements of a tensor sent as binary data: its first ``size`` bytes of ``binary``."""
    if type(size) is not int or size < 0:
        raise InvalidInput(
            [FieldError(f"{where}.parameters.binary_data_size", "expected a non-negative integer")]
        )
    if "data" in tensor:
        raise InvalidInput([FieldError(f"{where}.data", "not allowed with binary_data_size")])
    name = tensor["name"][:100]
    if size > len(binary):
        raise BadRequest(f"Input '{name}': binary_data_size does not match the body.")
    return _decode_binary(datatype, binary[:size], count, name)


def _flatten(data: Any, shape: list[int], where: str) -> list[Any]:
    """The elements of ``data`` in row-major order. It may be flat or nested, but no
    deeper than ``shape`` has dimensions: one pass per level, no recursion."""
    if not isinstance(data, list):
        raise InvalidInput([FieldError(f"{where}.data", "expected an array")])
    values: list[Any] = data
    for _ in range(len(shape) - 1):
        if not any(type(v) is list for v in values):
            return values
        flat: list[Any] = []
        for value in values:
            if type(value) is list:
                flat.extend(value)
            else:
                flat.append(value)
        values = flat
    if any(type(v) is list for v in values):
        raise InvalidInput(
            [FieldError(f"{where}.data", f"nested deeper than its shape {shape} allows")]
        )
    return values


def _decode_binary(datatype: str, raw: bytes, count: int, name: str) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise BadRequest(f"Input '{name}': truncated BYTES element.")
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            chunk = raw[offset : offset + size]
            if len(chunk) != size:
                raise BadRequest(f"Input '{name}': truncated BYTES element.")
            offset += size
            try:
                values.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                raise BadRequest(f"Input '{name}': a BYTES element is not UTF-8.") from None
        return values
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            f"Input '{name}': {len(raw)} bytes of binary data for {count} {datatype} elements "
            f"({count * dtype.itemsize} expected)."
        )
    result: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return result


def _columns(
    names: Sequence[str], tensors: dict[str, tuple[list[int], list[Any]]]
) -> tuple[Columns, int]:
    if len(tensors) == 1:
        ((tensor_name, (shape, values)),) = tensors.items()
        if tensor_name not in names:
            if len(shape) != 2 or shape[1] != len(names):
                raise InvalidInput(
                    [
                        FieldError(
                            tensor_name,
                            f"a single input tensor must have shape [N, {len(names)}] "
                            f"(features in order: {', '.join(names)}); got {shape}",
                        )
                    ]
                )
            width = len(names)
            return {n: values[j::width] for j, n in enumerate(names)}, shape[0]
    rows: int | None = None
    columns: Columns = {}
    for name, (shape, values) in tensors.items():
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput([FieldError(name, f"expected shape [N] or [N, 1], got {shape}")])
        if rows is not None and shape[0] != rows:
            raise InvalidInput([FieldError(name, f"has {shape[0]} rows, other inputs have {rows}")])
        rows = shape[0]
        columns[name] = values
    return columns, rows or 0
