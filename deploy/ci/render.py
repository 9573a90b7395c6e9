"""The manifests a deploy applies: an overlay rendered by kustomize, every container pinned to
the image built for the commit.

    python deploy/ci/render.py OVERLAY IMAGE OUTPUT    # prints the overlay's namespace

`kubectl kustomize` renders OVERLAY (e.g. deploy/k8s/overlays/staging); every container and
init container of every pod template (Deployments, the migrate Job, the CronJob) gets IMAGE,
e.g. ghcr.io/acme/surge@sha256:...; the result goes to OUTPUT. What is applied is exactly what
was rendered and validated (tests/deploy/test_k8s.py renders every overlay this way).

An overlay that names its image by digest (staging, prod: a placeholder of zeros) is deployed by
digest only: a tag such as `:latest` or `:sha-<commit>` can be moved to other bytes after the
checks ran, a digest cannot. The placeholder itself is refused wherever it is left.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# The digest the committed overlays carry: valid, and held by no registry (a sha256 of zeros).
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
BY_DIGEST = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


def pod_specs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs of a workload: Deployment, Job (spec.template), CronJob (one level down)."""
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template")
    return [template["spec"]] if template else []


def pin(manifests: list[dict[str, Any]], image: str) -> int:
    """Set `image` on every container; how many were set."""
    count = 0
    for manifest in manifests:
        for pod in pod_specs(manifest):
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                container["image"] = image
                count += 1
    return count


def images(node: object) -> list[str]:
    """Every `image` value anywhere in `node`: whatever kind of workload holds it."""
    if isinstance(node, dict):
        found = [node["image"]] if isinstance(node.get("image"), str) else []
        return found + [image for value in node.values() for image in images(value)]
    if isinstance(node, list):
        return [image for item in node for image in images(item)]
    return []


def check_image(image: str, committed: list[str]) -> None:
    """Refuse an image the overlay must not run: the placeholder, or a tag where the overlay
    names its image by digest."""
    if PLACEHOLDER_DIGEST in image:
        raise SystemExit(f"render: {image} is the overlays' placeholder: pass the built digest")
    if any("@sha256:" in name for name in committed) and not BY_DIGEST.fullmatch(image):
        raise SystemExit(f"render: this overlay deploys by digest only (NAME@sha256:...): {image}")


def render(overlay: Path, image: str) -> tuple[list[dict[str, Any]], str]:
    built = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        raise SystemExit(f"render: kubectl kustomize {overlay} failed:\n{built.stderr}")
    manifests = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    check_image(image, images(manifests))
    if pin(manifests, image) == 0:
        raise SystemExit(f"render: no container in {overlay} to set {image} on")
    left = sorted({name for name in images(manifests) if PLACEHOLDER_DIGEST in name})
    if left:
        raise SystemExit(f"render: {overlay} still runs the placeholder image: {left}")
    namespaces = {m["metadata"].get("namespace") for m in manifests if m["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        raise SystemExit(f"render: {overlay} must put everything in one namespace: {namespaces}")
    return manifests, namespaces.pop()


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(f"usage: {argv[0]} OVERLAY IMAGE OUTPUT", file=sys.stderr)
        return 2
    manifests, namespace = render(Path(argv[1]), argv[2])
    Path(argv[3]).write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    print(namespace)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
