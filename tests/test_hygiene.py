"""What hassfest and HACS would check, without needing Home Assistant's repository."""

from __future__ import annotations

import json
from pathlib import Path
import re

from packaging.requirements import Requirement
import yaml

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "custom_components" / "alphaess_local"
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text())

# Integration Quality Scale rules as of Home Assistant 2025.4.
RULES = {
    "action-setup", "appropriate-polling", "brands", "common-modules",
    "config-flow-test-coverage", "config-flow", "dependency-transparency",
    "docs-actions", "docs-high-level-description", "docs-installation-instructions",
    "docs-removal-instructions", "entity-event-setup", "entity-unique-id",
    "has-entity-name", "runtime-data", "test-before-configure", "test-before-setup",
    "unique-config-entry", "action-exceptions", "config-entry-unloading",
    "docs-configuration-parameters", "docs-installation-parameters", "entity-unavailable",
    "integration-owner", "log-when-unavailable", "parallel-updates",
    "reauthentication-flow", "test-coverage", "devices", "diagnostics",
    "discovery-update-info", "discovery", "docs-data-update", "docs-examples",
    "docs-known-limitations", "docs-supported-devices", "docs-supported-functions",
    "docs-troubleshooting", "docs-use-cases", "dynamic-devices", "entity-category",
    "entity-device-class", "entity-disabled-by-default", "entity-translations",
    "exception-translations", "icon-translations", "reconfiguration-flow",
    "repair-issues", "stale-devices", "async-dependency", "inject-websession",
    "strict-typing",
}  # fmt: skip


def test_manifest_has_what_hassfest_and_hacs_require() -> None:
    assert MANIFEST["domain"] == PACKAGE.name
    assert MANIFEST["name"] == "AlphaESS Local"
    assert MANIFEST["config_flow"] is True
    assert MANIFEST["integration_type"] == "hub"
    assert MANIFEST["iot_class"] == "local_push"
    assert MANIFEST["documentation"].startswith("https://")
    assert MANIFEST["issue_tracker"].startswith("https://")
    assert MANIFEST["codeowners"]
    assert all(owner.startswith("@") for owner in MANIFEST["codeowners"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["version"])
    # Pinned, except a library Home Assistant itself ships: its range must accept
    # each version Home Assistant pins (a pin of our own would conflict with them).
    assert all(
        re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", r)
        or re.fullmatch(r"pymodbus>=[\w.]+,<[\w.]+", r)
        for r in MANIFEST["requirements"]
    )
    # hassfest: domain and name first, the rest sorted.
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert (PACKAGE / "config_flow.py").exists()


def test_requirements_are_pinned_the_same_for_tests() -> None:
    pins = (ROOT / "requirements_test.txt").read_text()
    tested = [
        Requirement(line.split("#")[0])
        for line in pins.splitlines()
        if line.split("#")[0].strip()
    ]
    for line in MANIFEST["requirements"]:
        if line in pins:
            continue
        # A range (pymodbus): every version the tests pin for it lies inside it.
        wanted = Requirement(line)
        versions = [
            next(iter(t.specifier)).version for t in tested if t.name == wanted.name
        ]
        assert versions, line
        assert all(wanted.specifier.contains(v) for v in versions), (line, versions)


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"] == MANIFEST["name"]
    assert hacs["homeassistant"] == "2025.4.0"
    assert "homeassistant==2025.4.4" in (ROOT / "requirements_test.txt").read_text()


def test_version_matches_changelog() -> None:
    readme = (ROOT / "README.md").read_text()
    changelog = readme[readme.index("## Changelog") :]
    first = re.search(r"^### (\d+\.\d+\.\d+)", changelog, re.MULTILINE)
    assert first is not None
    assert first.group(1) == MANIFEST["version"]


def test_quality_scale_lists_every_rule_with_reasons() -> None:
    scale = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text())["rules"]
    assert set(scale) == RULES
    for rule, value in scale.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "exempt", "todo"}, rule
        if status != "done":  # why it does not apply, or what is missing
            assert value["comment"].strip(), rule


def test_runtime_files_are_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("config/", ".venv/", "*.jsonl"):
        assert entry in ignored
