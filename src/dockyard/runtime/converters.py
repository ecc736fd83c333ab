"""ONNX converters for estimators skl2onnx does not know: onnxmltools' XGBoost and
LightGBM converters, registered with skl2onnx so a Pipeline ending in one converts whole.

Only libraries the process has already imported are registered: a model that holds an
XGBoost estimator imported xgboost to exist, and nothing else should pay for importing
either library. Registration happens once per library.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("dockyard.runtime")

_registered: set[str] = set()

_CLASSIFIER_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


def register_converters() -> list[str]:
    """Register the converters of every supported library already imported; return the
    libraries registered by this call."""
    done: list[str] = []
    for library, register in _LIBRARIES.items():
        if library in _registered or library not in sys.modules:
            continue
        try:
            register()
        except ImportError as exc:
            # Without onnxmltools the model stays on its own runtime; export records why.
            logger.info("no ONNX converter for %s: %s", library, exc)
            continue
        _registered.add(library)
        done.append(library)
    return done


def _register_xgboost() -> None:
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    update_registered_converter(
        XGBClassifier,
        "XGBoostXGBClassifier",
        calculate_linear_classifier_output_shapes,
        _positional(convert_xgboost),
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        XGBRegressor,
        "XGBoostXGBRegressor",
        calculate_linear_regressor_output_shapes,
        _positional(convert_xgboost),
    )


def _positional(convert: Callable[..., None]) -> Callable[..., None]:
    """onnxmltools' XGBoost converter reads the trees' feature references as ``f0``,
    ``f1``…, and an XGBoost model fitted on a DataFrame names them by column instead. The
    columns reach it in the fitted order either way, so it converts a copy whose booster
    forgets the names (the export is then checked against the original)."""

    def converter(scope: Any, operator: Any, container: Any) -> None:
        model = operator.raw_operator
        names = model.get_booster().feature_names or []
        if any(not _POSITIONAL.fullmatch(name) for name in names):
            model = copy.deepcopy(model)
            model.get_booster().feature_names = None
            operator.raw_operator = model
        convert(scope, operator, container)

    return converter


_POSITIONAL = re.compile(r"f[0-9]+")


def _register_lightgbm() -> None:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )


_LIBRARIES: dict[str, Callable[[], None]] = {
    "xgboost": _register_xgboost,
    "lightgbm": _register_lightgbm,
}


def uses_library_converter(model: object) -> bool:
    """Whether ``model`` or any estimator inside it comes from a library converted by
    onnxmltools, whose converters write only version 3 of the ai.onnx.ml domain."""
    todo, seen = [model], set()
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if type(obj).__module__.split(".", 1)[0] in _LIBRARIES:
            return True
        get_params = getattr(obj, "get_params", None)
        if callable(get_params):
            todo.extend(get_params(deep=False).values())
        elif isinstance(obj, list | tuple):
            todo.extend(obj)
    return False
