"""Read an experiment file: YAML, checked against the schema, defaults written in.

Every problem the schema finds is reported at once, each with its field path and a
reason a person can act on (the closest valid names for an unknown one).
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path

import jsonschema
import yaml

from memorax.experiment.errors import ExperimentError, Problem, dotted
from memorax.experiment.schema import experiment_schema, with_defaults


class _ExperimentLoader(yaml.SafeLoader):
    """YAML as people write experiment files: `1e-3` is a number (PyYAML's YAML 1.1
    reads it as a string), and a key given twice is an error, not a silent overwrite."""


_ExperimentLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _mapping_without_repeats(loader, node):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_ExperimentLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


@functools.cache
def _validator():
    schema = experiment_schema()
    return jsonschema.Draft202012Validator(schema), schema


def closest(name, choices) -> str:
    """"; closest: a, b" (ignoring case), or the valid choices when none is close."""
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    lower = str(name).lower()
    prefixed = [choice for choice in by_lower if lower and (choice.startswith(lower) or lower.startswith(choice))]
    matches = list(dict.fromkeys(prefixed + difflib.get_close_matches(lower, by_lower, n=3, cutoff=0.6)))[:3]
    if matches:
        return f"; closest: {', '.join(by_lower[m] for m in matches)}"
    return f"; valid: {', '.join(map(str, choices))}"


JSON_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _describe_type(expected) -> str:
    expected = expected if isinstance(expected, list) else [expected]
    return " or ".join(JSON_TYPE_NAMES.get(t, t) for t in expected)


def _problem(error: jsonschema.ValidationError) -> list[Problem]:
    """One schema error as problems with a field path and a plain reason."""
    path = list(error.absolute_path)
    field = dotted(path)
    kind, value = error.validator, error.instance
    if kind == "anyOf":
        # An alternative of the right type that fails a further rule says most.
        specific = [e for e in error.context if e.validator not in ("type", "anyOf", "const")]
        if specific:
            return _problem(min(specific, key=lambda e: len(e.absolute_path)))
        return [Problem(field, f"{_describe_any_of(error.validator_value)}, got {value!r}")]
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        extras = [key for key in value if key not in known]
        return [Problem(dotted([*path, key]), f"unknown field{closest(key, known)}") for key in extras]
    if kind == "required":
        missing = [name for name in error.validator_value if name not in value]
        return [Problem(dotted([*path, name]), "is required") for name in missing]
    if kind == "enum":
        return [Problem(field, f"unknown name {value!r}{closest(value, error.validator_value)}")]
    if kind == "const":
        return []  # the `if` of an algorithm's config branch: not a problem of the file
    if kind == "type":
        return [Problem(field, f"must be {_describe_type(error.validator_value)}, got {value!r}")]
    if kind == "minimum":
        return [Problem(field, f"must be at least {error.validator_value}, got {value!r}")]
    if kind == "exclusiveMinimum":
        return [Problem(field, f"must be greater than {error.validator_value}, got {value!r}")]
    if kind == "minItems":
        return [Problem(field, f"must have at least {error.validator_value} item(s), got {value!r}")]
    if kind == "uniqueItems":
        return [Problem(field, f"must not repeat items, got {value!r}")]
    if kind == "minLength":
        return [Problem(field, "must not be empty")]
    return [Problem(field, error.message)]


def _describe_any_of(alternatives) -> str:
    kinds = []
    for alternative in alternatives:
        if "type" in alternative:
            kinds.append(_describe_type(alternative["type"]))
    return "must be " + " or ".join(kinds) if kinds else "does not match any allowed form"


def schema_problems(document) -> list[Problem]:
    """Every problem the schema finds in a parsed document, in file order."""
    validator, _ = _validator()
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        for problem in _problem(error):
            if problem not in problems:
                problems.append(problem)
    return problems


def parse(path: Path) -> dict:
    """The file's mapping, or an ExperimentError for an unreadable, empty or non-mapping file."""
    if not path.exists():
        from memorax.experiment.sweep import find_member

        member = find_member(path)  # a member of a sweep in the same folder
        if member is not None:
            return member
    try:
        text = path.read_text()
    except OSError as error:
        raise ExperimentError(path, [Problem("", f"cannot read the file ({error.strerror})")]) from None
    try:
        document = yaml.load(text, Loader=_ExperimentLoader)  # a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ExperimentError(path, [Problem("", f"not valid YAML{where}: {reason}")]) from None
    if document is None:
        raise ExperimentError(path, [Problem("", "the file is empty")])
    if not isinstance(document, dict):
        raise ExperimentError(path, [Problem("", f"must be a mapping of fields, got {type(document).__name__}")])
    return document


def read_experiment(path: Path | str) -> dict:
    """The experiment in `path`, schema-checked, with every schema default written in.
    Raises ExperimentError listing every problem."""
    from memorax.experiment.sweep import is_sweep, members

    path = Path(path)
    document = parse(path)
    if is_sweep(document):
        names = list(members(path, document))
        raise ExperimentError(
            path,
            [Problem("sweep", f"is a sweep of {len(names)} experiments; name one, e.g. {path.parent / names[0]}.yaml")],
        )
    problems = schema_problems(document)
    if problems:
        raise ExperimentError(path, problems)
    return with_defaults(document, _validator()[1])
