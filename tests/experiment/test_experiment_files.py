"""Experiment files: the schema, the builder and `memorax validate`.

Every file under malformed/ is a mistake someone could make; its first line says what
the error must say (`# expect: <field>: <reason>`), after the file's own path.
"""

from pathlib import Path

import pytest
import yaml

from memorax.algorithms import PPOConfig
from memorax.cli import main
from memorax.experiment import ExperimentError, build_experiment
from memorax.experiment.schema import schema_text

HERE = Path(__file__).parent
REPO = HERE.parents[1]
MALFORMED = sorted((HERE / "malformed").glob("*.yaml"))
QUICK = sorted((REPO / "experiments" / "quick").glob("*.yaml"))


def expected_message(path: Path) -> str:
    first = path.read_text().partition("\n")[0]
    if not first.startswith("# expect: "):
        return "the file is empty"  # empty_file.yaml: no room for a header
    return first.removeprefix("# expect: ")


def test_the_corpus_is_large_and_every_file_says_what_it_expects():
    assert len(MALFORMED) >= 25
    for path in MALFORMED:
        assert path.stat().st_size == 0 or expected_message(path) != "the file is empty", path


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_malformed_file_fails_naming_file_field_and_reason(path):
    with pytest.raises(ExperimentError) as caught:
        build_experiment(path)
    assert f"{path}: {expected_message(path)}" in str(caught.value)


def test_validate_lists_every_problem_and_exits_non_zero(capsys):
    assert main(["validate", *map(str, MALFORMED[:5]), str(QUICK[0])]) == 1
    out, err = capsys.readouterr()
    assert f"ok {QUICK[0]}" in out
    for path in MALFORMED[:5]:
        assert f"{path}: {expected_message(path)}" in err
    assert "5 of 6 experiment file(s) have problems" in err


def test_the_quick_suite_validates(capsys):
    assert len(QUICK) >= 5
    assert main(["validate", *map(str, QUICK)]) == 0
    assert capsys.readouterr().out.count("ok ") == len(QUICK)


def test_the_schema_file_is_the_one_the_code_generates():
    written = (REPO / "workflow" / "schemas" / "experiment.schema.yaml").read_text()
    assert written == schema_text(), (
        "workflow/schemas/experiment.schema.yaml is stale: "
        "python -m memorax.experiment.schema > workflow/schemas/experiment.schema.yaml"
    )


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


def test_resolved_experiment_writes_out_every_default(tmp_path):
    path = write(
        tmp_path,
        "environment: {id: CartPole-v1}\n"
        "algorithm: {name: PPO, config: {num_envs: 4}}\n"
        "network: {torso: {type: GRU, features: 8}}\n"
        "optimizer: {learning_rate: 1e-3}\n"
        "total_steps: 1000\n",
    )
    experiment = build_experiment(path)
    resolved = experiment.resolved
    assert resolved["algorithm"]["config"] == {**PPOConfig().__dict__, "num_envs": 4}
    assert resolved["seeds"] == experiment.seeds == [0, 1, 2]
    assert resolved["optimizer"] == {"name": "adam", "learning_rate": 1e-3, "kwargs": {}, "max_grad_norm": None}
    assert resolved["network"]["torso"] == {"type": "GRU", "features": 8, "step_by_step": False}
    assert resolved["network"]["heads"] == {"actor": {"type": "Categorical"}, "critic": {"type": "VNetwork"}}
    assert resolved["network"]["feature_extractor"]["observation"]["features"] == [64]
    assert resolved["evaluation"] == {"interval": None, "episodes": 16, "deterministic": True}
    # The resolved experiment is itself a valid file that builds to the same.
    again = build_experiment(write(tmp_path, yaml.safe_dump(resolved)))
    assert again.resolved == resolved


def test_sizes_are_inferred_and_share_means_one_torso(tmp_path):
    text = (
        "environment: {id: MemoryChain-bsuite}\n"
        "algorithm: {name: PPO}\n"
        "network:\n"
        "  feature_extractor: {observation: {type: MLP, features: [12]}}\n"
        "  torso: {type: Stack, blocks: [{type: PreNorm, module: {type: GRU, features: 12}}, {type: LSTM, features: 5}]}\n"
        "  share: SHARE\n"
        "total_steps: 1000\n"
    )
    shared = build_experiment(write(tmp_path, text.replace("SHARE", "true"))).agent.networks
    assert shared[0].torso is shared[1].torso and shared[0].feature_extractor is shared[1].feature_extractor
    agent = build_experiment(write(tmp_path, text.replace("SHARE", "false"))).agent
    assert agent.networks[0].torso is not agent.networks[1].torso
    apart = agent.merged(agent.parameter_shapes)  # the networks as the algorithm built them
    gru = apart[0].torso.blocks[0].module
    assert gru.cell.in_features == 12 and apart[0].torso.blocks[1].cell.in_features == 12
    assert apart[0].head.action_dim == 2  # MemoryChain's two actions, never written in the file


def test_snakemake_validates_with_the_schema_and_fills_the_same_defaults():
    from snakemake.utils import validate

    from memorax.experiment import read_experiment

    schema = REPO / "workflow" / "schemas" / "experiment.schema.yaml"
    for path in QUICK:
        document = yaml.safe_load(path.read_text())
        validate(document, str(schema), set_default=True)
        assert document == read_experiment(path), path
    with pytest.raises(Exception, match="less than the minimum of 1"):
        validate(yaml.safe_load((HERE / "malformed" / "zero_total_steps.yaml").read_text()), str(schema))
