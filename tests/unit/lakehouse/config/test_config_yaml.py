"""lakehouse.config.safe_yaml: the YAML loader of every user- or deployment-provided file
refuses alias bombs, plain anchors/aliases and deep nesting with named errors that
carry the line, and still loads the shipped configs."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from lakehouse.config import paths
from lakehouse.config.safe_yaml import MAX_DEPTH, UnsafeYAMLError, YAMLAliasError, YAMLNestingError, load_yaml
from lakehouse.config.settings import load_settings
from lakehouse.endpoints import load_endpoint, validate_all
from lakehouse.errors import EndpointConfigError, SettingsError

SHIPPED = paths.endpoints_dir()


def alias_bomb(levels: int = 7, width: int = 10) -> str:
    """Each level a list of ``width`` aliases of the level below: width**levels leaves."""
    lines = ["name: bomb", f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_the_bomb_expands_under_plain_pyyaml() -> None:
    """The attack is real: PyYAML's safe loader accepts it, and a consumer that walks
    the result (as validation does) visits every node (10**5 here, to stay quick; the
    refused one below is 10**7)."""
    data = yaml.safe_load(alias_bomb(levels=5))

    def count(value: object) -> int:
        return 1 + sum(count(v) for v in value) if isinstance(value, list) else 1

    assert count(data["a4"]) > 10**5


def test_an_alias_bomb_is_refused_fast_and_small() -> None:
    text = alias_bomb(levels=7)  # 10**7 leaves
    assert len(text) < 1024
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(YAMLAliasError) as info:
            load_yaml(text)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.1, f"refused in {elapsed:.3f} s"
    assert peak < 1_000_000, f"peak {peak} bytes"
    assert info.value.problem_mark is not None and info.value.problem_mark.line == 1  # 0-based: line 2
    assert "anchor &a0" in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "construct"),
    [
        ("a: &x 1\nb: *x\n", 1, "anchor &x"),
        ("a: 1\nb:\n  - &base {k: v}\n  - <<: *base\n", 3, "anchor &base"),
        # An alias to an anchor PyYAML never saw is refused as an alias, not as a
        # missing anchor: nothing is looked up.
        ("a: 1\nb: *nowhere\n", 2, "alias *nowhere"),
    ],
)
def test_a_plain_anchor_or_alias_is_refused_with_its_line(text: str, line: int, construct: str) -> None:
    with pytest.raises(YAMLAliasError) as info:
        load_yaml(text)
    assert info.value.problem_mark is not None and info.value.problem_mark.line + 1 == line
    assert construct in str(info.value)
    assert isinstance(info.value, UnsafeYAMLError) and isinstance(info.value, yaml.MarkedYAMLError)


def test_deep_nesting_is_a_named_error_not_a_recursion_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    started = time.perf_counter()
    with pytest.raises(YAMLNestingError, match=f"more than {MAX_DEPTH} levels"):
        load_yaml(deep)
    # PyYAML's scanner looks up to 1024 characters ahead for a key whatever the depth:
    # bounded (about 0.5 s here), not proportional to the 100,000 levels.
    assert time.perf_counter() - started < 5
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_duplicate_keys_are_still_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match=r"duplicate key 'a' \(first set on line 1\)"):
        load_yaml("a: 1\nb: 2\na: 3\n")


def test_an_endpoint_config_with_an_alias_names_file_and_line(tmp_path: Path) -> None:
    shipped = (SHIPPED / "sandbox_trades.yaml").read_text()
    text = shipped.replace("name: sandbox_trades", "name: sandbox_trades\ntags: &t [a]\ndescription: *t", 1)
    path = tmp_path / "sandbox_trades.yaml"
    path.write_text(text)
    with pytest.raises(EndpointConfigError) as info:
        load_endpoint(path)
    line = text.splitlines().index("tags: &t [a]") + 1
    assert f"sandbox_trades.yaml: line {line}, column 7: invalid YAML: YAML anchors and aliases are not allowed" in str(
        info.value
    )


def test_a_bomb_in_the_request_body_is_refused_before_validation(tmp_path: Path) -> None:
    """``request.body`` takes any JSON value, so pydantic walks all of it: with PyYAML's
    own loader these 440 bytes validated for about two minutes at 365 MB (measured
    while the machine was busy); refused now before anything is built."""
    shipped = re.sub(r"\n  method: \w+", "", (SHIPPED / "sandbox_trades.yaml").read_text())
    body = "".join(f"    {line}\n" for line in alias_bomb().splitlines()[1:])
    text = shipped.replace("request:\n", "request:\n  method: POST\n  body:\n" + body, 1)
    path = tmp_path / "sandbox_trades.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(EndpointConfigError, match="anchors and aliases are not allowed"):
        load_endpoint(path)
    assert time.perf_counter() - started < 0.5


def test_a_bomb_among_good_configs_is_one_error_and_the_rest_load(tmp_path: Path) -> None:
    for path in SHIPPED.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    started = time.perf_counter()
    configs, errors = validate_all(tmp_path)
    assert time.perf_counter() - started < 5
    assert sorted(c.name for c in configs) == sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    assert [Path(e.file).name for e in errors] == ["bomb.yaml"]
    assert "bomb.yaml: line 2, column 5: invalid YAML: YAML anchors and aliases" in str(errors[0])


def test_a_profile_with_an_alias_is_a_settings_error_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "aliased.yaml").write_text("redis:\n  host: &h 127.0.0.1\ns3:\n  region: *h\n")
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match=r"aliased\.yaml: line 2, column 9: not valid YAML: YAML anchors"):
        load_settings("aliased")
