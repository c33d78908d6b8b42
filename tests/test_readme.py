"""The README's example runs as written and its commands stay what CI runs."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_readme_example_runs():
    (block,) = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["action"].shape == (8, 16)
    assert namespace["policy"].logits.shape == (8, 16, 2)


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (REPO / ".ci" / "run").read_text()


def test_readme_states_the_default_number_of_property_examples():
    from hypothesis import settings

    examples = settings.get_profile("default").max_examples
    assert f"with {examples} examples per model by" in README
    assert f"runs {settings.get_profile('thorough').max_examples} examples" in README
