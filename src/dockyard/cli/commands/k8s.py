"""``dockyard k8s``: Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget for a model."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import out


def k8s(
    bundle: Path = typer.Argument(..., help="Bundle the image serves.", show_default=False),
    image: str = typer.Option(..., "--image", help="Image reference the cluster can pull."),
    output: Path = typer.Option(
        Path("k8s"), "--output", "-o", help="Directory to write the manifests to."
    ),
    replicas: int = typer.Option(2, min=1, help="Initial and minimum replicas."),
    max_replicas: int = typer.Option(10, min=1, help="Most replicas the autoscaler may run."),
    cpu_request: str = typer.Option("250m", help="CPU request per pod."),
    memory_request: str = typer.Option("256Mi", help="Memory request per pod."),
    cpu_limit: str = typer.Option("1", help="CPU limit per pod."),
    memory_limit: str = typer.Option("1Gi", help="Memory limit per pod."),
) -> None:
    """Write Kubernetes manifests (hardened pod, probes, rolling updates, autoscaling, disruption budget)."""
    from dockyard.bundle import bundle_digest, read_metadata
    from dockyard.packaging import kubernetes

    meta = read_metadata(bundle)
    documents = kubernetes.manifests(
        meta,
        image,
        bundle_digest(bundle),
        resources=kubernetes.Resources(cpu_request, memory_request, cpu_limit, memory_limit),
        scaling=kubernetes.Scaling(replicas, replicas, max(max_replicas, replicas)),
    )
    paths = kubernetes.write(output, documents)
    out.print(f"Wrote {', '.join(str(p) for p in paths)}")
    out.print(f"  apply: kubectl apply -f {output}")


def register(app: typer.Typer) -> None:
    app.command()(k8s)
