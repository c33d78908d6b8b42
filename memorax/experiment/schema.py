"""The experiment file's JSON Schema, generated from the registries and the algorithms'
config classes, so that the code and `workflow/schemas/experiment.schema.yaml` (what
Snakemake's `validate` reads) cannot drift apart (a test compares them).

`python -m memorax.experiment.schema > workflow/schemas/experiment.schema.yaml`
rewrites the file.
"""

from __future__ import annotations

import copy
import dataclasses
import sys

import yaml

from memorax.algorithms.config import declared_type
from memorax.experiment import registries

JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}


def component(kind: str, names, default=None) -> dict:
    """A `{type: Name, ...arguments}` mapping; the builder checks the arguments
    against the named constructor."""
    schema = {
        "type": "object",
        "description": f"a {kind}: `type` names it, the other keys are its arguments",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(names)}},
    }
    if default is not None:
        schema["default"] = default
    return schema


def optional(schema: dict) -> dict:
    return {"anyOf": [{"type": "null"}, schema], "default": None}


def config_properties(config_class) -> dict:
    """A config dataclass's fields as JSON Schema properties, defaults included."""
    properties = {}
    for field in dataclasses.fields(config_class):
        kind, can_be_none = declared_type(field)
        json_type = JSON_TYPES[kind]
        properties[field.name] = {
            "type": [json_type, "null"] if can_be_none else json_type,
            "default": field.default,
        }
    return properties


def algorithm_schema() -> dict:
    """`name` picks the algorithm; `config` holds its config class's fields."""
    per_algorithm = [
        {
            "if": {"properties": {"name": {"const": name}}},
            "then": {
                "properties": {
                    "config": {"type": "object", "additionalProperties": False, "properties": config_properties(config)}
                }
            },
        }
        for name, (_, config) in registries.ALGORITHMS.items()
    ]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"enum": list(registries.ALGORITHMS)},
            "config": {"type": "object", "default": {}},
        },
        "allOf": per_algorithm,
    }


def network_schema() -> dict:
    extractor = component("feature extractor", registries.EXTRACTORS)
    head = component("head", registries.HEADS)
    return {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "feature_extractor": {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "properties": {
                    "observation": {**extractor, "default": {"type": "MLP", "features": [64]}},
                    "action": optional(extractor),
                    "reward": optional(extractor),
                    "episode_start": optional(extractor),
                },
            },
            "torso": component("torso", registries.TORSOS, default={"type": "MLP", "features": [64]}),
            "share": {
                "type": "boolean",
                "default": False,
                "description": "actor and critic share one feature extractor and torso",
            },
            "heads": {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "description": "heads replacing the ones the algorithm and action space imply",
                "properties": {name: optional(head) for name in ("actor", "critic", "q_network")},
            },
        },
    }


def optimizer_schema() -> dict:
    schedule = {
        "type": "object",
        "required": ["schedule"],
        "description": "an optax schedule: `schedule` names it, the other keys are its arguments",
        "properties": {"schedule": {"enum": sorted(registries.SCHEDULES)}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "name": {"enum": sorted(registries.OPTIMIZERS), "default": "adam"},
            "learning_rate": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, schedule], "default": 3e-4},
            "kwargs": {"type": "object", "default": {}, "description": "the optimizer's other arguments"},
            "max_grad_norm": {
                **optional({"type": "number", "exclusiveMinimum": 0}),
                "description": "clip gradients to this global norm before the optimizer",
            },
        },
    }


def positive_integer(**extra) -> dict:
    return {"type": "integer", "minimum": 1, **extra}


def experiment_schema() -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "memorax experiment",
        "description": "One experiment: an environment, an algorithm with its networks and optimizer, "
        "a budget of env steps and the seeds to run it with. Generated by memorax.experiment.schema.",
        "type": "object",
        "additionalProperties": False,
        "required": ["environment", "algorithm", "total_steps"],
        "properties": {
            "environment": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "kwargs": {"type": "object", "default": {}},
                    "wrappers": {
                        "type": "array",
                        "items": component("wrapper", registries.WRAPPERS),
                        "default": [],
                        "description": "applied in order: the first wraps the environment",
                    },
                },
            },
            "algorithm": algorithm_schema(),
            "network": network_schema(),
            "optimizer": optimizer_schema(),
            "total_steps": positive_integer(description="env steps per seed"),
            "seeds": {
                "anyOf": [
                    positive_integer(description="a count: seeds 0 .. count-1"),
                    {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "uniqueItems": True},
                ],
                "default": 3,
            },
            "evaluation": {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "properties": {
                    "interval": {**optional(positive_integer()), "description": "env steps; null: at the end only"},
                    "episodes": positive_integer(default=16),
                    "deterministic": {
                        "type": "boolean",
                        "default": True,
                        "description": "greedy / mean actions; false: the policy training acts with",
                    },
                },
            },
            "checkpoints": {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "properties": {
                    "interval": {**optional(positive_integer()), "description": "env steps; null: at each evaluation"},
                    "keep": positive_integer(default=2, description="the latest checkpoints kept"),
                    "keep_best": {"type": "integer", "minimum": 0, "default": 1},
                },
            },
            "sweep": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": "array", "minItems": 1},
                "description": "a grid: dotted field -> values; the file stands for one experiment per "
                "combination, named <file>-<value>-... (see memorax.experiment.sweep)",
            },
            "tracking": {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "properties": {
                    "experiment": {
                        **optional({"type": "string", "minLength": 1}),
                        "description": "MLflow experiment; null: <suite>/<file name>",
                    },
                    "tags": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
                },
            },
        },
    }


def with_defaults(document, schema: dict):
    """`document` with every default of `schema`'s `properties` written in, recursively
    (a missing object with a default is added and then filled in as well), and those of
    the `allOf` branches whose `if` it meets: what Snakemake's `validate(...,
    set_default=True)` fills in (tested)."""
    if not isinstance(document, dict) or ("properties" not in schema and "allOf" not in schema):
        return document
    filled = dict(document)
    for name, child in schema.get("properties", {}).items():
        if name not in filled and "default" in child:
            filled[name] = copy.deepcopy(child["default"])
        if name in filled:
            filled[name] = with_defaults(filled[name], child)
    for branch in schema.get("allOf", []):  # e.g. the chosen algorithm's config fields
        condition = branch.get("if", {}).get("properties", {})
        if all(filled.get(key) == rule.get("const") for key, rule in condition.items()):
            filled = with_defaults(filled, branch["then"])
    return filled


def schema_text() -> str:
    return yaml.safe_dump(experiment_schema(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(schema_text())
