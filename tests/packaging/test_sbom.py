"""The CycloneDX SBOM written beside each build, from the lock the build used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dockyard.cli.main import main
from dockyard.packaging import engine, sbom
from dockyard.packaging.lock import Lock, Pin, Target
from tests.packaging import served

# The parts of the CycloneDX 1.5 JSON schema (bom-1.5.schema.json) that Dockyard's
# documents use, with the same required fields, patterns and enumerations.
_HASH = {
    "type": "object",
    "required": ["alg", "content"],
    "properties": {
        "alg": {"enum": ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "SHA3-256", "BLAKE2b-256"]},
        "content": {"type": "string", "pattern": "^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$"},
    },
    "additionalProperties": False,
}  # fmt: skip
_PROPERTY = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
    "additionalProperties": False,
}
_COMPONENT = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"enum": ["application", "framework", "library", "container", "platform",
                          "operating-system", "device", "device-driver", "firmware", "file",
                          "machine-learning-model", "data"]},
        "bom-ref": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "version": {"type": "string"},
        "purl": {"type": "string", "pattern": "^pkg:[a-z]+/.+"},
        "hashes": {"type": "array", "items": _HASH},
        "properties": {"type": "array", "items": _PROPERTY},
    },
    "additionalProperties": False,
}  # fmt: skip
SCHEMA = {
    "type": "object",
    "required": ["bomFormat", "specVersion"],
    "properties": {
        "bomFormat": {"enum": ["CycloneDX"]},
        "specVersion": {"type": "string"},
        "serialNumber": {
            "type": "string",
            "pattern": "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        },
        "version": {"type": "integer", "minimum": 1},
        "metadata": {
            "type": "object",
            "properties": {
                "tools": {
                    "type": "object",
                    "properties": {"components": {"type": "array", "items": _COMPONENT}},
                    "additionalProperties": False,
                },
                "component": _COMPONENT,
            },
            "additionalProperties": False,
        },
        "components": {"type": "array", "items": _COMPONENT, "uniqueItems": True},
        "dependencies": {
            "type": "array",
            "uniqueItems": True,
            "items": {
                "type": "object",
                "required": ["ref"],
                "properties": {
                    "ref": {"type": "string", "minLength": 1},
                    "dependsOn": {
                        "type": "array",
                        "uniqueItems": True,
                        "items": {"type": "string"},
                    },
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

LOCK = Lock(
    Target("3.11"),
    (
        Pin("numpy", "2.4.6", "a" * 64, "numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl"),
        Pin(
            "scikit_learn", "1.9.1", "b" * 64, "scikit_learn-1.9.1-cp311-manylinux_2_28_x86_64.whl"
        ),
        Pin("local-thing", "1.0+dev", "c" * 64, "local_thing-1.0+dev-py3-none-any.whl"),
    ),
)


def _valid(document: dict[str, Any]) -> None:
    jsonschema.validate(document, SCHEMA)
    assert document["specVersion"] == "1.5"
    refs = {c["bom-ref"] for c in document["components"]}
    assert len(refs) == len(document["components"])
    for dependency in document["dependencies"]:
        assert set(dependency.get("dependsOn", [])) <= refs
    for component in document["components"]:
        assert component["type"] == "library"
        assert component["purl"] == component["bom-ref"]
        assert component["purl"].startswith(f"pkg:pypi/{component['name']}@")
        assert [h["alg"] for h in component["hashes"]] == ["SHA-256"]


def test_components_carry_purl_version_and_the_locked_sha256() -> None:
    document = sbom.document([LOCK], image="iris:1.0.0", models={"iris": "d" * 64})
    _valid(document)
    by_name = {c["name"]: c for c in document["components"]}
    assert by_name["scikit-learn"]["purl"] == "pkg:pypi/scikit-learn@1.9.1"
    assert by_name["scikit-learn"]["hashes"] == [{"alg": "SHA-256", "content": "b" * 64}]
    assert by_name["local-thing"]["purl"] == "pkg:pypi/local-thing@1.0%2Bdev"
    subject = document["metadata"]["component"]
    assert subject["type"] == "container"
    assert subject["name"] == "iris:1.0.0"
    assert {"name": "dockyard:bundle-sha256:iris", "value": "d" * 64} in subject["properties"]
    # Deterministic: the same lock gives the same document, serial number included.
    assert sbom.document([LOCK], image="iris:1.0.0", models={"iris": "d" * 64}) == document


def test_default_file_name_follows_the_image(tmp_path: Path) -> None:
    assert sbom.default_path("dockyard-test/iris:e2e", tmp_path) == (
        tmp_path / "dockyard-test_iris_e2e.cdx.json"
    )


def test_context_only_writes_the_sbom_of_its_lock(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = tmp_path / "ctx"
    assert main(["build", str(iris_bundle), "--context-only", str(context), "-t", "iris:ctx"]) == 0
    assert f"{context / 'sbom.cdx.json'}" in capsys.readouterr().out
    document = json.loads((context / "sbom.cdx.json").read_text())
    _valid(document)
    locked = Lock.parse((context / "requirements.lock").read_text()).pins
    own = Lock.parse((context / "dockyard.lock").read_text()).pins
    assert {
        (c["name"], c["version"], c["hashes"][0]["content"]) for c in document["components"]
    } == {(p.name, p.version, p.sha256) for p in (*locked, *own)}
    assert document["metadata"]["component"]["name"] == "iris:ctx"


@pytest.mark.docker
@pytest.mark.slow
def test_the_sbom_lists_exactly_the_python_packages_in_the_image(
    docker_client: Any, iris_image: engine.Built
) -> None:
    assert iris_image.sbom is not None
    document = json.loads(iris_image.sbom.read_text())
    _valid(document)
    image = docker_client.images.get(iris_image.tag)
    assert document["metadata"]["component"]["hashes"][0]["content"] == image.id.removeprefix(
        "sha256:"
    )
    listing = served.python_in(
        docker_client,
        iris_image.tag,
        "import importlib.metadata as m, json; "
        "print(json.dumps(sorted([d.metadata['Name'], d.version] for d in m.distributions())))",
    )
    from packaging.utils import canonicalize_name

    inside = {(canonicalize_name(n), v) for n, v in json.loads(listing)}
    assert inside == {(c["name"], c["version"]) for c in document["components"]}
