// Validates the custom resources in rendered manifests (JSON, one array per file) against the
// JSON schemas that ship in the @kubernetes-models packages: KEDA, Gateway API, the Prometheus
// Operator and cert-manager. Exits 1 naming every invalid object; kinds it has no model for are
// listed by the caller (policies.py) and checked there.
import { readFileSync } from "node:fs";

const packages = {
  "keda.sh": "@kubernetes-models/keda",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "cert-manager.io": "@kubernetes-models/cert-manager",
};

let failures = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const objects = JSON.parse(readFileSync(file, "utf8"));
  for (const object of objects) {
    const [group, version] = object.apiVersion.includes("/")
      ? object.apiVersion.split("/")
      : ["", object.apiVersion];
    const pkg = packages[group];
    if (!pkg) continue;
    const name = `${object.kind}/${object.metadata?.name} in ${file}`;
    let Model;
    try {
      ({ [object.kind]: Model } = await import(`${pkg}/${group}/${version}/${object.kind}`));
    } catch (err) {
      console.error(`FAIL ${name}: no schema for ${object.apiVersion} ${object.kind} (${err.message})`);
      failures++;
      continue;
    }
    try {
      new Model(object).validate();
      checked++;
      console.log(`ok   ${object.apiVersion} ${name}`);
    } catch (err) {
      console.error(`FAIL ${name}: ${err.message}`);
      failures++;
    }
  }
}
console.log(`${checked} custom resources valid, ${failures} invalid`);
process.exit(failures ? 1 : 0);
