"""The model registry: factories are registered by name, models are created by name (timm style).

A checkpoint stores the name and the keyword arguments a model was created with, so :func:`load_model`
can rebuild the same architecture through this registry before loading the weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from torch import nn

from stenoscope.errors import ModelError

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}

# Keyword arguments that only initialise weights (for example a path to ImageNet weights). A checkpoint
# carries its own weights, so these are not recorded for rebuilding it.
INIT_ONLY_KWARGS = frozenset({"imagenet_weights"})


@overload
def register_model(name_or_factory: Factory) -> Factory: ...


@overload
def register_model(name_or_factory: str) -> Callable[[Factory], Factory]: ...


def register_model(name_or_factory: str | Factory) -> Factory | Callable[[Factory], Factory]:
    """Register a model factory under its function name (``@register_model``) or a given name.

    Example:
        >>> @register_model("tiny")
        ... def tiny(**kwargs): ...
    """

    def add(factory: Factory, name: str) -> Factory:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ValueError(f"a model named {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    if isinstance(name_or_factory, str):
        name = name_or_factory
        return lambda factory: add(factory, name)
    return add(name_or_factory, name_or_factory.__name__)


def list_models() -> list[str]:
    """Names of all registered models, sorted (a model may still need an optional extra to build)."""
    return sorted(_FACTORIES)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with fresh weights.

    The model remembers ``name`` and its JSON-safe keyword arguments (``model_name``, ``model_kwargs``) so a
    checkpoint can rebuild it.

    Raises:
        ModelError: unknown name (the message lists the available ones) or a missing optional extra.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as error:
        raise ModelError(f"cannot create model {name!r}: {error}") from error
    model = factory(**kwargs)
    model.model_name = name
    model.model_kwargs = {key: value for key, value in kwargs.items() if key not in INIT_ONLY_KWARGS}
    return model
