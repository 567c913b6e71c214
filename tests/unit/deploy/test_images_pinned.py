"""Every image the deployment pulls is pinned: a tag other than ``latest``, or a digest."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import ROOT

PINNED = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._/-]*(?::\d+/[a-z0-9._/-]+)?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*))?"
                    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


def assert_pinned(reference: str) -> None:
    match = PINNED.match(reference)
    assert match, f"not an image reference: {reference!r}"
    tag, digest = match.group("tag"), match.group("digest")
    assert digest or tag, f"{reference} has neither tag nor digest"
    assert tag != "latest", f"{reference} uses the moving tag 'latest'"
    if tag and not digest:
        assert re.search(r"\d", tag), f"{reference}: tag {tag!r} names no version"


def dockerfile_from_images() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.M))
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.M))
    images = []
    for reference in re.findall(r"^FROM (\S+)", text, flags=re.M):
        reference = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], reference)
        if reference not in stages:
            images.append(reference)
    return images


def test_the_reference_checker_rejects_unpinned_images() -> None:
    for bad in ("postgres", "postgres:latest", "qdrant/qdrant:dev"):
        with pytest.raises(AssertionError):
            assert_pinned(bad)
    assert_pinned("postgres:17.6-bookworm")
    assert_pinned("redis@sha256:" + "0" * 64)


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    images = [service["image"] for service in compose["services"].values() if "image" in service]
    assert len(images) >= 10
    for image in images:
        assert_pinned(image)


def test_dockerfile_base_images_are_pinned() -> None:
    images = dockerfile_from_images()
    assert images == ["apache/airflow:3.3.2-python3.11", "nvidia/cuda:13.0.0-runtime-ubuntu22.04"]
    for image in images:
        assert_pinned(image)


def test_helm_values_pin_the_project_image(helm_values: dict[str, Any], compose: dict[str, Any]) -> None:
    airflow = helm_values["images"]["airflow"]
    assert_pinned(f"{airflow['repository']}:{airflow['tag']}")
    assert f"{airflow['repository']}:{airflow['tag']}" == compose["services"]["airflow-scheduler"]["image"]


def test_gpu_stage_images_are_pinned_and_built_by_compose(
    runtime_profiles: dict[str, Any], compose: dict[str, Any]
) -> None:
    docker, kubernetes = runtime_profiles["docker"]["image"], runtime_profiles["kubernetes"]["image"]
    assert_pinned(docker)
    assert_pinned(kubernetes)
    # `docker compose --profile gpu build` produces the very image the docker profile runs.
    assert compose["services"]["stage-runner"]["image"] == docker
