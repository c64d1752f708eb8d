"""The deployment files agree with the service: the image runs ``dgtrio phone`` on
the port the manifest probes, secrets come from a Secret, and Kubernetes waits
longer than preStop, the grace and the ending budget take."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dgtrio.phone import PhoneAgentServer
from dgtrio.phone._server import DEFAULT_GRACE, END_BUDGET

from .conftest import ROOT

yaml = pytest.importorskip("yaml")

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _documents() -> dict[str, dict[str, Any]]:
    with open(ROOT / "deploy" / "kubernetes.yaml") as manifest:
        return {doc["kind"]: doc for doc in yaml.safe_load_all(manifest)}


def _option(args: list[str], name: str, default: str | None = None) -> str | None:
    return args[args.index(name) + 1] if name in args else default


def test_the_image_runs_the_service_on_the_port_it_exposes() -> None:
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert entrypoint is not None
    command = yaml.safe_load(entrypoint.group(1))
    assert command[:2] == ["dgtrio", "phone"]
    assert _option(command, "--host") == "0.0.0.0"
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE, re.MULTILINE)
    assert exposed is not None and _option(command, "--port") == exposed.group(1)
    assert "'.[phone]'" in DOCKERFILE
    assert re.search(r"^USER \d+$", DOCKERFILE, re.MULTILINE)  # not root


def test_the_deployment_probes_drains_and_waits_long_enough() -> None:
    documents = _documents()
    assert set(documents) == {"Deployment", "Service", "PodDisruptionBudget", "Ingress"}
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = container["ports"][0]["containerPort"]
    assert str(port) in DOCKERFILE
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    args = container["args"]
    grace = float(_option(args, "--grace", str(DEFAULT_GRACE)) or DEFAULT_GRACE)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    needed = float(pre_stop[1]) + grace + END_BUDGET
    assert pod["terminationGracePeriodSeconds"] > needed
    # The arguments are ones the server takes (a public URL Twilio can call).
    PhoneAgentServer(public_url=_option(args, "--public-url") or "", auth_token="t")
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert set(secrets) == {"TWILIO_AUTH_TOKEN", "DEEPGRAM_API_KEY"}
    # The ingress sends the public path to the service, and nothing else.
    (rule,) = documents["Ingress"]["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert f"wss://{rule['host']}{path['path']}" == _option(args, "--public-url")


def test_the_default_shutdown_fits_an_orchestrators_30_seconds() -> None:
    assert DEFAULT_GRACE + END_BUDGET <= 25
