/** Program-side checks the engine cannot make: secretness of inputs, registration order, secure config. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  dataRetained,
  gateFirst,
  plaintextSecretInputs,
  secureConfig,
  upstreamDrain,
} from "../../tools/checker/program-checks";
import type { RecordedResource } from "../../tools/checker/record";
import { SECRET_MARKER } from "../../tools/checker/stack-config";

const SECRET = (value: unknown) => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  value,
});

function res(name: string, o: Partial<RecordedResource> = {}): RecordedResource {
  return {
    urn: `urn:pulumi:production::launchgate::t::${name}`,
    type: "docker:index/container:Container",
    name,
    custom: true,
    index: 0,
    inputs: {},
    parent: "",
    dependencies: [],
    propertyDependencies: {},
    provider: "",
    protect: false,
    retainOnDelete: false,
    ignoreChanges: [],
    aliases: [],
    additionalSecretOutputs: [],
    read: false,
    ...o,
  };
}

describe("plaintextSecretInputs", () => {
  it("passes secret-wrapped values and plain non-secret env", () => {
    const r = res("app-api", {
      inputs: {
        envs: ["NODE_ENV=production", SECRET("DATABASE_URL=postgres://u:p@db/app")],
        environment: SECRET({ API_TOKEN: "x" }),
      },
    });
    assert.deepEqual(plaintextSecretInputs([r]), []);
  });
  it("flags a secret config value or a secret-named env in plain text, with its path", () => {
    const r = res("app-api", {
      inputs: {
        envs: ["NODE_ENV=production", "STRIPE_API_KEY=sk_live_1"],
        labels: [{ label: "k", value: `x${SECRET_MARKER}` }],
      },
    });
    assert.deepEqual(
      plaintextSecretInputs([r]).map((f) => f.message),
      [
        "docker:index/container:Container app-api: input labels[0].value holds a secret as plain text; pass it as a Pulumi secret (pulumi.secret / config.requireSecret) so it is encrypted in state.",
        "docker:index/container:Container app-api: input envs[1] holds a secret as plain text; pass it as a Pulumi secret (pulumi.secret / config.requireSecret) so it is encrypted in state.",
      ],
    );
  });
});

describe("public key material is not a secret, whatever its name", () => {
  const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";
  const CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2\n-----END CERTIFICATE-----\n";
  const PRIVATE =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
  const flagged = (inputs: Record<string, unknown>) =>
    plaintextSecretInputs([res("t", { type: "command:local:Command", inputs })]).map(
      (f) => /input (\S+)/.exec(f.message)![1],
    );
  it("SSH public keys and certificates pass under secret-looking names", () => {
    assert.deepEqual(
      flagged({
        environment: {
          HOST_KEY,
          DEPLOY_KEY: `${HOST_KEY} deployer@ci`,
          CA_CERT_KEY: CERT,
          RSA: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
        },
        envs: [`SSH_PUBLIC_KEY=${HOST_KEY}`],
      }),
      [],
    );
  });
  it("a private key, a key with text after its PEM block, or a token under the same names is still refused", () => {
    assert.deepEqual(
      flagged({
        environment: {
          HOST_KEY: PRIVATE,
          CA_KEY: `${CERT}${PRIVATE}`,
          API_KEY: "AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0",
        },
        envs: [
          `SSH_KEY=${PRIVATE}`,
          "HOST_KEY=ssh-ed25519 notbase64!",
          `DB_PASSWORD=${HOST_KEY} correct horse battery`,
        ],
      }),
      ["environment.HOST_KEY", "environment.CA_KEY", "environment.API_KEY", "envs[0]", "envs[1]", "envs[2]"],
    );
  });
});

describe("gateFirst", () => {
  const gate = res("release-gate", { type: "command:local:Command", index: 2 });
  it("passes when the gate comes first and everything waits for it", () => {
    const net = res("net", { index: 3, dependencies: [gate.urn] });
    assert.deepEqual(gateFirst([gate, net, res("vol", { index: 4, dependencies: [net.urn] })]), []);
  });
  it("flags resources registered before the gate or not waiting for it", () => {
    const early = res("early", { index: 1, dependencies: [] });
    assert.deepEqual(
      gateFirst([early, gate]).map((f) => f.message),
      [
        "registered before the release gate: early; construct Release first.",
        "not waiting for the release gate: early; declare them after the gate's stack transformation (components/release/gate.ts) or add dependsOn: [release.gate].",
      ],
    );
  });
});

describe("secureConfig", () => {
  const config = {
    project: "launchgate",
    config: { "launchgate:alertWebhookUrl": "https://x", "launchgate:apiKey": "k" },
    secureKeys: ["launchgate:alertWebhookUrl"],
    declaredSecret: ["launchgate:alertWebhookUrl"],
    plainLeaves: [{ key: "launchgate:apiKey", path: "", value: "k" }],
  };
  it("flags a key read as a secret but plain in the stack file", () => {
    assert.deepEqual(
      secureConfig(config, ["launchgate:apiKey"], "production").map((f) => f.message),
      [
        "launchgate:apiKey is a secret but Pulumi.production.yaml holds it in plain text; run `pulumi config set --secret launchgate:apiKey …`.",
      ],
    );
    assert.deepEqual(secureConfig({ ...config, plainLeaves: [] }, [], "production"), []);
  });
  it("checks secure: per leaf: one plain value inside a secret object is refused", () => {
    const mixed = {
      ...config,
      config: { ...config.config, "launchgate:appSecrets": "{}" },
      secureKeys: [...config.secureKeys, "launchgate:appSecrets"],
      declaredSecret: [...config.declaredSecret, "launchgate:appSecrets"],
      plainLeaves: [{ key: "launchgate:appSecrets", path: "api.STRIPE_KEY", value: "sk_live_x" }],
    };
    assert.deepEqual(
      secureConfig(mixed, [], "production").map((f) => f.message),
      [
        "launchgate:appSecrets.api.STRIPE_KEY is plain text inside the secret launchgate:appSecrets in Pulumi.production.yaml; every value must be secure: run `pulumi config set --secret --path 'launchgate:appSecrets.api.STRIPE_KEY' …`.",
      ],
    );
  });
  it("refuses plain leaves that are secrets by name, by format or by entropy", () => {
    const leaves = (path: string, value: string) => ({
      ...config,
      config: { "launchgate:apps": "[]" },
      secureKeys: [],
      declaredSecret: [],
      plainLeaves: [{ key: "launchgate:apps", path, value }],
    });
    const msg = (path: string, value: string) =>
      secureConfig(leaves(path, value), [], "production").map((f) => f.message);
    assert.deepEqual(msg("[0].env.DATABASE_PASSWORD", "hunter2"), [
      "launchgate:apps.[0].env.DATABASE_PASSWORD is plain text in Pulumi.production.yaml but its name (DATABASE_PASSWORD) says secret; move it to a secret (e.g. launchgate:appSecrets + apps[].secretEnv, `pulumi config set --secret`).",
    ]);
    assert.match(msg("[0].env.PAYMENTS", "sk_live_51Habcdefghijklmnop")[0]!, /holds a Stripe secret key/);
    assert.match(
      msg("[0].env.UPSTREAM", "Zx8pQ2vL9mW4tR7yB3nK6cJ1")[0]!,
      /looks like a generated credential/,
    );
    assert.deepEqual(msg("[0].env.LOG_LEVEL", "info"), []);
    assert.deepEqual(msg("[0].image", `ghcr.io/x/api@sha256:${"a".repeat(64)}`), []);
  });
});

describe("dataRetained", () => {
  const volume = (name: string, kind: string, retainOnDelete: boolean) =>
    res(name, {
      type: "docker:index/volume:Volume",
      retainOnDelete,
      inputs: { labels: [{ label: "launchgate.data", value: kind }] },
    });
  it("passes retained data volumes and unretained regenerable ones", () => {
    assert.deepEqual(
      dataRetained([volume("postgres-data", "postgres", true), volume("proxy-conf", "proxy-config", false)]),
      [],
    );
  });
  it("flags a data volume or database not retained on delete", () => {
    const db = res("postgres-blazetv", { type: "postgresql:index/database:Database" });
    assert.deepEqual(
      dataRetained([volume("redis-queue-data", "redis-queue", false), db]).map((f) => f.message),
      [
        "docker:index/volume:Volume redis-queue-data holds data but is not retained on delete; add { retainOnDelete: true } so `pulumi destroy` or a replacement cannot drop it.",
        "postgresql:index/database:Database postgres-blazetv holds data but is not retained on delete; add { retainOnDelete: true } so `pulumi destroy` or a replacement cannot drop it.",
      ],
    );
  });
});

describe("upstreamDrain", () => {
  const conf = (valid: string) =>
    `resolver 127.0.0.11${valid} ipv6=off;\nlocation / { set $u api:3000; proxy_pass http://$u; }\nlisten 127.0.0.1:8081;`;
  const proxy = (valid = " valid=2s") =>
    res("proxy", {
      inputs: {
        labels: [{ label: "launchgate.role", value: "proxy" }],
        uploads: [{ file: "/etc/nginx/nginx.conf", content: conf(valid) }, { content: SECRET("key") }],
      },
    });
  const api = res("app-api", {
    inputs: { name: "api-1a2b", networksAdvanced: [{ name: "edge", aliases: ["api"] }] },
  });
  const worker = res("app-worker", {
    inputs: { name: "worker-9f", networksAdvanced: [{ name: "internal" }] },
  });
  const drain = (seconds: number, dependsOn = api.urn) =>
    res("app-api-drain", {
      type: "command:local:Command",
      dependencies: [dependsOn],
      inputs: { delete: `sleep ${seconds}`, triggers: ["api-1a2b", "launchgate.role=drain"] },
    });
  const messages = (rs: RecordedResource[]) => upstreamDrain(rs).map((f) => f.message);
  it("passes when every upstream container drains longer than the resolver validity + 1 s", () => {
    assert.deepEqual(messages([proxy(), api, worker, drain(4)]), []);
  });
  it("refuses an upstream without a drain, one too short, or one that waits for another container", () => {
    const fix =
      "give it a drain longer than 3 s (AppService drainSeconds) so requests never reach a container that is gone.";
    assert.deepEqual(messages([proxy(), api, worker]), [
      `docker:index/container:Container app-api: the proxy proxy keeps its address for 2 s (resolver valid=2s) but a replaced container is stopped without a drain; ${fix}`,
    ]);
    assert.deepEqual(messages([proxy(), api, drain(3)]), [
      `docker:index/container:Container app-api: the proxy proxy keeps its address for 2 s (resolver valid=2s) but a replaced container drains only 3 s; ${fix}`,
    ]);
    assert.equal(messages([proxy(), api, drain(9, worker.urn)]).length, 1);
  });
  it("takes Docker's DNS TTL (600 s) when the resolver sets no validity", () => {
    assert.match(
      messages([proxy(""), api, drain(5)])[0]!,
      /keeps its address for 600 s \(resolver valid=unset/,
    );
  });
});
