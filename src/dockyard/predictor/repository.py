"""The models one server holds, by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dockyard.errors import ModelNotFound, UsageError
from dockyard.predictor.predictor import Predictor


class ModelRepository:
    def __init__(self, predictors: Iterable[Predictor]) -> None:
        self._models: dict[str, Predictor] = {}
        for predictor in predictors:
            if predictor.name in self._models:
                raise UsageError(
                    f"Two bundles are both named '{predictor.name}'; model names must be unique in one server."
                )
            self._models[predictor.name] = predictor

    def find(self, name: str) -> Predictor | None:
        """The model called ``name``, if served."""
        return self._models.get(name)

    def get(self, name: str, version: str | None = None) -> Predictor:
        predictor = self._models.get(name)
        if predictor is None:
            served = ", ".join(sorted(self._models)) or "none"
            raise ModelNotFound(f"No model named '{name[:100]}'. Served models: {served}.")
        if version is not None and version != predictor.version:
            raise ModelNotFound(
                f"Model '{name}' has no version '{version[:100]}'; it serves version {predictor.version}."
            )
        return predictor

    def __iter__(self) -> Iterator[Predictor]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._models)
