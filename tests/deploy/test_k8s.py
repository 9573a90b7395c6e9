"""deploy/k8s: every overlay renders with `kubectl kustomize` (through deploy/ci/render.py, as
the pipeline does), passes `kubernetes-validate --strict` for the Kubernetes version targeted,
and keeps the promises docs/deploy.md makes: probes, limits, non-root read-only containers, a
drain long enough to flush clicks, autoscalers on metrics that exist, the migrate Job first,
the edge routing and the network policy.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.programs import (
    ADAPTER_VALUES,
    CI_SCRIPTS,
    K8S,
    K8S_SCRAPE,
    OVERLAYS,
    ROOT,
    k8s_scrape_configs,
    load_yaml,
    output,
    pod_target,
    require,
    run,
)

KUBERNETES_VERSION = "1.32.0"  # docs/deploy.md: the version the manifests are validated for
IMAGE = "ghcr.io/acme/surge@sha256:" + "0123456789abcdef" * 4
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64  # what the committed overlays carry
SURGE = ("surge-api", "surge-redirect", "surge-analytics")
PORTS = {"surge-api": 8001, "surge-redirect": 8002, "surge-analytics": 8003}
# What `surge serve` takes at most to stop after SIGTERM: uvicorn's graceful shutdown (20 s,
# surge.cli) and the redirect's last click flush (10 s, ClickBuffer.close).
SHUTDOWN_S = {"surge-api": 20, "surge-redirect": 20 + 10, "surge-analytics": 20}


def names(path: Path) -> str:
    return path.name


@functools.cache
def rendered_file(overlay: Path, tmp: Path) -> tuple[Path, str]:
    out = tmp / f"{overlay.name}.yaml"
    require("kubectl")
    done = subprocess.run(
        [sys.executable, str(CI_SCRIPTS / "render.py"), str(overlay), IMAGE, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, output(done)
    return out, done.stdout.strip()


@pytest.fixture(scope="module")
def render_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("k8s")


@pytest.fixture(params=OVERLAYS, ids=names)
def overlay(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


@pytest.fixture
def objects(overlay: Path, render_dir: Path) -> list[dict[str, Any]]:
    path, _ = rendered_file(overlay, render_dir)
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        spec = o["spec"] if o["kind"] in ("Deployment", "Job") else None
        if o["kind"] == "CronJob":
            spec = o["spec"]["jobTemplate"]["spec"]
        if spec is not None:
            yield f"{o['kind']}/{o['metadata']['name']}", spec["template"]["spec"]


# --- rendering and schema validation -----------------------------------------------------------


def test_there_are_dev_staging_and_prod_overlays() -> None:
    assert [path.name for path in OVERLAYS] == ["dev", "prod", "prod-external", "staging"]


def test_the_base_renders() -> None:
    done = run("kubectl", "kustomize", str(K8S / "base"))
    assert done.returncode == 0, output(done)
    kinds = {doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Job", "Ingress"} <= kinds


def test_the_overlay_renders_into_one_namespace(overlay: Path, render_dir: Path) -> None:
    _, namespace = rendered_file(overlay, render_dir)
    expected = {"dev": "surge-dev", "staging": "surge-staging", "prod": "surge"}
    expected["prod-external"] = "surge"
    assert namespace == expected[overlay.name]


def test_the_overlay_is_valid_kubernetes(overlay: Path, render_dir: Path) -> None:
    path, _ = rendered_file(overlay, render_dir)
    done = run("kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, str(path))
    assert done.returncode == 0, output(done)
    count = len([doc for doc in yaml.safe_load_all(path.read_text()) if doc])
    assert done.stdout.count(" passed for resource ") == count, done.stdout


def test_the_validator_rejects_what_kubernetes_would(tmp_path: Path) -> None:
    """The check bites: a misspelt field (strict), and a Deployment without its selector."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
        "spec: {ports: [{port: 80}], selectr: {a: b}}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: y}\n"
        "spec: {template: {spec: {containers: [{name: c, image: i}]}}}\n"
    )
    done = run("kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, str(bad))
    assert done.returncode != 0
    assert "selectr" in done.stdout + done.stderr
    assert "'selector' is a required property" in done.stdout + done.stderr


# --- workloads ---------------------------------------------------------------------------------


def test_every_container_runs_the_pinned_image(objects: list[dict[str, Any]]) -> None:
    images = {c["image"] for _, pod in pod_specs(objects) for c in pod["containers"]}
    assert images == {IMAGE}


@pytest.mark.parametrize("name", ["staging", "prod", "prod-external"])
def test_a_shipped_overlay_names_its_image_by_digest_alone(name: str) -> None:
    """What a scan of the committed overlay sees (checkov's "image tag is not latest or
    blank" and "image uses a digest"): no tag, the placeholder digest (dev runs a local
    `surge:dev`, loaded into kind or minikube, never pulled)."""
    done = run("kubectl", "kustomize", str(K8S / "overlays" / name))
    assert done.returncode == 0, output(done)
    images = {
        c["image"]
        for _, pod in pod_specs(list(yaml.safe_load_all(done.stdout)))
        for c in pod["containers"]
    }
    assert images == {"ghcr.io/example/surge@" + PLACEHOLDER_DIGEST}


def render_prod(
    tmp_path: Path, image: str, overlay: str = "prod"
) -> subprocess.CompletedProcess[str]:
    return run(
        sys.executable,
        str(CI_SCRIPTS / "render.py"),
        str(K8S / "overlays" / overlay),
        image,
        str(tmp_path / "out.yaml"),
    )


def test_a_deploy_refuses_a_tag_or_the_placeholder_where_the_overlay_pins(tmp_path: Path) -> None:
    require("kubectl")
    by_tag = render_prod(tmp_path, "ghcr.io/acme/surge:latest")
    assert by_tag.returncode != 0
    assert "deploys by digest only" in by_tag.stderr
    placeholder = render_prod(tmp_path, "ghcr.io/example/surge@" + PLACEHOLDER_DIGEST)
    assert placeholder.returncode != 0
    assert "placeholder" in placeholder.stderr
    assert not (tmp_path / "out.yaml").exists(), "nothing to apply"
    dev = render_prod(tmp_path, "surge:dev", overlay="dev")
    assert dev.returncode == 0, output(dev)


def test_every_container_is_non_root_read_only_and_limited(objects: list[dict[str, Any]]) -> None:
    pods = dict(pod_specs(objects))
    assert len(pods) == 5, sorted(pods)  # 3 Deployments, the migrate Job, the maintain CronJob
    for where, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] >= 1000, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["automountServiceAccountToken"] is False, where
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["runAsNonRoot"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (where, kind)
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{where}: a writable /tmp on a read-only root"


def test_every_deployment_has_probes_on_its_port(objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == set(SURGE)
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (port,) = container["ports"]
        assert port["containerPort"] == PORTS[name]
        args = container["args"]
        assert args[args.index("--port") + 1] == str(PORTS[name]), name
        assert args[args.index("--service") + 1] == name.removeprefix("surge-"), name
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert get["port"] in (port["name"], port["containerPort"]), (name, probe)
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 30, name


def test_a_stopping_pod_drains_and_flushes_before_it_is_killed(
    objects: list[dict[str, Any]],
) -> None:
    for name, deployment in by_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep", name
        drain = int(command[1])
        assert drain >= 5, f"{name}: the endpoints need a moment to drop the pod"
        assert pod["terminationGracePeriodSeconds"] >= drain + SHUTDOWN_S[name] + 10, name
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, f"{name}: old pods serve until new ones are ready"


def test_pods_spread_over_zones_and_nodes(objects: list[dict[str, Any]]) -> None:
    for name, deployment in by_kind(objects, "Deployment").items():
        template = deployment["spec"]["template"]
        constraints = template["spec"]["topologySpreadConstraints"]
        keys = {c["topologyKey"] for c in constraints}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name
        for constraint in constraints:
            selector = constraint["labelSelector"]["matchLabels"]
            assert selector.items() <= template["metadata"]["labels"].items(), name


def test_secret_files_are_mounted_where_the_settings_read_them(
    objects: list[dict[str, Any]],
) -> None:
    for where, pod in pod_specs(objects):
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            mounted = {}
            for mount in container["volumeMounts"]:
                secret = volumes[mount["name"]].get("secret")
                if secret:
                    assert secret["secretName"] == "surge-secrets"
                    for item in secret["items"]:
                        mounted[f"{mount['mountPath']}/{item['path']}"] = item["key"]
            files = {e["name"]: e["value"] for e in container["env"] if e["name"].endswith("_FILE")}
            assert set(files.values()) == set(mounted), f"{where}: {files} vs {mounted}"
            for name in ("SURGE_INTERNAL_TOKEN_FILE", "SURGE_VISITOR_SALT_SECRET_FILE"):
                if container["args"][0] == "serve":
                    assert name in files, f"{where}: `surge serve` refuses default secrets"


def test_settings_come_from_the_config_map(objects: list[dict[str, Any]]) -> None:
    maps = by_kind(objects, "ConfigMap")
    (config_name,) = maps
    assert config_name.startswith("surge-config-"), "generated: a change rolls the pods"
    config = maps[config_name]["data"]
    for where, pod in pod_specs(objects):
        for container in pod["containers"]:
            refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
            assert refs == [config_name], where
    services = by_kind(objects, "Service")
    for setting, target in (
        ("SURGE_API_URL", "surge-api"),
        ("SURGE_ANALYTICS_URL", "surge-analytics"),
    ):
        url = urlsplit(config[setting])
        assert url.hostname == target, setting
        assert target in services, setting
        assert url.port == services[target]["spec"]["ports"][0]["port"], setting
    assert config["SURGE_MIGRATE_ON_START"] == "false", "the migrate Job does it, once"
    assert config["SURGE_CLIENT_IP_HEADER"] == "x-real-ip", "the header ingress-nginx sets"
    assert urlsplit(config["SURGE_PUBLIC_URL"]).hostname == ingress_host(objects)


def test_services_select_their_deployment(objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(objects, "Deployment")
    for name, service in by_kind(objects, "Service").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        (port,) = service["spec"]["ports"]
        assert port["port"] == PORTS[name]
        assert port["targetPort"] == "http"


def test_disruption_budgets_cover_every_deployment(objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(objects, "Deployment")
    budgets = by_kind(objects, "PodDisruptionBudget")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert "maxUnavailable" in budget["spec"], f"{name}: drains must stay possible"


# --- autoscaling -------------------------------------------------------------------------------


def test_every_hpa_targets_a_deployment_within_sane_bounds(objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(objects, "Deployment")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    assert set(hpas) == set(SURGE)
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["apiVersion"]) == ("Deployment", "apps/v1"), name
        assert target["name"] in deployments, name
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
        assert "replicas" not in deployments[target["name"]]["spec"], "the HPA owns the count"
        metrics = hpa["spec"]["metrics"]
        cpu = [m for m in metrics if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
        assert cpu, f"{name} scales on CPU"


def metric_names(hpa: dict[str, Any], kind: str) -> list[str]:
    key = kind.lower()
    return [m[key]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == kind]


def test_redirect_scales_on_requests_per_second_fast_up_slow_down(
    objects: list[dict[str, Any]],
) -> None:
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["surge-redirect"]
    assert metric_names(hpa, "Pods") == ["surge_http_requests_per_second"]
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert any(
        p["type"] == "Percent" and p["value"] >= 100 for p in behavior["scaleUp"]["policies"]
    )
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_analytics_scales_on_the_click_stream_lag(objects: list[dict[str, Any]]) -> None:
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["surge-analytics"]
    assert metric_names(hpa, "External") == ["surge_click_stream_lag"]


def adapter_rules() -> dict[str, list[dict[str, Any]]]:
    rules: dict[str, list[dict[str, Any]]] = load_yaml(ADAPTER_VALUES)["rules"]
    return rules


def served_metrics(kind: str) -> dict[str, str]:
    """The metric names prometheus-adapter serves (its `name.as`), with the Prometheus series
    each is made of (`seriesQuery`)."""
    served = {}
    for rule in adapter_rules()[kind]:
        series = re.match(r"(\w+)\{", rule["seriesQuery"])
        assert series, rule["seriesQuery"]
        assert re.fullmatch(rule["name"]["matches"], series.group(1))
        served[rule["name"]["as"]] = series.group(1)
    return served


def surge_metric_names() -> set[str]:
    """Every series name Surge exports: the catalogue in surge.platform.metrics, by the names
    Prometheus sees (a counter's `_total`, a histogram's `_bucket`, `_sum`, `_count`)."""
    from prometheus_client.metrics import MetricWrapperBase

    from surge.platform import metrics

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    found = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for metric in value.describe():
                for suffix in suffixes.get(metric.type, [""]):
                    found.add(metric.name + suffix)
    assert "surge_http_request_duration_seconds_bucket" in found
    return found


def test_the_autoscaling_metrics_exist(objects: list[dict[str, Any]]) -> None:
    """HPA metric -> prometheus-adapter rule -> a series Surge exports and documents."""
    hpas = by_kind(objects, "HorizontalPodAutoscaler").values()
    documented = (ROOT / "docs" / "observability.md").read_text()
    exported = surge_metric_names()
    for kind, rules in (("Pods", "custom"), ("External", "external")):
        served = served_metrics(rules)
        for hpa in hpas:
            for name in metric_names(hpa, kind):
                assert name in served, f"{kind} metric {name}: no prometheus-adapter rule"
                series = served[name]
                assert series in exported, f"{series} is not a metric Surge exports"
                assert f"`{series}`" in documented, f"{series} is not in docs/observability.md"


def test_the_adapter_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each rule's metricsQuery, with the adapter's template filled in as it fills it, checked
    by promtool."""
    filled = {
        "<<.Series>>": "surge_series",
        "<<.LabelMatchers>>": 'namespace="surge",pod=~"a|b"',
        "<<.GroupBy>>": "pod",
    }
    rules = []
    for kind, items in adapter_rules().items():
        if not isinstance(items, list):
            continue
        for i, rule in enumerate(items):
            expr = rule["metricsQuery"]
            for template, value in filled.items():
                expr = expr.replace(template, value)
            assert "<<" not in expr, expr
            rules.append({"record": f"adapter:{kind}:{i}", "expr": expr})
    path = tmp_path / "adapter.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "adapter", "rules": rules}]}))
    done = run("promtool", "check", "rules", str(path))
    assert done.returncode == 0, output(done)


def test_prometheus_labels_series_as_the_adapter_maps_them(tmp_path: Path) -> None:
    """The Kubernetes scrape config is valid for promtool and labels every series as the
    adapter's rules map them to Kubernetes objects, with the job SurgeTargetDown selects
    (tests/deploy/test_edge.py runs it in a real Prometheus)."""
    target = pod_target("10.0.0.7:8002", "surge-redirect", "surge-redirect-7d9f-x2x")
    config = {"global": {"scrape_interval": "15s"}, "scrape_configs": k8s_scrape_configs([target])}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = run("promtool", "check", "config", str(path))
    assert done.returncode == 0, output(done)
    labelled = {
        relabel.get("target_label")
        for job in load_yaml(K8S_SCRAPE)["scrape_configs"]
        for relabel in job["relabel_configs"]
    }
    for items in adapter_rules().values():
        for rule in items if isinstance(items, list) else []:
            assert set(rule["resources"]["overrides"]) <= labelled, rule["seriesQuery"]
    assert "job" in labelled


def test_pods_carry_what_the_scrape_config_keeps(objects: list[dict[str, Any]]) -> None:
    for name, deployment in by_kind(objects, "Deployment").items():
        template = deployment["spec"]["template"]["metadata"]
        assert template["labels"]["app.kubernetes.io/part-of"] == "surge", name
        annotations = template["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(PORTS[name]), name
        assert annotations["prometheus.io/path"] == "/metrics", name


# --- deploy order, edge, network ---------------------------------------------------------------

PHASE = "surge.dev/deploy-phase"


def test_the_migrate_phase_applies_on_its_own(objects: list[dict[str, Any]]) -> None:
    """deploy/ci/deploy.sh applies the objects labelled for the migrate phase first: the Job
    and everything it needs are among them."""
    first = {
        (o["kind"], o["metadata"]["name"])
        for o in objects
        if o["metadata"].get("labels", {}).get(PHASE) == "migrate"
    }
    job = by_kind(objects, "Job")["surge-migrate"]
    pod = job["spec"]["template"]["spec"]
    needs = {("Job", "surge-migrate"), ("ServiceAccount", pod["serviceAccountName"])}
    needs |= {("ConfigMap", ref["configMapRef"]["name"]) for ref in pod["containers"][0]["envFrom"]}
    needs |= {("Namespace", job["metadata"]["namespace"])}
    assert needs <= first, needs - first
    assert pod["containers"][0]["args"] == ["migrate"]
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def test_the_namespace_enforces_the_restricted_pod_security(objects: list[dict[str, Any]]) -> None:
    (namespace,) = by_kind(objects, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def ingress_host(objects: list[dict[str, Any]]) -> str:
    hosts = {
        rule["host"] for i in by_kind(objects, "Ingress").values() for rule in i["spec"]["rules"]
    }
    (host,) = hosts
    return str(host)


def ingress_routes(objects: list[dict[str, Any]], name: str) -> dict[tuple[str, str], str]:
    services = by_kind(objects, "Service")
    routes = {}
    for rule in by_kind(objects, "Ingress")[name]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] in services, backend
            assert backend["port"]["name"] == "http"
            routes[(path["path"], path["pathType"])] = backend["name"]
    return routes


def test_the_ingress_routes_the_api_and_the_rest_to_redirect(objects: list[dict[str, Any]]) -> None:
    assert ingress_routes(objects, "surge") == {
        ("/api/", "Prefix"): "surge-api",
        ("/docs", "Prefix"): "surge-api",
        ("/openapi.json", "Exact"): "surge-api",
        ("/app", "Prefix"): "surge-api",  # the dashboard (Prefix matches /app/..., not /apps)
        ("/rest", "Prefix"): "surge-api",  # Shlink's REST API
        ("/", "Prefix"): "surge-redirect",
    }
    deny = by_kind(objects, "Ingress")["surge-deny-internal"]
    assert set(ingress_routes(objects, "surge-deny-internal")) == {
        ("/internal", "Prefix"),
        ("/metrics", "Exact"),
    }
    ranges = deny["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"]
    assert set(ranges.split(",")) == {"0.0.0.0/0", "::/0"}, "every client refused"


def test_another_short_domain_is_one_component_away(tmp_path: Path) -> None:
    """deploy/k8s/components/extra-domain on the prod overlay: the second host's requests go to
    the redirect, its /internal and /metrics are refused, its certificate is listed."""
    require("kubectl")
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only
                "resources": [os.path.relpath(K8S / "overlays" / "prod", tmp_path)],
                "components": [os.path.relpath(K8S / "components" / "extra-domain", tmp_path)],
            }
        )
    )
    done = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, output(done)
    ingresses = by_kind(list(yaml.safe_load_all(done.stdout)), "Ingress")
    edge, deny = ingresses["surge"]["spec"], ingresses["surge-deny-internal"]["spec"]
    hosts = {rule["host"]: rule for rule in edge["rules"]}
    assert set(hosts) == {"sho.rt.example", "go.sho.rt.example"}
    [route] = hosts["go.sho.rt.example"]["http"]["paths"]
    assert (route["path"], route["backend"]["service"]["name"]) == ("/", "surge-redirect")
    assert {tuple(t["hosts"]) for t in edge["tls"]} == {("sho.rt.example",), ("go.sho.rt.example",)}
    refused = {rule["host"]: {p["path"] for p in rule["http"]["paths"]} for rule in deny["rules"]}
    assert refused == {h: {"/internal", "/metrics"} for h in hosts}


def sources(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]


def test_network_policy_keeps_internal_traffic_between_surge_pods(
    objects: list[dict[str, Any]],
) -> None:
    policies = {
        name: policy
        for name, policy in by_kind(objects, "NetworkPolicy").items()
        if "Ingress" in policy["spec"]["policyTypes"]
    }
    default = policies.pop("surge-default-deny")
    assert default["spec"]["podSelector"] == {}
    assert "ingress" not in default["spec"]
    assert set(policies) == set(SURGE)
    surge_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "surge"}}}
    for name, policy in policies.items():
        assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": PORTS[name], "protocol": "TCP"}], name
        assert surge_pods in sources(policy), name
    from_ingress = {
        name
        for name, policy in policies.items()
        for peer in sources(policy)
        if peer.get("namespaceSelector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    }
    assert from_ingress == {"surge-api", "surge-redirect"}, "analytics is internal only"


def test_the_spool_is_shared_where_production_runs(
    objects: list[dict[str, Any]], overlay: Path
) -> None:
    pod = by_kind(objects, "Deployment")["surge-redirect"]["spec"]["template"]["spec"]
    (spool,) = [v for v in pod["volumes"] if v["name"] == "spool"]
    if overlay.name == "dev":
        assert "emptyDir" in spool
        return
    claim = by_kind(objects, "PersistentVolumeClaim")[spool["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "emptyDir" not in spool


def test_production_bounds_are_at_least_stagings(render_dir: Path) -> None:
    def bounds(name: str) -> dict[str, tuple[int, int]]:
        path, _ = rendered_file(K8S / "overlays" / name, render_dir)
        objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        return {
            n: (h["spec"]["minReplicas"], h["spec"]["maxReplicas"])
            for n, h in by_kind(objects, "HorizontalPodAutoscaler").items()
        }

    prod, staging = bounds("prod"), bounds("staging")
    for name in SURGE:
        assert prod[name][0] >= 2, f"{name}: one replica is an outage on its first restart"
        assert prod[name][1] >= staging[name][1], name


# --- prod-external: data services outside the cluster ------------------------------------------

# A key of `surge-secrets` a pod mounts -> the port its server is reached on.
SERVER_PORTS = {
    "database-url": {5432},
    "database-replica-urls": {5432},
    "redis-url": {6379},
    "clickhouse-url": {8123, 8443},
}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions with In) against a pod's labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def egress_ports(objects: list[dict[str, Any]], labels: dict[str, str]) -> dict[int, set[str]]:
    """Port -> where a pod with `labels` may connect on it, outside the cluster (ipBlock CIDRs)
    or inside it ("cluster"), by every egress policy that selects it."""
    allowed: dict[int, set[str]] = {}
    for policy in by_kind(objects, "NetworkPolicy").values():
        if "Egress" not in policy["spec"]["policyTypes"] or not selects(
            policy["spec"]["podSelector"], labels
        ):
            continue
        for rule in policy["spec"].get("egress", []):
            to = {
                peer["ipBlock"]["cidr"] if "ipBlock" in peer else "cluster" for peer in rule["to"]
            }
            for port in rule.get("ports", [{"port": "any"}]):
                allowed.setdefault(port["port"], set()).update(to)
    return allowed


def test_pods_reach_the_external_servers_they_are_given_and_no_others(render_dir: Path) -> None:
    """Egress is closed, then opened per pod for the servers whose URLs it mounts: the api its
    PostgreSQL replicas, analytics, migrate and maintain ClickHouse, the redirect no
    database at all. Every pod resolves names; only analytics (webhooks) reaches the internet."""
    path, _ = rendered_file(K8S / "overlays" / "prod-external", render_dir)
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    policies = by_kind(objects, "NetworkPolicy")
    default = policies["surge-egress-default-deny"]["spec"]
    assert (default["podSelector"], default["policyTypes"]) == ({}, ["Egress"])
    assert "egress" not in default
    mounted_by = {}
    for o in objects:
        if o["kind"] not in ("Deployment", "Job", "CronJob"):
            continue
        spec = o["spec"]["jobTemplate"]["spec"] if o["kind"] == "CronJob" else o["spec"]
        template = spec["template"]
        (secrets,) = [v["secret"] for v in template["spec"]["volumes"] if "secret" in v]
        mounted_by[o["metadata"]["name"]] = (
            template["metadata"]["labels"],
            {item["key"] for item in secrets["items"]},
        )
    assert "database-replica-urls" in mounted_by["surge-api"][1]
    for name in ("surge-analytics", "surge-migrate", "surge-maintain"):
        assert "clickhouse-url" in mounted_by[name][1], name
    for name, (labels, keys) in mounted_by.items():
        allowed = egress_ports(objects, labels)
        assert allowed[53] == {"cluster"}, f"{name}: DNS"
        needed = set().union(*(SERVER_PORTS[key] for key in keys if key in SERVER_PORTS))
        for port in needed:
            assert allowed.get(port, set()) - {"cluster", "0.0.0.0/0", "::/0"}, (name, port)
        for port in {5432, 6379, 8123, 8443} - needed:
            assert port not in allowed, f"{name} may reach :{port}, which it has no URL for"
        internet = "0.0.0.0/0" in allowed.get("any", set())
        assert internet == (name == "surge-analytics"), f"{name}: only webhooks go out"
    config = next(iter(by_kind(objects, "ConfigMap").values()))["data"]
    assert int(config["SURGE_CLICK_STREAM_SHARDS"]) > 1, "shards spread over the masters"
    assert int(config["SURGE_REDIS_WAIT_REPLICAS"]) >= 1, "no batch lost in a failover"


SAMPLE_SECRETS = {
    "database-url": "postgresql+asyncpg://surge:pw@192.0.2.10:5432/surge",
    "database-replica-urls": (
        "postgresql+asyncpg://surge:pw@192.0.2.11:5432/surge,"
        "postgresql+asyncpg://surge:pw@192.0.2.12:5432/surge"
    ),
    "redis-url": "rediss+cluster://default:pw@198.51.100.10:6379",
    "clickhouse-url": "https://surge:pw@203.0.113.10:8443/surge",
    "internal-token": "an-internal-token",
    "visitor-salt-secret": "a-visitor-salt-secret",
}


def test_each_pod_reads_its_external_servers_from_its_settings(
    render_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names are settings Surge reads (an unknown SURGE_* is ignored, not refused): each
    pod's ConfigMap and env, its Secret keys as files, give Settings the external servers."""
    from surge.platform.config import Settings

    path, _ = rendered_file(K8S / "overlays" / "prod-external", render_dir)
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    config = next(iter(by_kind(objects, "ConfigMap").values()))["data"]
    for key, value in SAMPLE_SECRETS.items():
        (tmp_path / key).write_text(value + "\n")
    read = {}
    for where, pod in pod_specs(objects):
        (container,) = pod["containers"]
        with monkeypatch.context() as env:
            for name in [n for n in os.environ if n.startswith("SURGE_")]:
                env.delenv(name)
            for name, value in config.items():
                env.setenv(name, value)
            for item in container["env"]:
                env.setenv(item["name"], item["value"].replace("/run/secrets/surge", str(tmp_path)))
            read[where] = Settings()
    api, analytics = read["Deployment/surge-api"], read["Deployment/surge-analytics"]
    assert api.database_replica_urls == SAMPLE_SECRETS["database-replica-urls"].split(",")
    assert api.redis_url == analytics.redis_url == SAMPLE_SECRETS["redis-url"]
    for where in ("Deployment/surge-analytics", "Job/surge-migrate", "CronJob/surge-maintain"):
        assert read[where].clickhouse_url == SAMPLE_SECRETS["clickhouse-url"], where
    assert read["Deployment/surge-api"].clickhouse_url is None, "the api reads no clicks"
    assert {s.click_stream_shards for s in read.values()} == {4}
    assert read["Deployment/surge-redirect"].redis_wait_replicas == 1
