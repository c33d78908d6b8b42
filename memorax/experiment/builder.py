"""One function from a resolved experiment to the objects it names: the environment
with its wrappers, the networks (sizes inferred from the environment and the previous
layer), the optimizers and the algorithm. A problem fails here, before any training,
naming the file, the field and the reason."""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import optax

from memorax.algorithms import Algorithm, ConfigError
from memorax.environments import make, registered_ids
from memorax.experiment import registries
from memorax.experiment.errors import ExperimentError, Problem
from memorax.experiment.spec import closest, read_experiment
from memorax.networks import BuildError, FeatureExtractor, Network

# The networks each algorithm takes, in its constructor's order.
NETWORK_ROLES = {"PPO": ("actor", "critic"), "SAC": ("actor", "critic"), "DQN": ("q_network",)}
NETWORK_ROLES["R2D2"] = NETWORK_ROLES["PQN"] = NETWORK_ROLES["DQN"]


@dataclass
class Experiment:
    """A built experiment: what `memorax train` runs."""

    path: Path
    resolved: dict  # the file with every default written out
    env: object
    env_params: object
    agent: Algorithm
    seeds: list[int]


class _Problems(Exception):
    """Problems found while building one part; turned into an ExperimentError."""

    def __init__(self, *problems: Problem):
        self.problems = list(problems)


# --- components: {type: Name, ...arguments} -----------------------------------------


def _json_default(value):
    if isinstance(value, tuple):
        value = list(value)
    if value is None or isinstance(value, (bool, int, float, str)) or isinstance(value, list):
        return True, value
    return False, None


def _parameters(factory) -> dict:
    """A factory's named parameters (a class's __init__'s: nnx classes hide theirs
    behind a metaclass), without self and the wrapped env."""
    signature = inspect.signature(factory.__init__ if isinstance(factory, type) else factory)
    return {name: p for name, p in signature.parameters.items() if name not in ("self", "env")}


def _with_signature_defaults(factory, arguments: dict) -> dict:
    """The arguments with the factory's plain (JSON-writable) defaults written in."""
    resolved = dict(arguments)
    for name, parameter in _parameters(factory).items():
        if name in resolved or parameter.default is inspect.Parameter.empty:
            continue
        writable, value = _json_default(parameter.default)
        if writable:
            resolved[name] = value
    return resolved


# "Owner: field reason." or "field reason.": the library's messages name the argument.
LIBRARY_MESSAGE = re.compile(r"^(?:[\w.()\[\]=, ]+: )?(\w+):? (.+?)\.?$", re.S)


def _construct(factory, kind: str, name: str, arguments: dict, field: str, leading=()):
    """factory(*leading, **arguments), with the file's field named in every error."""
    parameters = _parameters(factory)
    for argument in arguments:
        if argument not in parameters:
            raise _Problems(
                Problem(f"{field}.{argument}", f"{name} takes no argument {argument!r}{closest(argument, list(parameters))}")
            )
    missing = [p for p, parameter in parameters.items() if parameter.default is inspect.Parameter.empty]
    missing = [p for p in missing if p not in arguments and parameters[p].kind is not inspect.Parameter.VAR_KEYWORD]
    missing = [p for p in missing if parameters[p].kind is not inspect.Parameter.VAR_POSITIONAL]
    if missing:
        raise _Problems(Problem(f"{field}.{missing[0]}", f"is required by {kind} {name}"))
    try:
        return factory(*leading, **arguments)
    except (ValueError, TypeError) as error:
        match = LIBRARY_MESSAGE.match(str(error))
        if match and match.group(1) in arguments:
            raise _Problems(Problem(f"{field}.{match.group(1)}", match.group(2))) from None
        raise _Problems(Problem(field, str(error))) from None


def _component(spec: dict, registry: dict, kind: str, field: str, leading=()):
    name, arguments = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    return _construct(registry[name], kind, name, arguments, field, leading)


def _torso(spec: dict, field: str):
    """A torso, its nested blocks made first (`Stack.blocks`, `PreNorm.module`, ...)."""
    name = spec["type"]
    nested = registries.NESTED_TORSO_ARGUMENTS.get(name)
    spec = dict(spec)
    if nested is not None and nested in spec:
        inner = spec[nested]
        if nested == "blocks":
            if not isinstance(inner, list) or not inner:
                raise _Problems(Problem(f"{field}.blocks", "must be a non-empty list of torsos"))
            spec[nested] = [_torso_spec_checked(block, f"{field}.blocks[{i}]") for i, block in enumerate(inner)]
        else:
            spec[nested] = _torso_spec_checked(inner, f"{field}.{nested}")
    return _component(spec, registries.TORSOS, "torso", field)


def _torso_spec_checked(spec, field: str):
    if not isinstance(spec, dict) or "type" not in spec:
        raise _Problems(Problem(field, f"must be a torso mapping with a type, got {spec!r}"))
    if spec["type"] not in registries.TORSOS:
        raise _Problems(Problem(f"{field}.type", f"unknown name {spec['type']!r}{closest(spec['type'], registries.TORSOS)}"))
    return _torso(spec, field)


def _resolved_torso(spec: dict) -> dict:
    name = spec["type"]
    resolved = _with_signature_defaults(registries.TORSOS[name], spec)
    nested = registries.NESTED_TORSO_ARGUMENTS.get(name)
    if nested == "blocks":
        resolved["blocks"] = [_resolved_torso(block) for block in spec["blocks"]]
    elif nested is not None:
        resolved[nested] = _resolved_torso(spec[nested])
    return resolved


# --- the parts of an experiment --------------------------------------------------------


def _environment(section: dict):
    env_id = section["id"]
    if env_id not in registered_ids():
        raise _Problems(Problem("environment.id", f"unknown environment {env_id!r}{closest(env_id, registered_ids())}"))
    try:
        env, env_params = make(env_id, **section["kwargs"])
    except (ValueError, TypeError) as error:
        raise _Problems(Problem("environment.kwargs", str(error))) from None
    for index, spec in enumerate(section["wrappers"]):
        env = _component(spec, registries.WRAPPERS, "wrapper", f"environment.wrappers[{index}]", leading=(env,))
    return env, env_params


def _config(section: dict):
    _, config_class = registries.ALGORITHMS[section["name"]]
    try:
        return config_class(**section["config"])
    except ConfigError as error:
        raise _Problems(_config_problem(error)) from None


def _config_problem(error: ConfigError) -> Problem:
    """"PPOConfig.num_envs: must be positive (got -1)." -> algorithm.config.num_envs."""
    match = re.match(r"^\w+\.(\w+): (.+?)\.?$", str(error), re.S)
    if match:
        return Problem(f"algorithm.config.{match.group(1)}", match.group(2))
    return Problem("algorithm.config", str(error))


def _action_dim(env, env_params) -> tuple[int, bool]:
    space = env.action_space(env_params)
    if hasattr(space, "n"):
        return int(space.n), True
    return int(space.shape[0]) if space.shape else 1, False


def _default_head(algorithm: str, role: str, discrete: bool) -> dict:
    if role == "q_network":
        return {"type": "DiscreteQNetwork"}
    if role == "critic":
        return {"type": "TwinContinuousQNetwork" if algorithm == "SAC" else "VNetwork"}
    if algorithm == "SAC":
        return {"type": "SquashedGaussian"}
    return {"type": "Categorical" if discrete else "Gaussian"}


def _head(spec: dict, field: str, action_dim: int):
    name = spec["type"]
    if "action_dim" in spec:
        raise _Problems(Problem(f"{field}.action_dim", "is the environment's; leave it out"))
    takes_action_dim = name in registries.ACTION_HEADS
    arguments = {k: v for k, v in spec.items() if k != "type"}
    if takes_action_dim:
        arguments = {"action_dim": action_dim, **arguments}
    return _construct(registries.HEADS[name], "head", name, arguments, field)


def _networks(experiment: dict, env, env_params):
    algorithm = experiment["algorithm"]["name"]
    section = experiment["network"]
    roles = NETWORK_ROLES[algorithm]
    for role, spec in section["heads"].items():
        if spec is not None and role not in roles:
            raise _Problems(
                Problem(f"network.heads.{role}", f"{algorithm} has no {role} network; its networks: {', '.join(roles)}")
            )
    action_dim, discrete = _action_dim(env, env_params)
    extractors = section["feature_extractor"]

    def body():
        made = {
            f"{name}_extractor": _component(spec, registries.EXTRACTORS, "feature extractor", f"network.feature_extractor.{key}")
            for key, name, spec in (
                ("observation", "observation", extractors["observation"]),
                ("action", "action", extractors["action"]),
                ("reward", "reward", extractors["reward"]),
                ("episode_start", "done", extractors["episode_start"]),
            )
            if spec is not None
        }
        return FeatureExtractor(**made), _torso(section["torso"], "network.torso")

    shared = body() if section["share"] else None
    networks, heads = [], {}
    for role in roles:
        head_spec = section["heads"].get(role) or _default_head(algorithm, role, discrete)
        heads[role] = head_spec
        feature_extractor, torso = shared or body()
        networks.append(Network(feature_extractor, torso, _head(head_spec, f"network.heads.{role}", action_dim)))
    return networks, heads


def _network_field(message: str, experiment: dict, heads: dict) -> str:
    """The head a build error names, if the file chose that head; else the network."""
    for role, spec in heads.items():
        if experiment["network"]["heads"].get(role) and message.startswith(f"{spec['type']}("):
            return f"network.heads.{role}"
    return "network"


def _optimizer(section: dict):
    learning_rate = section["learning_rate"]
    if isinstance(learning_rate, dict):
        schedule = learning_rate["schedule"]
        arguments = {k: v for k, v in learning_rate.items() if k != "schedule"}
        learning_rate = _construct(
            registries.SCHEDULES[schedule], "schedule", schedule, arguments, "optimizer.learning_rate"
        )
    optimizer = _construct(
        registries.OPTIMIZERS[section["name"]],
        "optimizer",
        section["name"],
        {"learning_rate": learning_rate, **section["kwargs"]},
        "optimizer.kwargs",
    )
    if section["max_grad_norm"] is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(section["max_grad_norm"]), optimizer)
    return optimizer


def _seeds(seeds) -> list[int]:
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def _resolved(experiment: dict, config, heads: dict) -> dict:
    """The experiment with every default written out, as saved with each run."""
    resolved = dict(experiment)
    resolved["algorithm"] = {"name": experiment["algorithm"]["name"], "config": dataclasses.asdict(config)}
    network = dict(experiment["network"])
    network["torso"] = _resolved_torso(network["torso"])
    network["feature_extractor"] = {
        key: None if spec is None else _with_signature_defaults(registries.EXTRACTORS[spec["type"]], spec)
        for key, spec in network["feature_extractor"].items()
    }
    network["heads"] = {
        role: {k: v for k, v in _with_signature_defaults(registries.HEADS[spec["type"]], spec).items() if k != "action_dim"}
        for role, spec in heads.items()
    }
    resolved["network"] = network
    resolved["environment"] = {
        **experiment["environment"],
        "wrappers": [_with_signature_defaults(registries.WRAPPERS[w["type"]], w) for w in experiment["environment"]["wrappers"]],
    }
    resolved["seeds"] = _seeds(experiment["seeds"])
    return resolved


def build_experiment(path: Path | str, experiment: dict | None = None) -> Experiment:
    """Read (unless given) and build the experiment in `path`. Nothing is trained,
    compiled for training or written. Raises ExperimentError naming the field."""
    path = Path(path)
    experiment = read_experiment(path) if experiment is None else experiment
    try:
        env, env_params = _environment(experiment["environment"])
        config = _config(experiment["algorithm"])
        networks, heads = _networks(experiment, env, env_params)
        optimizer = _optimizer(experiment["optimizer"])
        algorithm_class, _ = registries.ALGORITHMS[experiment["algorithm"]["name"]]
        optimizers = [optimizer] * len(networks)
        try:
            agent = algorithm_class(config, env, env_params, *networks, *optimizers)
        except BuildError as error:
            raise _Problems(Problem(_network_field(str(error), experiment, heads), str(error))) from None
        except ConfigError as error:
            raise _Problems(_config_problem(error)) from None
        except (ValueError, TypeError) as error:
            raise _Problems(Problem("algorithm", str(error))) from None
    except _Problems as found:
        raise ExperimentError(path, found.problems) from None
    resolved = _resolved(experiment, config, heads)
    return Experiment(path, resolved, env, env_params, agent, resolved["seeds"])


__all__ = ["Experiment", "build_experiment"]
