"""``observer verify``: the deployment checklist as commands.

``verify manifests DIR`` (static, offline), ``verify pod`` (inside the pod) and
``verify cluster`` (through the Kubernetes API). Each prints ``PASS|FAIL|SKIP <check> <detail>``
lines and a summary, or JSON with ``--json``; exit 1 on any FAIL, 2 when it cannot run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from observer.cli.context import exit_with
from observer.ops.verify.exceptions import VerifyError
from observer.ops.verify.report import Report

EXIT_CANNOT_RUN = 2


def _emit(report: Report, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        for line in report.lines():
            click.echo(line)
        click.echo(report.summary())
    sys.exit(report.exit_code)


@click.group("verify")
def verify_group() -> None:
    """Check the deployment: manifests, the running pod, the cluster."""


@verify_group.command("manifests")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--prerequisites",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Secrets documented as prerequisites (default: the nearest PREREQUISITES.md).",
)
@click.option("--kubectl", help="kubectl binary (default: next to this Python, else PATH).")
@click.option(
    "--allow-placeholders",
    is_flag=True,
    help="Report placeholder values (example registry, ciphertext, Git URL) in a production "
    "namespace as SKIP instead of FAIL (the repository's own tests and CI).",
)
@click.option(
    "--capacity",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Node facts and measured rates (default: the nearest capacity.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def manifests_command(
    directory: Path,
    prerequisites: Path | None,
    kubectl: str | None,
    allow_placeholders: bool,
    capacity: Path | None,
    as_json: bool,
) -> None:
    """Render the Kustomize DIRECTORY and check every deployment contract statically."""
    from observer.ops.verify.manifests import verify_manifests

    try:
        report = verify_manifests(
            directory,
            prerequisites=prerequisites,
            kubectl=kubectl,
            allow_placeholders=allow_placeholders,
            capacity=capacity,
        )
    except VerifyError as error:
        exit_with(f"verify: {error}", EXIT_CANNOT_RUN)
    _emit(report, as_json)


@verify_group.command("pod")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
@click.option(
    "--mountinfo",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/proc/self/mountinfo"),
    show_default=True,
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="The container's root filesystem.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the service listens.")
@click.option("--timeout", type=float, default=5.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def pod_command(
    env_file: str | None, mountinfo: Path, root: Path, host: str, timeout: float, as_json: bool
) -> None:
    """Inside the pod: environment, volumes, read-only root, persistence, endpoints."""
    from observer.ops.verify.pod import PodProbe, verify_pod

    probe = PodProbe(env_file=env_file, mountinfo=mountinfo, root=root, host=host, timeout=timeout)
    _emit(verify_pod(probe), as_json)


@verify_group.command("cluster")
@click.option("--namespace", "-n", required=True, help="The namespace Observer runs in.")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Default: in-cluster, else ~/.kube/config.",
)
@click.option("--context", help="kubeconfig context (default: the current one).")
@click.option(
    "--selector",
    default="app.kubernetes.io/name=observer",
    show_default=True,
    help="Label selector of the Observer pod.",
)
@click.option(
    "--restart-test",
    is_flag=True,
    help="Delete the pod, wait for the new one, check the archive survived (disruptive).",
)
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for Ready."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def cluster_command(
    namespace: str,
    kubeconfig: str | None,
    context: str | None,
    selector: str,
    restart_test: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Through the Kubernetes API: PVCs Bound, pod Ready, volumes, ConfigMap, restart test."""
    from observer.ops.verify.cluster import ClusterTarget, verify_cluster

    target = ClusterTarget(
        namespace,
        kubeconfig=kubeconfig,
        context=context,
        selector=selector,
        restart_test=restart_test,
        timeout=timeout,
    )
    try:
        report = verify_cluster(target)
    except VerifyError as error:
        exit_with(f"verify: {error}", EXIT_CANNOT_RUN)
    _emit(report, as_json)


COMMANDS: list[click.Command] = [verify_group]
