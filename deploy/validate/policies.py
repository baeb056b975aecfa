"""Policy tests over the rendered Kubernetes overlays, the Compose file and skaffold.yaml.

Usage: policies.py <repo root> <overlay name>=<rendered JSON> ...

Each check_* function asserts one rule for every object it concerns; the script runs them all,
prints one line per check and exits 1 if any failed.
"""
import base64
import json
import pathlib
import re
import sys
import traceback

import jsonschema
import yaml

ROOT = pathlib.Path(sys.argv[1])
OVERLAYS = {name: json.loads(pathlib.Path(path).read_text())
            for name, path in (arg.split("=", 1) for arg in sys.argv[2:])}
OURS = {"gateway", "root", "payment", "search"}
SYNC = {"gateway", "root", "payment"}
ASYNC = {"search"}
PORTS = {"gateway": 8000, "payment": 8001, "search": 8002, "root": 8003}

# Kinds kubernetes-validate has no schema for; validated by crds.mjs or the schemas/ folder.
CRD_KINDS = {"HTTPRoute", "ScaledObject", "TriggerAuthentication", "ServiceMonitor",
             "RabbitmqCluster"}

# Variables the code reads that the manifests leave unset on purpose, and why.
DELIBERATELY_DEFAULTED = {
    "ELASTICSEARCH_URL": "not supported: set, it stops the search agent at start",
    "LOG_LEVEL": "alias of RUST_LOG, which the ConfigMap sets",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "unset: no span export; set it to the cluster's OTLP/HTTP collector",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "the traces-only form of OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SDK_DISABLED": "export follows OTEL_EXPORTER_OTLP_ENDPOINT; this only turns it off",
    "OPENAI_BASE_URL": "unset: OpenAI's API when OPENAI_API_KEY (the Secret) is set, else no LLM stage",
    "ROUTER_STAGES": "derived: rules,context,embeddings in the image, plus llm when an LLM is configured",
    "XDG_CACHE_HOME": "where the embedding model is looked for without EMBEDDING_MODEL_DIR (set)",
    "HOME": "as XDG_CACHE_HOME",
    # Authentication (README "Authentication"): AUTH_MODE is set everywhere; what a mode needs is
    # set where the mode is on (check_production_authenticates_every_caller), the rest defaults.
    "AUTH_API_KEYS_FILE": "only with AUTH_MODE api_key: production sets it",
    "AUTH_JWT_JWKS_URL": "only with AUTH_MODE jwt: production sets it",
    "AUTH_JWT_ISSUER": "only with AUTH_MODE jwt: production sets it",
    "AUTH_JWT_AUDIENCE": "only with AUTH_MODE jwt: production sets it",
    "AUTH_JWT_PRINCIPAL_CLAIM": "default sub",
    "AUTH_JWT_LEEWAY_SECS": "default 60 s of clock skew",
    "AUTH_JWT_JWKS_TTL_SECS": "default 300 s",
    "AUTH_JWT_JWKS_MIN_REFRESH_SECS": "default 30 s",
}


def objects(overlay, kind=None):
    return [o for o in OVERLAYS[overlay] if kind is None or o["kind"] == kind]


def workloads(overlay):
    return [o for o in OVERLAYS[overlay] if o["kind"] in ("Deployment", "StatefulSet")]


def name(o):
    return o["metadata"]["name"]


def check_namespace_enforces_restricted_pod_security():
    for overlay in OVERLAYS:
        [ns] = [o for o in objects(overlay, "Namespace") if name(o) == "multi-agent"]
        labels = ns["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", (overlay, mode)
        for o in OVERLAYS[overlay]:
            if o["kind"] != "Namespace":
                assert o["metadata"].get("namespace") == "multi-agent", (overlay, o["kind"], name(o))


def check_every_workload_meets_the_restricted_profile():
    for overlay in OVERLAYS:
        for w in workloads(overlay):
            pod = w["spec"]["template"]["spec"]
            where = f"{overlay}/{w['kind']}/{name(w)}"
            assert pod.get("automountServiceAccountToken") is False, where
            assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), where
            assert not any("hostPath" in v for v in pod.get("volumes", [])), where
            pod_sc = pod.get("securityContext", {})
            assert pod_sc.get("runAsNonRoot") is True, where
            assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert pod_sc.get("runAsUser", 1) != 0, where
            for c in pod["containers"] + pod.get("initContainers", []):
                sc = c.get("securityContext", {})
                at = f"{where}/{c['name']}"
                assert sc.get("allowPrivilegeEscalation") is False, at
                assert sc.get("privileged") in (None, False), at
                assert sc.get("readOnlyRootFilesystem") is True, at
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], at
                assert not sc.get("capabilities", {}).get("add"), at
                assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", at
                resources = c.get("resources", {})
                for bound in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        assert res in resources.get(bound, {}), (at, bound, res)
                assert "readinessProbe" in c, at


def check_our_deployments_probe_health_and_readiness():
    for overlay in OVERLAYS:
        for d in objects(overlay, "Deployment"):
            assert name(d) in OURS, (overlay, name(d))
            [c] = d["spec"]["template"]["spec"]["containers"]
            where = f"{overlay}/{name(d)}"
            assert c["args"] == [name(d)], where
            assert c["livenessProbe"]["httpGet"]["path"] == "/health", where
            ready = c["readinessProbe"]
            if name(d) == "gateway":
                assert ready["httpGet"]["path"] == "/ready", where
            else:
                assert ready["grpc"]["port"] == PORTS[name(d)], where
            assert {p["containerPort"] for p in c["ports"]} == {PORTS[name(d)]}, where
            assert d["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532, where


def check_services_name_their_ports():
    for overlay in OVERLAYS:
        for s in objects(overlay, "Service"):
            names = {p.get("name") for p in s["spec"]["ports"]}
            assert all(names), (overlay, name(s))
            if name(s) in OURS - {"gateway"}:
                assert {"grpc", "http"} <= names, (overlay, name(s), names)
            if name(s) == "gateway":
                assert "http" in names, overlay


def check_sync_services_have_an_hpa_and_async_consumers_keda_never_both():
    for overlay in OVERLAYS:
        hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in objects(overlay, "HorizontalPodAutoscaler")}
        keda = {s["spec"]["scaleTargetRef"]["name"]: s for s in objects(overlay, "ScaledObject")}
        assert not set(hpas) & set(keda), (overlay, "HPA and ScaledObject on one workload")
        assert set(hpas) == SYNC and set(keda) == ASYNC, (overlay, set(hpas), set(keda))
        for target, h in hpas.items():
            assert h["apiVersion"] == "autoscaling/v2", target
            spec = h["spec"]
            assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10), target
            metrics = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"]}
            assert metrics["cpu"] == {"type": "Utilization", "averageUtilization": 70}, target
            assert "memory" in metrics, target
        for target, s in keda.items():
            [trigger] = s["spec"]["triggers"]
            assert trigger["type"] == "rabbitmq", target
            assert trigger["metadata"]["queueName"] == f"intentmesh.{target}.tasks", target
            assert (s["spec"]["minReplicaCount"], s["spec"]["maxReplicaCount"]) == (2, 10), target


def check_every_deployment_has_a_disruption_budget():
    for overlay in OVERLAYS:
        pdbs = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
                for p in objects(overlay, "PodDisruptionBudget")}
        assert OURS <= pdbs, (overlay, OURS - pdbs)


def _allows(policy, labels):
    sel = policy["spec"]["podSelector"]
    for k, v in sel.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions", []):
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
    return True


def check_network_policies_deny_by_default_and_allow_the_mesh_flows():
    for overlay in OVERLAYS:
        policies = objects(overlay, "NetworkPolicy")
        [deny] = [p for p in policies if name(p) == "default-deny"]
        assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert not deny["spec"].get("ingress") and not deny["spec"].get("egress")
        [dns] = [p for p in policies if name(p) == "allow-dns"]
        assert {p["port"] for r in dns["spec"]["egress"] for p in r["ports"]} == {53}

        def egress_ports(src):
            return {(peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name"), port["port"])
                    for p in policies if _allows(p, {"app.kubernetes.io/name": src}) and "Egress" in p["spec"]["policyTypes"]
                    for rule in p["spec"].get("egress", []) for peer in rule.get("to", []) for port in rule.get("ports", [])}

        def ingress_from(dst):
            return [rule for p in policies if _allows(p, {"app.kubernetes.io/name": dst}) and "Ingress" in p["spec"]["policyTypes"]
                    for rule in p["spec"].get("ingress", [])]

        flows = {"gateway": {("root", 8003), ("rabbitmq", 5672), ("redis", 6379)},
                 "root": {("payment", 8001), ("search", 8002), ("rabbitmq", 5672), ("redis", 6379)},
                 "payment": {("postgres", 5432), ("rabbitmq", 5672), ("redis", 6379)},
                 "search": {("postgres", 5432), ("rabbitmq", 5672), ("redis", 6379)}}
        for src, wanted in flows.items():
            have = egress_ports(src)
            if overlay == "production":
                # Managed Redis and PostgreSQL are reached by address range, not pod label.
                wanted = {f for f in wanted if f[0] not in ("redis", "postgres")}
            assert wanted <= have, (overlay, src, wanted - have)
        for dst in OURS:
            rules = ingress_from(dst)
            monitoring = [r for r in rules for peer in r.get("from", [])
                          if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("intentmesh.io/monitoring") == "true"]
            assert any(PORTS[dst] in {p["port"] for p in r["ports"]} for r in monitoring), (overlay, dst, "Prometheus")
        gateway_in = [peer for r in ingress_from("gateway") for peer in r.get("from", [])]
        assert any(p.get("namespaceSelector", {}).get("matchLabels", {}).get("intentmesh.io/ingress") == "true" for p in gateway_in)
        for worker in ("payment", "search"):
            peers = [peer for r in ingress_from(worker) for peer in r.get("from", [])]
            sources = {p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") for p in peers}
            assert sources <= {"root", None}, (overlay, worker, sources)


def check_routes_and_monitoring():
    for overlay in OVERLAYS:
        [route] = objects(overlay, "HTTPRoute")
        assert route["spec"]["hostnames"] == ["multi-agent.local"]
        assert route["spec"]["rules"][0]["backendRefs"][0] == {"name": "gateway", "port": 8000}
        [ingress] = objects(overlay, "Ingress")
        assert ingress["spec"]["rules"][0]["host"] == "multi-agent.local"
        [monitor] = objects(overlay, "ServiceMonitor")
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
        assert not objects(overlay, "GRPCRoute"), "the agents are not exposed"


def check_secrets_hold_no_real_values():
    template = yaml.safe_load((ROOT / "k8s/secrets.yaml").read_text())
    assert template["kind"] == "Secret" and template["metadata"]["name"] == "intentmesh-secrets"
    assert all(v == "" for v in template["stringData"].values()), "k8s/secrets.yaml must stay a template"
    assert not objects("production", "Secret"), "production must not ship a Secret"
    for s in objects("local", "Secret"):
        values = {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
        # Local credentials say what they are, wherever a password appears.
        for key, value in values.items():
            if "@" in value or "PASS" in key:
                assert "local-only" in value, (name(s), key)


def _env_vars_the_code_reads():
    names = set()
    sources = [p for d in ("crates", "services", "gateway", "src") for p in (ROOT / d).rglob("*.rs")
               if "tests" not in p.parts and not p.name.endswith("tests.rs") and "test_util" not in p.name]
    for path in sources:
        text = path.read_text()
        text = text.split("#[cfg(test)]")[0]
        names |= set(re.findall(r'(?:env\.get|parse_or|parse_between|seconds_or)\(\s*(?:&?env,\s*)?"([A-Z][A-Z0-9_]+)"', text))
        # Variable names are constants beside their readers: `const ROUTER_STAGES: &str = "ROUTER_STAGES";`.
        names |= {n for n, v in re.findall(r'const ([A-Z][A-Z0-9_]+): &str = "([A-Z][A-Z0-9_]+)";', text) if n == v}
        names |= set(re.findall(r'env::var(?:_os)?\("([A-Z][A-Z0-9_]+)"\)', text))
        names |= {f"{p}_LISTEN_ADDR" for p in re.findall(r'ServerConfig::from_env\(env,\s*"([A-Z]+)"', text)}
    return names


def check_every_variable_the_code_reads_is_set_or_deliberately_defaulted():
    read = _env_vars_the_code_reads()
    assert {"RABBITMQ_URL", "REDIS_URL", "DATABASE_URL", "TASK_PREFETCH", "GATEWAY_LISTEN_ADDR"} <= read, read
    for overlay in OVERLAYS:
        [config] = [c for c in objects(overlay, "ConfigMap") if name(c) == "intentmesh-config"]
        provided = set(config["data"])
        secret_keys = set(yaml.safe_load((ROOT / "k8s/secrets.yaml").read_text())["stringData"])
        for d in objects(overlay, "Deployment"):
            [c] = d["spec"]["template"]["spec"]["containers"]
            refs = {e.get("configMapRef", {}).get("name") or e.get("secretRef", {}).get("name") for e in c["envFrom"]}
            assert refs == {"intentmesh-config", "intentmesh-secrets"}, (overlay, name(d))
            env = provided | secret_keys | {e["name"] for e in c.get("env", [])}
            missing = {v for v in read - env - set(DELIBERATELY_DEFAULTED)
                       if not v.endswith("_LISTEN_ADDR") or v.startswith(name(d).upper())}
            assert not missing, (overlay, name(d), sorted(missing))


def check_production_authenticates_every_caller():
    """AUTH_MODE=none is for development: production takes API keys and JWTs, with everything
    each needs, and its gateway has the key file mounted from a Secret."""
    [config] = [c for c in objects("production", "ConfigMap") if name(c) == "intentmesh-config"]
    data = config["data"]
    modes = {m.strip() for m in data.get("AUTH_MODE", "none").split(",")}
    assert "none" not in modes, "production must not run with AUTH_MODE=none"
    assert modes == {"api_key", "jwt"}, modes
    for var in ("AUTH_API_KEYS_FILE", "AUTH_JWT_JWKS_URL", "AUTH_JWT_ISSUER", "AUTH_JWT_AUDIENCE"):
        assert data.get(var, "").strip(), f"production sets {var}"
    assert data["AUTH_JWT_JWKS_URL"].startswith("https://"), "the JWKS is fetched over TLS"
    [gateway] = [d for d in objects("production", "Deployment") if name(d) == "gateway"]
    pod = gateway["spec"]["template"]["spec"]
    [c] = pod["containers"]
    key_dir = data["AUTH_API_KEYS_FILE"].rsplit("/", 1)[0]
    [mount] = [m for m in c.get("volumeMounts", []) if m["mountPath"] == key_dir]
    assert mount.get("readOnly") is True, mount
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume.get("secret", {}).get("secretName") == "intentmesh-api-keys", volume
    assert not [s for s in objects("production", "Secret") if name(s) == "intentmesh-api-keys"], \
        "the key file is created beforehand, never shipped"
    # …and may reach the identity provider for its keys.
    assert any(_allows(p, gateway["spec"]["template"]["metadata"]["labels"])
               and any(port.get("port") == 443 for rule in p["spec"].get("egress", [])
                       for port in rule.get("ports", []))
               for p in objects("production", "NetworkPolicy")), "no egress to the JWKS on 443"
    # Development keeps its warning: nothing else turns authentication off silently.
    [local] = [c for c in objects("local", "ConfigMap") if name(c) == "intentmesh-config"]
    assert local["data"].get("AUTH_MODE") == "none", local["data"].get("AUTH_MODE")


def _mebibytes(quantity):
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / (1024 * 1024)


def check_the_root_has_room_for_the_embedding_model():
    # ~220 MiB resident once all-MiniLM-L6-v2 is loaded (measured on the release build).
    for overlay in OVERLAYS:
        [root] = [d for d in objects(overlay, "Deployment") if name(d) == "root"]
        [c] = root["spec"]["template"]["spec"]["containers"]
        assert _mebibytes(c["resources"]["requests"]["memory"]) >= 256, (overlay, c["resources"])
        assert _mebibytes(c["resources"]["limits"]["memory"]) >= 512, (overlay, c["resources"])


def check_rabbitmq_cluster_against_its_schema():
    schema = json.loads((ROOT / "deploy/validate/schemas/rabbitmqcluster.schema.json").read_text())
    [cluster] = objects("production", "RabbitmqCluster")
    jsonschema.validate(cluster, schema)
    assert cluster["spec"]["replicas"] >= 3, "quorum queues need three nodes to survive one"
    assert not objects("local", "RabbitmqCluster")
    local_sets = {name(s) for s in objects("local", "StatefulSet")}
    assert local_sets == {"rabbitmq", "redis", "postgres"}, local_sets
    for s in objects("local", "StatefulSet"):
        assert s["spec"]["volumeClaimTemplates"], name(s)


def check_only_known_kinds_lack_a_core_schema():
    core = {"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Deployment", "StatefulSet", "Service",
            "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "Ingress"}
    for overlay in OVERLAYS:
        kinds = {o["kind"] for o in OVERLAYS[overlay]}
        assert kinds <= core | CRD_KINDS, (overlay, kinds - core - CRD_KINDS)


def check_skaffold_references_what_exists():
    skaffold = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert skaffold["apiVersion"].startswith("skaffold/v4") and skaffold["kind"] == "Config"
    images = set()
    for artifact in skaffold["build"]["artifacts"]:
        assert (ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]).is_file()
        images.add(artifact["image"])
    paths = list(skaffold["manifests"]["kustomize"]["paths"])
    for profile in skaffold.get("profiles", []):
        paths += profile["manifests"]["kustomize"]["paths"]
    for p in paths:
        assert (ROOT / p / "kustomization.yaml").is_file(), p
    used = {c["image"].split(":")[0] for d in objects("local", "Deployment")
            for c in d["spec"]["template"]["spec"]["containers"]}
    assert used == images, (used, images)
    [forward] = skaffold["portForward"]
    assert any(name(s) == forward["resourceName"] and s["spec"]["ports"][0]["port"] == forward["port"]
               for s in objects("local", "Service"))


def check_compose_runs_every_service_from_one_image_with_health():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"rabbitmq", "redis", "postgres", "prometheus", "grafana", "jaeger"} | OURS <= set(services)
    for svc in OURS:
        s = services[svc]
        assert s["image"] == "intentmesh:local" and s["command"] == [svc], svc
        assert s["read_only"] is True and s["cap_drop"] == ["ALL"], svc
        assert "probe" in s["healthcheck"]["test"], svc
        for dep, cond in s["depends_on"].items():
            assert cond["condition"] == "service_healthy", (svc, dep)
    assert "management" in services["rabbitmq"]["image"]
    assert (ROOT / "deploy/grafana/dashboards/intentmesh.json").is_file()


def main():
    checks = [(n, f) for n, f in globals().items() if n.startswith("check_") and callable(f)]
    failed = 0
    for n, f in checks:
        try:
            f()
            print(f"ok   {n}")
        except Exception:  # noqa: BLE001 - every failure is reported, then the script fails
            failed += 1
            print(f"FAIL {n}")
            traceback.print_exc()
    print(f"{len(checks) - failed} policy checks passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
