"""The pre-commit hook (.pre-commit-hooks.yaml) and the GitHub Action (action.yml) as written: they parse, name real
CLI options, and the command lines they contain run offline against the test artefacts with the exit-code contract
(0 nothing at or above fail-on, 1 some, 2 unreadable input). Installing from PyPI and the upload to code scanning
need GitHub and the network; they are checked for what they reference, not run."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from connector_health.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
IAC = REPO / "tests" / "iac"
BIN = Path(sys.executable).parent
SCHEMA = json.loads((IAC / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def _options() -> set[str]:
    lint = build_parser()._subparsers._group_actions[0].choices["lint-trust"]  # noqa: SLF001 - the real parser
    return {option for action in lint._actions for option in action.option_strings}  # noqa: SLF001


# ---------------------------------------------------------------------------------------------- pre-commit

@pytest.fixture(scope="module")
def hook() -> dict:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = hooks
    return hook


def test_hook_definition(hook):
    assert hook["id"] == "connector-health-lint-trust" and hook["language"] == "python"
    assert hook["pass_filenames"] is True and hook["require_serial"] is True
    entry = shlex.split(hook["entry"])
    assert entry[:2] == ["connector-health", "lint-trust"]
    assert {a for a in entry if a.startswith("--")} <= _options()
    files = re.compile(hook["files"])
    for name in ("template.yaml", "stack.yml", "plan.json", "cdk.out/App.template.json", "sam.template"):
        assert files.search(name), name
    for name in ("app.py", "README.md", "Makefile"):
        assert not files.search(name), name


def _run_hook(hook: dict, files: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    """What pre-commit runs: the entry with the changed files matching `files` appended."""
    entry = shlex.split(hook["entry"])
    chosen = [str(f.relative_to(cwd)) for f in files if re.search(hook["files"], str(f.relative_to(cwd)))]
    command = [str(BIN / entry[0]), *entry[1:], *chosen]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_hook_on_changed_files(hook, tmp_path):
    shutil.copy(IAC / "cloudformation/configure-aws-credentials-federation-and-role.yml", tmp_path / "ci.yml")
    shutil.copy(IAC / "cloudformation/oidc-github-gitlab-eks.yaml", tmp_path / "roles.yaml")
    (tmp_path / "package.json").write_text('{"name": "site"}')
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "app.py").write_text("print('x')\n")
    everything = sorted(tmp_path.iterdir())

    clean = _run_hook(hook, [tmp_path / "ci.yml", tmp_path / "package.json", tmp_path / "app.py"], tmp_path)
    assert clean.returncode == 0, clean.stderr  # medium and low only; package.json passed over
    assert "ci.yml:" in clean.stdout and "RoleGithubActions" in clean.stdout

    failing = _run_hook(hook, everything, tmp_path)
    assert failing.returncode == 1 and "roles.yaml:" in failing.stdout and "GitHubAnyOwnerRole" in failing.stdout

    only_others = _run_hook(hook, [tmp_path / "package.json", tmp_path / "docker-compose.yml"], tmp_path)
    assert only_others.returncode == 0 and "nothing to lint" in only_others.stderr

    (tmp_path / "broken.yaml").write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources: [\n")
    broken = _run_hook(hook, [tmp_path / "broken.yaml"], tmp_path)
    assert broken.returncode == 2 and broken.stderr.strip().count("\n") == 0 and "broken.yaml" in broken.stderr


# ---------------------------------------------------------------------------------------------- GitHub Action

@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))


def _step(action: dict, **match) -> dict:
    return next(s for s in action["runs"]["steps"] if all(s.get(k) == v for k, v in match.items()))


def test_action_definition(action):
    assert action["runs"]["using"] == "composite"
    assert {"paths", "fail-on", "provider-audiences", "parameters", "sarif-file", "upload-sarif"} <= set(action["inputs"])
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.lint.outputs.exit-code }}"
    install = _step(action, name="Install connector-health")
    assert 'pip install' in install["run"] and '"$GITHUB_ACTION_PATH"' in install["run"]
    upload = next(s for s in action["runs"]["steps"] if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert "exit-code != '2'" in upload["if"] and "inputs.upload-sarif == 'true'" in upload["if"]
    fail = _step(action, name="Fail on findings at or above fail-on")
    assert fail["if"] == "${{ steps.lint.outputs.exit-code == '1' }}" and "exit 1" in fail["run"]
    lint = _step(action, id="lint")
    used = set(re.findall(r"(--[a-z][a-z-]+)", lint["run"]))
    assert used <= _options() and {"--format", "--output", "--fail-on", "--parameter", "--provider-audience"} <= used
    # Inputs reach the script through the environment (no ${{ }} inside the script: no injection).
    assert "${{" not in lint["run"] and all(v.startswith("${{ inputs.") for v in lint["env"].values())


def _run_lint_step(action: dict, tmp_path: Path, **inputs: str) -> tuple[int, dict, Path]:
    """The lint step's script under bash, with its env as GitHub sets it from the inputs (defaults filled)."""
    values = {name: spec.get("default", "") for name, spec in action["inputs"].items()} | inputs
    lint = _step(action, id="lint")
    env = {name: re.sub(r"\$\{\{ inputs\.([a-z-]+) \}\}", lambda m: values[m[1]], value)
           for name, value in lint["env"].items()}
    output = tmp_path / "github_output"
    output.write_text("")
    done = subprocess.run(["bash", "-e", "-c", lint["run"]], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "GITHUB_OUTPUT": str(output),
                               "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done.returncode, outputs, tmp_path / values["sarif-file"]


def test_action_lint_step_exit_code_contract(action, tmp_path):
    shutil.copytree(IAC / "cloudformation", tmp_path / "cloudformation")
    shutil.copytree(IAC / "terraform", tmp_path / "terraform")

    status, outputs, sarif = _run_lint_step(action, tmp_path, paths="cloudformation/configure-aws-credentials-federation-and-role.yml")
    assert (status, outputs["exit-code"]) == (0, "0")
    log = json.loads(sarif.read_text())
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "cloudformation/configure-aws-credentials-federation-and-role.yml"

    # Findings at or above fail-on: the step itself succeeds (so the SARIF is uploaded), the last step fails the job.
    status, outputs, sarif = _run_lint_step(action, tmp_path, paths="cloudformation terraform/gitlab-existing-provider.plan.json")
    assert (status, outputs["exit-code"]) == (0, "1") and json.loads(sarif.read_text())["runs"][0]["results"]

    # Parameters and provider audiences reach the CLI.
    status, outputs, _ = _run_lint_step(
        action, tmp_path, paths="cloudformation/configure-aws-credentials-federation-and-role.yml", **{"fail-on": "medium",
        "parameters": "RepositoryName=infra\nBranchName=main\n", "provider-audiences": "sts.amazonaws.com"})
    assert (status, outputs["exit-code"]) == (0, "0")

    # Unreadable input: the step fails at once with 2 (and the upload is skipped by its condition).
    status, outputs, _ = _run_lint_step(action, tmp_path, paths="does-not-exist")
    assert (status, outputs["exit-code"]) == (2, "2")
