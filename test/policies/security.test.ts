/** Security baseline policies: a compliant resource per policy, then one changed field per violation. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as security from "../../policies/security";
import { TYPES } from "../../policies/lib/resources";
import { ResourceInput, UNKNOWN, runResourcePolicy, runStackPolicy } from "./harness";

const DIGEST = `sha256:${"a".repeat(64)}`;

/** A container that passes every container policy. */
function container(props: Record<string, unknown> = {}, name = "app-api", stack?: string): ResourceInput {
  return {
    type: TYPES.container,
    name,
    stack,
    props: {
      image: `ghcr.io/blazetv/api@${DIGEST}`,
      user: "10001:10001",
      memory: 512,
      restart: "unless-stopped",
      healthcheck: { tests: ["CMD", "curl", "-f", "http://127.0.0.1:3000/health"] },
      capabilities: { drops: ["ALL"] },
      securityOpts: ["no-new-privileges:true"],
      envs: ["NODE_ENV=production"],
      networksAdvanced: [{ name: "net-edge" }, { name: "net-internal" }],
      ...props,
    },
  };
}

const postgres = (props: Record<string, unknown> = {}) =>
  container(
    { image: `postgres@${DIGEST}`, user: "postgres", networksAdvanced: [{ name: "net-internal" }], ...props },
    "postgres",
  );

const remote = (props: Record<string, unknown>, name = "host-sshd"): ResourceInput => ({
  type: TYPES.remoteCommand,
  name,
  props,
});

const network = (name: string, internal: boolean): ResourceInput => ({
  type: TYPES.network,
  name,
  props: { name, internal },
});

describe("container policies", () => {
  const cases: [string, typeof security.containerHealthcheck, Record<string, unknown>, string][] = [
    [
      "no healthcheck",
      security.containerHealthcheck,
      { healthcheck: undefined },
      'no healthcheck; set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]).',
    ],
    [
      "no memory limit",
      security.containerMemoryLimit,
      { memory: 0 },
      "no memory limit; set `memory` (MiB) from the app's `memoryMb`.",
    ],
    [
      "no restart policy",
      security.containerRestartPolicy,
      { restart: undefined },
      'no restart policy; set `restart: "unless-stopped"` (or "no" for one-shot jobs).',
    ],
    [
      "root user",
      security.containerNonRoot,
      { user: "0:0" },
      'runs as "0:0"; set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.rootExceptions.',
    ],
    [
      "image default user",
      security.containerNonRoot,
      { user: undefined },
      `runs as the image's default user; set \`user\` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.rootExceptions.`,
    ],
    [
      "privileged",
      security.containerCapabilitiesDropped,
      { privileged: true },
      "runs privileged; remove `privileged: true`.",
    ],
    [
      "capabilities kept",
      security.containerCapabilitiesDropped,
      { capabilities: { drops: ["NET_RAW"] } },
      'keeps default capabilities; set `capabilities.drops: ["ALL"]` and add back only what is needed.',
    ],
    [
      "no no-new-privileges",
      security.containerCapabilitiesDropped,
      { securityOpts: [] },
      'may gain privileges; add "no-new-privileges:true" to `securityOpts`.',
    ],
  ];
  for (const [what, policy, change, message] of cases) {
    it(`${policy.name}: passes a hardened container, refuses ${what}`, async () => {
      assert.deepEqual(await runResourcePolicy(policy, container()), []);
      assert.deepEqual(await runResourcePolicy(policy, container(change)), [message]);
    });
  }

  it("container-healthcheck: one-shot jobs (restart no) need none", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        security.containerHealthcheck,
        container({ restart: "no", healthcheck: undefined }),
      ),
      [],
    );
  });

  it("container-non-root: an exception documented in the pack config passes, an empty reason does not", async () => {
    const root = container({ user: undefined }, "proxy");
    assert.deepEqual(
      await runResourcePolicy(security.containerNonRoot, root, { rootExceptions: { proxy: "binds 80/443" } }),
      [],
    );
    assert.equal(
      (await runResourcePolicy(security.containerNonRoot, root, { rootExceptions: { proxy: "" } })).length,
      1,
    );
  });

  it("applies only to containers", async () => {
    assert.equal(
      await runResourcePolicy(security.containerHealthcheck, network("net-edge", false)),
      "not-applicable",
    );
  });
});

describe("no-datastore-host-ports", () => {
  it("passes a data store without ports and an app with one", async () => {
    assert.deepEqual(await runResourcePolicy(security.noDatastoreHostPorts, postgres()), []);
    assert.deepEqual(
      await runResourcePolicy(
        security.noDatastoreHostPorts,
        container({ ports: [{ internal: 3000, external: 3000 }] }),
      ),
      [],
    );
  });
  it("refuses a published Postgres or Redis port", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        security.noDatastoreHostPorts,
        postgres({ ports: [{ internal: 5432, external: 5432 }] }),
      ),
      ["postgres publishes host port(s) 5432; remove `ports` — apps reach it on the internal network."],
    );
    const redis = container({ image: `redis@${DIGEST}`, ports: [{ internal: 6379 }] }, "redis-queue");
    assert.deepEqual(await runResourcePolicy(security.noDatastoreHostPorts, redis), [
      "redis publishes host port(s) 6379; remove `ports` — apps reach it on the internal network.",
    ]);
  });
});

describe("datastores-internal-only", () => {
  const nets = [network("net-edge", false), network("net-internal", true)];
  it("passes data stores on the internal network only", async () => {
    assert.deepEqual(
      await runStackPolicy(security.datastoresInternalOnly, [...nets, postgres(), container()]),
      [],
    );
  });
  it("refuses a data store on the edge network or the default bridge", async () => {
    const onEdge = postgres({ networksAdvanced: [{ name: "net-internal" }, { name: "net-edge" }] });
    assert.deepEqual(await runStackPolicy(security.datastoresInternalOnly, [...nets, onEdge]), [
      "postgres container postgres joins net-edge; attach it only to the internal network.",
    ]);
    assert.deepEqual(
      await runStackPolicy(security.datastoresInternalOnly, [...nets, postgres({ networksAdvanced: [] })]),
      ["postgres container postgres joins the default bridge; attach it only to the internal network."],
    );
  });
});

describe("images-pinned", () => {
  it("passes digests everywhere and tags on local", async () => {
    assert.deepEqual(await runResourcePolicy(security.imagesPinned, container()), []);
    assert.deepEqual(
      await runResourcePolicy(
        security.imagesPinned,
        container({ image: "ghcr.io/blazetv/api:1.4.0" }, "app-api", "local"),
      ),
      [],
    );
  });
  it("refuses a tag outside local and :latest or no tag anywhere", async () => {
    assert.deepEqual(
      await runResourcePolicy(security.imagesPinned, container({ image: "ghcr.io/blazetv/api:1.4.0" })),
      [
        'image "ghcr.io/blazetv/api:1.4.0" is pinned by tag only; on production use repo@sha256:<digest> (the digest staging verified).',
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(security.imagesPinned, container({ image: "nginx:latest" }, "proxy", "local")),
      ['image "nginx:latest" floats (:latest or no tag); pin it as repo@sha256:<digest>.'],
    );
    assert.deepEqual(
      await runResourcePolicy(security.imagesPinned, container({ image: "ghcr.io/blazetv/api" })),
      ['image "ghcr.io/blazetv/api" floats (:latest or no tag); pin it as repo@sha256:<digest>.'],
    );
  });
});

describe("no-plaintext-secrets", () => {
  it("passes generated secrets and unknown (computed) env at preview", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        security.noPlaintextSecrets,
        container({ envs: ["DB_PASSWORD=Zk3x9Q7vLw2", UNKNOWN] }),
      ),
      [],
    );
    assert.deepEqual(await runResourcePolicy(security.noPlaintextSecrets, container({ envs: UNKNOWN })), []);
  });
  it("refuses placeholder secret values and URLs with well-known passwords", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        security.noPlaintextSecrets,
        container({ envs: ["POSTGRES_PASSWORD=changeme"] }),
      ),
      [
        "env POSTGRES_PASSWORD has a placeholder value; set it from a random password or a secret config key (pulumi config set --secret).",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(
        security.noPlaintextSecrets,
        remote({ create: "psql postgres://app:password@db/app" }, "seed"),
      ),
      ["a connection URL embeds a well-known password; use a generated secret."],
    );
  });
});

describe("ssh-hardened / ssh-baseline-present", () => {
  const good = remote({
    create: "cat > /etc/ssh/sshd_config.d/10.conf <<EOF\nPermitRootLogin no\nPasswordAuthentication no\nEOF",
  });
  it("passes the hardened sshd step", async () => {
    assert.deepEqual(await runResourcePolicy(security.sshHardened, good), []);
    assert.deepEqual(await runStackPolicy(security.sshBaselinePresent, [good]), []);
  });
  it("refuses root login or password authentication", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        security.sshHardened,
        remote({ create: "PermitRootLogin prohibit-password\nPasswordAuthentication no" }),
      ),
      [
        'sshd config sets "PermitRootLogin prohibit-password"; PermitRootLogin must be `no` (components/host/scripts/sshd.sh).',
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(
        security.sshHardened,
        remote({ create: "PermitRootLogin no\nPasswordAuthentication yes" }),
      ),
      [
        'sshd config sets "PasswordAuthentication yes"; PasswordAuthentication must be `no` (components/host/scripts/sshd.sh).',
      ],
    );
  });
  it("refuses a stack whose host steps never disable root login", async () => {
    assert.deepEqual(
      await runStackPolicy(security.sshBaselinePresent, [
        remote({ create: "apt-get upgrade -y" }, "host-packages"),
      ]),
      [
        "no host step sets `PermitRootLogin no` and `PasswordAuthentication no`; keep the HardenedHost sshd step.",
      ],
    );
  });
});

describe("firewall-ports", () => {
  const fw = (ports: string) =>
    remote({ create: "ufw default deny", environment: { LG_PUBLIC_TCP_PORTS: ports } }, "host-firewall");
  it("passes 22/80/443", async () => {
    assert.deepEqual(await runResourcePolicy(security.firewallPorts, fw("22 80 443")), []);
  });
  it("refuses any other port, from the step's env or a literal ufw rule", async () => {
    assert.deepEqual(await runResourcePolicy(security.firewallPorts, fw("22 80 443 5432")), [
      "firewall opens 5432; open only 22/80/443 (HardenedHost publicTcpPorts).",
    ]);
    assert.deepEqual(
      await runResourcePolicy(security.firewallPorts, remote({ create: "ufw allow 6379/tcp" }, "debug")),
      ["firewall opens 6379; open only 22/80/443 (HardenedHost publicTcpPorts)."],
    );
  });
  it("takes the allowed ports from the pack config", async () => {
    assert.deepEqual(
      await runResourcePolicy(security.firewallPorts, fw("22 80 443 8443"), {
        allowedPorts: [22, 80, 443, 8443],
      }),
      [],
    );
  });
});

describe("proxy-tls", () => {
  const nginx = (conf: string) =>
    container(
      { image: `nginx@${DIGEST}`, uploads: [{ file: "/etc/nginx/nginx.conf", content: conf }] },
      "proxy",
    );
  const HSTS = 'add_header Strict-Transport-Security "max-age=31536000" always;';
  it("passes TLS 1.2+ with HSTS", async () => {
    assert.deepEqual(
      await runResourcePolicy(security.proxyTls, nginx(`ssl_protocols TLSv1.2 TLSv1.3;\n${HSTS}`)),
      [],
    );
  });
  it("refuses TLS 1.0/1.1 and a missing HSTS header", async () => {
    assert.deepEqual(
      await runResourcePolicy(security.proxyTls, nginx(`ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n${HSTS}`)),
      ["nginx allows TLSv1, TLSv1.1; set `ssl_protocols TLSv1.2 TLSv1.3;` (proxy.minTlsVersion)."],
    );
    assert.deepEqual(await runResourcePolicy(security.proxyTls, nginx("ssl_protocols TLSv1.2;")), [
      'nginx config has no HSTS header; add `add_header Strict-Transport-Security "max-age=31536000" always;`.',
    ]);
  });
});
