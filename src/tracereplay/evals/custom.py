"""The `python` evaluator: a function of the user's, registered by their package under the
`tracereplay.evaluators` entry point group, e.g. in its pyproject.toml:

    [project.entry-points."tracereplay.evaluators"]
    polite = "my_evals:polite"

and configured as `{"entry_point": "polite", "options": {...}}`. The function is called as
`function(subject, original, options)` with the trace (`tracereplay.evals.subjects.Subject`),
its original when it is a replay (else None) and the options, and returns an `Outcome`, a
number, a bool, or a label (str). It runs in the worker's process: it is code the operator
installed, never anything a trace carries.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from tracereplay.errors import Unprocessable
from tracereplay.evals.subjects import EvaluationError, Outcome, Subject

GROUP = "tracereplay.evaluators"


def installed() -> dict[str, Any]:
    """The entry points of the group, by name."""
    return {point.name: point for point in entry_points(group=GROUP)}


def check(config: dict[str, Any]) -> None:
    unknown = sorted(set(config) - {"entry_point", "options"})
    if unknown:
        raise Unprocessable(f"unknown config key {', '.join(unknown)} (known: entry_point, options)")
    name = config.get("entry_point")
    points = installed()
    if not isinstance(name, str) or name not in points:
        listed = ", ".join(sorted(points)) or f'none: install a package declaring "{GROUP}" entry points'
        raise Unprocessable(f"config.entry_point names an installed evaluator function ({listed})")
    if "options" in config and not isinstance(config["options"], dict):
        raise Unprocessable("config.options is an object, handed to the function")


def evaluate(
    config: dict[str, Any], subject: Subject, original: Subject | None, context: Any = None
) -> Outcome:
    point = installed().get(config["entry_point"])
    if point is None:
        raise EvaluationError(f"the entry point {config['entry_point']!r} is not installed on this worker")
    function: Callable[..., Any] = point.load()
    result = function(subject, original, dict(config.get("options") or {}))
    if isinstance(result, Outcome):
        return result
    if isinstance(result, bool):
        return Outcome.passed(result, f"{config['entry_point']} returned {result}")
    if isinstance(result, int | float):
        return Outcome("numeric", float(result))
    if isinstance(result, str):
        return Outcome("categorical", label=result)
    raise EvaluationError(
        f"{config['entry_point']} returned {type(result).__name__}; "
        "return an Outcome, a number, a bool or a label"
    )
