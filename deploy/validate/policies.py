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
# Every service's plain-HTTP /health, /ready and /metrics (ADMIN_LISTEN_ADDR).
ADMIN_PORT = 9090
# Who calls whom over gRPC: the gateway the root, the root the workers (the task workers run
# inside the payment and search processes and call nothing).
CALLERS = {"root": {"gateway"}, "payment": {"root"}, "search": {"root"}}
# What each service's own Secret (intentmesh-<service>-secrets) holds: the secret settings that
# service reads (check_each_service_reads_only_its_own_secret compares this with the code).
SECRET_KEYS = {"gateway": {"RABBITMQ_URL", "REDIS_URL"},
               "root": {"RABBITMQ_URL", "REDIS_URL", "OPENAI_API_KEY"},
               "payment": {"RABBITMQ_URL", "REDIS_URL", "DATABASE_URL"},
               "search": {"RABBITMQ_URL", "REDIS_URL", "DATABASE_URL"}}
OPTIONAL_SECRET_KEYS = {"OPENAI_API_KEY"}
SERVICE_SOURCES = {"gateway": "gateway", "root": "services/root-agent",
                   "payment": "services/payment-agent", "search": "services/search-agent"}
# What the Ingress and the HTTPRoute expose: the public API, nothing operational.
PUBLIC_PATHS = {("Exact", "/process"), ("Exact", "/route"), ("Prefix", "/tasks"),
                ("Exact", "/openapi.json"), ("Exact", "/.well-known/agent-card.json"),
                ("Prefix", "/a2a")}
OPERATIONAL_PATHS = ("/health", "/ready", "/metrics")
TLS_DIR = "/etc/intentmesh/tls"

# Kinds kubernetes-validate has no schema for; validated by crds.mjs or the schemas/ folder.
CRD_KINDS = {"HTTPRoute", "ScaledObject", "TriggerAuthentication", "ServiceMonitor",
             "RabbitmqCluster", "Issuer", "Certificate"}

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
    # Service-to-service TLS: plaintext gRPC unless set; production sets what each service's role
    # needs (check_production_encrypts_grpc_with_client_certificates).
    "TLS_CERT_FILE": "production sets it on every service",
    "TLS_KEY_FILE": "production sets it on every service",
    "TLS_CA_FILE": "production sets it on the callers (gateway, root)",
    "TLS_CLIENT_CA_FILE": "production sets it on the gRPC servers (root, payment, search)",
    "TLS_ALLOWED_CLIENTS": "production sets it on the gRPC servers (root, payment, search)",
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
            assert c["readinessProbe"]["httpGet"]["path"] == "/ready", where
            assert {p["containerPort"] for p in c["ports"]} == {PORTS[name(d)], ADMIN_PORT}, where
            assert d["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532, where


def check_services_name_their_ports():
    for overlay in OVERLAYS:
        for s in objects(overlay, "Service"):
            names = {p.get("name") for p in s["spec"]["ports"]}
            assert all(names), (overlay, name(s))
            if name(s) in OURS - {"gateway"}:
                assert names == {"grpc", "admin"}, (overlay, name(s), names)
            if name(s) == "gateway":
                assert names == {"http", "admin"}, (overlay, names)


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
            assert any(ADMIN_PORT in {p["port"] for p in r["ports"]} for r in monitoring), (overlay, dst, "Prometheus")
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


def _secret_template():
    return [d for d in yaml.safe_load_all((ROOT / "k8s/secrets.yaml").read_text()) if d]


def check_secrets_hold_no_real_values():
    for template in _secret_template():
        assert template["kind"] == "Secret", template["kind"]
        assert all(v == "" for v in template["stringData"].values()), \
            f"k8s/secrets.yaml: Secret/{name(template)} must stay a template (empty values)"
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
        all_secret_keys = set().union(*SECRET_KEYS.values())
        for d in objects(overlay, "Deployment"):
            [c] = d["spec"]["template"]["spec"]["containers"]
            refs = {e.get("configMapRef", {}).get("name") or e.get("secretRef", {}).get("name") for e in c["envFrom"]}
            assert refs == {"intentmesh-config"}, (overlay, name(d), refs)
            env = provided | {e["name"] for e in c.get("env", [])}
            # Another service's secrets are not this one's to read.
            others = all_secret_keys - SECRET_KEYS[name(d)]
            missing = {v for v in read - env - set(DELIBERATELY_DEFAULTED) - others
                       if v == "ADMIN_LISTEN_ADDR" or not v.endswith("_LISTEN_ADDR") or v.startswith(name(d).upper())}
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
        # /metrics on the admin port only (ADMIN_LISTEN_ADDR); the health check goes there too.
        assert s["environment"].get("ADMIN_LISTEN_ADDR") == f"0.0.0.0:{ADMIN_PORT}", f"docker-compose.yml: {svc} has no admin port"
        assert f"http://127.0.0.1:{ADMIN_PORT}/ready" in s["healthcheck"]["test"], f"docker-compose.yml: {svc}'s health check"
        for dep, cond in s["depends_on"].items():
            assert cond["condition"] == "service_healthy", (svc, dep)
    assert "management" in services["rabbitmq"]["image"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{svc}:{ADMIN_PORT}" for svc in OURS}, f"deploy/prometheus/prometheus.yml scrapes {sorted(targets)}"
    assert (ROOT / "deploy/grafana/dashboards/intentmesh.json").is_file()


def _env(container):
    return {e["name"]: e for e in container.get("env", [])}


def _our_deployments(overlay):
    for d in objects(overlay, "Deployment"):
        if name(d) in OURS:
            [c] = d["spec"]["template"]["spec"]["containers"]
            yield d, c, f"{overlay}/Deployment/{name(d)}"


def check_probes_and_metrics_use_the_admin_port():
    """Every service serves /health, /ready and /metrics in plain HTTP on its admin port
    (ADMIN_LISTEN_ADDR=0.0.0.0:9090): every probe and the ServiceMonitor go there, never to a
    service port (the agents' are TLS with client certificates in production)."""
    for overlay in OVERLAYS:
        for d, c, where in _our_deployments(overlay):
            admin = [p for p in c["ports"] if p.get("name") == "admin"]
            assert [p["containerPort"] for p in admin] == [ADMIN_PORT], f"{where}: no container port admin={ADMIN_PORT}"
            value = _env(c).get("ADMIN_LISTEN_ADDR", {}).get("value")
            assert value == f"0.0.0.0:{ADMIN_PORT}", f"{where}: ADMIN_LISTEN_ADDR={value!r}, want 0.0.0.0:{ADMIN_PORT}"
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                probe = c.get(kind)
                assert probe, f"{where}: no {kind}"
                port = probe.get("httpGet", {}).get("port")
                assert port in ("admin", ADMIN_PORT), f"{where}: {kind} is {probe}, not HTTP on the admin port"
        for s in objects(overlay, "Service"):
            if name(s) in OURS:
                ports = {p["name"]: p for p in s["spec"]["ports"]}
                assert "admin" in ports and ports["admin"]["port"] == ADMIN_PORT \
                    and ports["admin"]["targetPort"] in ("admin", ADMIN_PORT), \
                    f"{overlay}/Service/{name(s)}: no port admin → admin ({ADMIN_PORT})"
        for m in objects(overlay, "ServiceMonitor"):
            for e in m["spec"]["endpoints"]:
                assert e.get("port") == "admin", f"{overlay}/ServiceMonitor/{name(m)} scrapes port {e.get('port')!r}, not admin"


def _ingress_rules_for(policies, dst):
    return [(name(p), rule) for p in policies
            if _allows(p, {"app.kubernetes.io/name": dst}) and "Ingress" in p["spec"]["policyTypes"]
            for rule in p["spec"].get("ingress", [])]


def _is_monitoring(peer):
    return peer.get("namespaceSelector", {}).get("matchLabels", {}).get("intentmesh.io/monitoring") == "true"


def check_prometheus_reaches_only_the_admin_port():
    """The monitoring namespace is admitted to each service's admin port, and to nothing else."""
    for overlay in OVERLAYS:
        policies = objects(overlay, "NetworkPolicy")
        for dst in OURS:
            admitted = False
            for policy, rule in _ingress_rules_for(policies, dst):
                if not any(_is_monitoring(peer) for peer in rule.get("from", [])):
                    continue
                ports = {p.get("port") for p in rule.get("ports", [])}
                assert ports == {ADMIN_PORT}, \
                    f"{overlay}/NetworkPolicy/{policy} admits Prometheus to {dst} on {sorted(ports) or 'every port'}, not only {ADMIN_PORT}"
                admitted = True
            assert admitted, f"{overlay}: no NetworkPolicy admits Prometheus to {dst}:{ADMIN_PORT}"


def check_service_ports_admit_only_their_callers():
    """A gRPC port is reachable only from the services that call it (root from the gateway, the
    workers from the root), the gateway's only from the ingress namespace; no rule admits
    everyone."""
    for overlay in OVERLAYS:
        policies = objects(overlay, "NetworkPolicy")
        for dst in OURS:
            for policy, rule in _ingress_rules_for(policies, dst):
                where = f"{overlay}/NetworkPolicy/{policy} (to {dst})"
                assert rule.get("from"), f"{where}: a rule without `from` admits everyone"
                ports = {p.get("port") for p in rule.get("ports", [])}
                if ports and PORTS[dst] not in ports:
                    continue
                for peer in rule["from"]:
                    source = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                    if dst == "gateway":
                        ok = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("intentmesh.io/ingress") == "true"
                    else:
                        ok = source in CALLERS[dst] and "namespaceSelector" not in peer and "ipBlock" not in peer
                    assert ok, f"{where}: port {PORTS[dst]} open to {peer}, not only {sorted(CALLERS.get(dst, {'the ingress'}))}"


def _secrets_read_by(service):
    """The secret settings a service's own code reads (its crate, tests left out)."""
    text = "\n".join(p.read_text().split("#[cfg(test)]")[0]
                     for p in (ROOT / SERVICE_SOURCES[service] / "src").rglob("*.rs")
                     if "tests" not in p.parts and not p.name.endswith("tests.rs"))
    read = set()
    if "AsyncConfig::from_env" in text:
        read |= {"RABBITMQ_URL", "REDIS_URL"}
    if "DatabaseUrl::from_env" in text:
        read.add("DATABASE_URL")
    read |= {v for v in set().union(*SECRET_KEYS.values()) if f'"{v}"' in text}
    return read


def check_each_service_reads_only_its_own_secret():
    """No Secret shared by every pod: each service takes the keys it reads, and only those, from
    intentmesh-<service>-secrets (secretKeyRef, never envFrom); the template, the local overlay's
    generated Secrets and KEDA's TriggerAuthentication follow the same split."""
    for svc in OURS:
        assert _secrets_read_by(svc) == SECRET_KEYS[svc], \
            f"{svc} reads {sorted(_secrets_read_by(svc))}, SECRET_KEYS says {sorted(SECRET_KEYS[svc])}"
    template = {name(t): set(t["stringData"]) for t in _secret_template()}
    assert template == {f"intentmesh-{svc}-secrets": SECRET_KEYS[svc] for svc in OURS}, \
        f"k8s/secrets.yaml holds {template}, want one Secret per service with its keys"
    for overlay in OVERLAYS:
        assert "intentmesh-secrets" not in json.dumps(OVERLAYS[overlay]), f"{overlay}: something still uses the shared intentmesh-secrets"
        for d, c, where in _our_deployments(overlay):
            svc = name(d)
            own = f"intentmesh-{svc}-secrets"
            assert not [e for e in c.get("envFrom", []) if "secretRef" in e], f"{where}: envFrom a Secret"
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})}
            for var, ref in refs.items():
                assert ref["name"] == own and ref["key"] == var, f"{where}: {var} from Secret/{ref['name']} key {ref['key']}, not {own}"
                assert ref.get("optional", False) == (var in OPTIONAL_SECRET_KEYS), f"{where}: {var} optional={ref.get('optional')}"
            assert set(refs) == SECRET_KEYS[svc], f"{where}: reads {sorted(refs)} from its Secret, want {sorted(SECRET_KEYS[svc])}"
            allowed_volumes = {f"intentmesh-{svc}-tls"} | ({"intentmesh-api-keys"} if svc == "gateway" else set())
            for v in d["spec"]["template"]["spec"].get("volumes", []):
                if "secret" in v:
                    assert v["secret"]["secretName"] in allowed_volumes, f"{where}: mounts Secret/{v['secret']['secretName']}"
        for w in workloads(overlay):
            if name(w) not in OURS:
                assert not re.search(r"intentmesh-(gateway|root|payment|search)-secrets", json.dumps(w)), \
                    f"{overlay}/{w['kind']}/{name(w)} reads a service's Secret"
        for t in objects(overlay, "TriggerAuthentication"):
            for ref in t["spec"].get("secretTargetRef", []):
                assert ref["name"] == "intentmesh-search-secrets", f"{overlay}/TriggerAuthentication/{name(t)} reads Secret/{ref['name']}"
    generated = {name(s): set(s.get("data", {})) for s in objects("local", "Secret")}
    for svc in OURS:
        keys = generated.get(f"intentmesh-{svc}-secrets")
        assert keys is not None, f"local: no Secret intentmesh-{svc}-secrets"
        assert SECRET_KEYS[svc] - OPTIONAL_SECRET_KEYS <= keys <= SECRET_KEYS[svc], \
            f"local/Secret/intentmesh-{svc}-secrets holds {sorted(keys)}, want {sorted(SECRET_KEYS[svc])}"


def _matches(kind, value, path):
    if kind == "Exact":
        return path == value
    return value == "/" or path == value.rstrip("/") or path.startswith(value.rstrip("/") + "/")


def check_routes_expose_only_the_public_api_over_tls():
    """The Ingress and the HTTPRoute route the public API's paths and nothing else (never
    /health, /ready, /metrics), the Ingress with TLS, the HTTPRoute on the Gateway's HTTPS
    listener; in production cert-manager issues the Ingress's certificate."""
    for overlay in OVERLAYS:
        for ingress in objects(overlay, "Ingress"):
            where = f"{overlay}/Ingress/{name(ingress)}"
            paths = set()
            for rule in ingress["spec"]["rules"]:
                for p in rule["http"]["paths"]:
                    paths.add((p["pathType"], p["path"]))
                    assert p["backend"]["service"] == {"name": "gateway", "port": {"name": "http"}}, f"{where}: {p}"
            exposed = [p for p in OPERATIONAL_PATHS if any(_matches(k, v, p) for k, v in paths)]
            assert not exposed, f"{where} exposes {exposed}"
            assert paths == PUBLIC_PATHS, f"{where} routes {sorted(paths)}, want exactly {sorted(PUBLIC_PATHS)}"
            tls_hosts = {h for t in ingress["spec"].get("tls", []) if t.get("secretName") for h in t.get("hosts", [])}
            hosts = {rule.get("host") for rule in ingress["spec"]["rules"]}
            assert hosts <= tls_hosts, f"{where}: no TLS (with a secretName) for {sorted(hosts - tls_hosts)}"
            if overlay == "production":
                annotations = ingress["metadata"].get("annotations", {})
                assert {"cert-manager.io/cluster-issuer", "cert-manager.io/issuer"} & set(annotations), \
                    f"{where}: no cert-manager issuer annotation"
        for route in objects(overlay, "HTTPRoute"):
            where = f"{overlay}/HTTPRoute/{name(route)}"
            for parent in route["spec"]["parentRefs"]:
                assert parent.get("sectionName") == "https", f"{where}: parentRef {parent} is not the HTTPS listener"
            paths = set()
            for rule in route["spec"]["rules"]:
                assert rule.get("matches"), f"{where}: a rule without matches routes every path"
                for m in rule["matches"]:
                    assert set(m) == {"path"}, f"{where}: match {m} must be a path"
                    paths.add(({"PathPrefix": "Prefix"}.get(m["path"]["type"], m["path"]["type"]), m["path"]["value"]))
                assert rule["backendRefs"] == [{"name": "gateway", "port": 8000}], f"{where}: {rule['backendRefs']}"
            exposed = [p for p in OPERATIONAL_PATHS if any(_matches(k, v, p) for k, v in paths)]
            assert not exposed, f"{where} exposes {exposed}"
            assert paths == PUBLIC_PATHS, f"{where} routes {sorted(paths)}, want exactly {sorted(PUBLIC_PATHS)}"


def check_production_encrypts_grpc_with_client_certificates():
    """Production: cert-manager bootstraps a CA (self-signed Issuer → isCA Certificate → CA
    Issuer) that issues one certificate per service; each Deployment mounts its own read-only and
    sets TLS_*: callers TLS_CA_FILE, servers TLS_CLIENT_CA_FILE and TLS_ALLOWED_CLIENTS naming
    exactly their callers; the gRPC URLs are https://."""
    issuers = {name(i): i["spec"] for i in objects("production", "Issuer")}
    certs = {c["spec"]["secretName"]: c for c in objects("production", "Certificate")}
    [ca] = [c for c in certs.values() if c["spec"].get("isCA")] or [None]
    assert ca, "production: no CA Certificate (isCA: true)"
    ca_issuer = issuers.get(ca["spec"]["issuerRef"]["name"])
    assert ca_issuer is not None and "selfSigned" in ca_issuer, f"production/Certificate/{name(ca)} is not issued by a self-signed Issuer"
    [mesh_issuer] = [n for n, spec in issuers.items() if spec.get("ca", {}).get("secretName") == ca["spec"]["secretName"]] or [None]
    assert mesh_issuer, f"production: no CA Issuer from Secret/{ca['spec']['secretName']}"
    [config] = [c for c in objects("production", "ConfigMap") if name(c) == "intentmesh-config"]
    urls = [config["data"]["ROOT_AGENT_URL"]] + [u.split("=", 1)[-1] for u in config["data"]["AGENT_URLS"].split(",")]
    assert all(u.startswith("https://") for u in urls), f"production/ConfigMap/intentmesh-config: gRPC URLs {urls} not https://"
    callers = set().union(*CALLERS.values())
    for d, c, where in _our_deployments("production"):
        svc = name(d)
        secret = f"intentmesh-{svc}-tls"
        cert = certs.get(secret)
        assert cert, f"production: no Certificate with secretName {secret}"
        spec, at = cert["spec"], f"production/Certificate/{name(cert)}"
        assert spec["issuerRef"]["name"] == mesh_issuer and spec["issuerRef"].get("kind", "Issuer") == "Issuer", f"{at}: issued by {spec['issuerRef']}"
        wanted = {svc, f"{svc}.multi-agent.svc", f"{svc}.multi-agent.svc.cluster.local"}
        assert wanted <= set(spec.get("dnsNames", [])), f"{at}: dnsNames {spec.get('dnsNames')} lack {sorted(wanted)}"
        assert {"server auth", "client auth"} <= set(spec.get("usages", [])), f"{at}: usages {spec.get('usages')}"
        assert spec.get("privateKey", {}).get("algorithm") in ("ECDSA", "RSA", "Ed25519"), f"{at}: privateKey {spec.get('privateKey')}"
        hours = {k: float(spec.get(k, "0h").rstrip("h")) for k in ("duration", "renewBefore")}
        assert 0 < hours["renewBefore"] < hours["duration"] <= 24 * 366, f"{at}: duration/renewBefore {hours}"
        pod = d["spec"]["template"]["spec"]
        [volume] = [v for v in pod.get("volumes", []) if v.get("secret", {}).get("secretName") == secret] or [None]
        assert volume, f"{where}: Secret/{secret} not mounted"
        [mount] = [m for m in c.get("volumeMounts", []) if m["name"] == volume["name"]]
        assert mount["mountPath"] == TLS_DIR and mount.get("readOnly") is True, f"{where}: {mount} (want {TLS_DIR}, readOnly)"
        env = {k: e.get("value") for k, e in _env(c).items()}
        want = {"TLS_CERT_FILE": f"{TLS_DIR}/tls.crt", "TLS_KEY_FILE": f"{TLS_DIR}/tls.key"}
        if svc in callers:
            want["TLS_CA_FILE"] = f"{TLS_DIR}/ca.crt"
        if svc in CALLERS:
            want["TLS_CLIENT_CA_FILE"] = f"{TLS_DIR}/ca.crt"
            want["TLS_ALLOWED_CLIENTS"] = ",".join(sorted(CALLERS[svc]))
        have = {k: v for k, v in env.items() if k.startswith("TLS_")}
        assert have == want, f"{where}: TLS settings {have}, want {want}"
    for overlay in OVERLAYS:
        if overlay != "production":
            assert not objects(overlay, "Certificate"), f"{overlay}: Certificates are production's"


def _published(port):
    """(host ip, container port) of a Compose port, short or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip", ""), int(port["target"])
    parts = str(port).split(":")
    return (parts[0] if len(parts) == 3 else ""), int(parts[-1].split("/")[0])


def check_compose_binds_internal_ports_to_loopback():
    """docker-compose.yml publishes the datastores, the agents' gRPC ports, the admin ports and
    the tools on 127.0.0.1 only (the gateway's 8000 may be public); Redis has a password."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for svc, spec in compose["services"].items():
        for port in spec.get("ports", []):
            host, target = _published(port)
            if svc == "gateway" and target == PORTS["gateway"]:
                continue
            assert host == "127.0.0.1", f"docker-compose.yml: {svc} publishes {port!r} beyond 127.0.0.1"
    redis = compose["services"]["redis"]
    assert "--requirepass" in redis["command"], "docker-compose.yml: redis runs without a password"
    for svc in OURS:
        url = compose["services"][svc]["environment"].get("REDIS_URL", "")
        assert re.match(r"rediss?://[^@/]*:[^@/]+@", url), f"docker-compose.yml: {svc}'s REDIS_URL has no password"


def check_compose_grafana_requires_a_login():
    """Grafana in docker-compose.yml: no anonymous access, and no admin password committed (from
    GRAFANA_ADMIN_PASSWORD without a default, or generated at start)."""
    grafana = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    env = grafana.get("environment", {})
    assert str(env.get("GF_AUTH_ANONYMOUS_ENABLED")).lower() == "false", "docker-compose.yml: grafana allows anonymous access"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env, "docker-compose.yml: grafana grants anonymous users a role"
    for var in ("GF_SECURITY_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        if var in env:
            assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD(:-|:\?[^}]*)?\}", str(env[var])), \
                f"docker-compose.yml: grafana's {var} has a committed default: {env[var]!r}"
    assert "GF_SECURITY_ADMIN_PASSWORD" in env or "GF_SECURITY_ADMIN_PASSWORD__FILE" in json.dumps(grafana), \
        "docker-compose.yml: grafana keeps its default admin password"


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
