/**
 * The container policies on Swarm services: a service's task template is checked like a container
 * (placement `swarm` renders the same spec as a `docker.Service`), one changed property per
 * violation with the exact message; plus `encrypted-overlays` and data-store networks by the
 * service's recorded property dependencies.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as c from "../../policies/containers";
import { TYPES } from "../../policies/lib/resources";
import { ResourceInput, runResourcePolicy, runStackPolicy, UNKNOWN } from "./harness";
import { pidsLimitCommand, servicePidsLimitCommand } from "../../contract/pids-limits";

const DIGEST = `sha256:${"b".repeat(64)}`;
type Props = Record<string, unknown>;

const ROLE = (role: string) => ({ label: "launchgate.role", value: role });
const NNP = { label: "launchgate.no-new-privileges", value: "daemon" };

/** An app service as components/app/workload.ts renders AppService's spec (inputs, resolved). */
function appService(spec: Props = {}, task: Props = {}, service: Props = {}): Props {
  return {
    name: "api",
    labels: [ROLE("app"), NNP],
    taskSpec: {
      containerSpec: {
        image: `ghcr.io/acme/api@${DIGEST}`,
        user: "10001:10001",
        capDrops: ["ALL"],
        readOnly: true,
        env: { PORT: "3000", DATABASE_URL_FILE: "/run/secrets/DATABASE_URL" },
        healthcheck: { tests: ["CMD", "node", "-e", "…"], interval: "1s" },
        labels: [ROLE("app"), { label: "launchgate.release", value: UNKNOWN }, NNP],
        secrets: [{ secretId: UNKNOWN, fileName: "DATABASE_URL", fileUid: "10001", fileMode: 0o400 }],
        ...spec,
      },
      resources: { limits: { memoryBytes: 512 * 1024 ** 2, nanoCpus: 1e9 } },
      restartPolicy: { condition: "any", delay: "5s" },
      logDriver: { name: "json-file", options: { "max-size": "10m", "max-file": "5" } },
      networksAdvanceds: [{ id: UNKNOWN, aliases: ["api"] }],
      placement: { constraints: [], maxReplicas: 1 },
      ...task,
    },
    mode: { replicated: { replicas: 2 } },
    updateConfig: { order: "start-first", failureAction: "rollback", monitor: "30s" },
    endpointSpec: { mode: "dnsrr" },
    ...service,
  };
}
const svc = (props: Props, name = "app-api", stack?: string): ResourceInput => ({
  type: TYPES.service,
  name,
  props,
  stack,
});
const SPEC = (appService().taskSpec as Props).containerSpec as Props;
const TASK = appService().taskSpec as Props;

const RESOURCE_POLICIES = c.containerPolicies.filter(
  (p) => "validateResource" in p && p !== c.overlaysEncrypted && p !== c.swarmJobsHardened,
);

describe("container policies on Swarm services: a compliant task template passes every policy", () => {
  const compliant: [string, Props][] = [
    ["app", appService()],
    [
      "proxy (global, host-mode ports, nginx's caps)",
      appService(
        {
          user: undefined,
          capAdds: ["NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN"],
          labels: [ROLE("proxy"), NNP],
        },
        {},
        {
          mode: { global: true },
          endpointSpec: {
            mode: "dnsrr",
            ports: [{ targetPort: 443, publishedPort: 443, publishMode: "host", protocol: "tcp" }],
          },
        },
      ),
    ],
    ["datastore", appService({ user: "postgres", labels: [ROLE("datastore"), NNP] })],
  ];
  for (const [what, props] of compliant) {
    it(what, async () => {
      for (const p of RESOURCE_POLICIES) {
        const name = what.startsWith("proxy") ? "proxy" : "app-api";
        const config = p.name === "container-non-root" ? { exceptions: { proxy: "nginx master" } } : {};
        assert.deepEqual(await runResourcePolicy(p as never, svc(props, name), config), [], p.name);
      }
    });
  }
});

/** [policy, what changed, props, exact messages]. */
const VIOLATIONS: [keyof typeof c, string, Props, string[]][] = [
  [
    "containerCapabilities",
    "default caps kept",
    appService({ capDrops: [] }),
    ['keeps the default capabilities; set `capabilities.drops: ["ALL"]` (CIS 5.4).'],
  ],
  [
    "containerCapabilities",
    "app adds NET_ADMIN",
    appService({ capAdds: ["CAP_NET_ADMIN"] }),
    ["app container adds NET_ADMIN; a app may add only nothing (CIS 5.4)."],
  ],
  [
    "containerNoNewPrivileges",
    "no daemon-default marker",
    appService({ labels: [ROLE("app")] }),
    ['may gain privileges; add "no-new-privileges:true" to `securityOpts` (CIS 5.26).'],
  ],
  [
    "containerReadOnlyRoot",
    "writable root",
    appService({ readOnly: false }),
    ["root filesystem is writable; set `readOnly: true` with tmpfs for writable paths (CIS 5.13)."],
  ],
  [
    "containerMemoryLimit",
    "no memory limit",
    appService({}, { resources: { limits: { nanoCpus: 1e9 } } }),
    ["no memory limit; set `memory` (MiB) from the app's `memoryMb` (CIS 5.11)."],
  ],
  [
    "containerCpuLimit",
    "no CPU limit",
    appService({}, { resources: { limits: { memoryBytes: 1024 ** 3 } } }),
    ["no CPU limit; set `cpus` (CIS 5.12)."],
  ],
  [
    "containerRestartPolicy",
    "a long-running app that never restarts",
    appService({}, { restartPolicy: { condition: "none" } }),
    [
      'app container has restart policy "no"; set `restart: "unless-stopped"` (only the job and migration roles run once).',
    ],
  ],
  [
    "containerRestartPolicy",
    "on-failure without a cap",
    appService({}, { restartPolicy: { condition: "on-failure" } }),
    [
      'service task restarts only on on-failure; a Swarm service restarts on any exit without a cap (`restartPolicy: { condition: "any" }`, paced by `delay`), or it stays down after a crash.',
    ],
  ],
  [
    "containerHealthcheck",
    "no healthcheck",
    appService({ healthcheck: undefined }),
    [
      'app container has no healthcheck; set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]) (CIS 5.27).',
    ],
  ],
  [
    "containerPorts",
    "an app publishing a port",
    appService({}, {}, { endpointSpec: { ports: [{ targetPort: 3000, publishedPort: 3000 }] } }),
    ["app container publishes host port(s) 3000; remove `ports` — only proxy/vps publish (CIS 5.9)."],
  ],
  [
    "containerHostMounts",
    "the docker socket bind-mounted",
    appService({ mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/s" }] }),
    ["mounts the Docker socket /var/run/docker.sock; remove it — it is root on the host (CIS 5.32)."],
  ],
  [
    "containerNonRoot",
    "root user",
    appService({ user: "0:0" }),
    [
      'runs as "0:0"; set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.exceptions.',
    ],
  ],
  [
    "containerNoSshd",
    "sshd as the command",
    appService({ commands: ["/usr/sbin/sshd"], args: ["-D"] }),
    ["runs sshd; remove it — use `docker exec` over the host's SSH (CIS 5.7)."],
  ],
  [
    "containerDefaultBridge",
    "no network",
    appService({}, { networksAdvanceds: [] }),
    ["joins the default bridge (no `networksAdvanced`); attach it to a project network (CIS 5.30)."],
  ],
  [
    "containerLogging",
    "json-file logs without rotation",
    appService({}, { logDriver: { name: "json-file", options: {} } }),
    ['json-file log has no max-size; set logOpts max-size (e.g. "10m") and max-file (LOG_OPTS).'],
  ],
  [
    "containerSysctls",
    "an app setting a sysctl",
    appService({ sysctl: { "net.ipv4.ip_forward": "1" } }),
    [
      "app container sets sysctls net.ipv4.ip_forward; remove them (no kernel parameter is allowed for this role).",
    ],
  ],
  [
    "imagesPinned",
    "a floating image",
    appService({ image: "ghcr.io/acme/api:latest" }),
    ['image "ghcr.io/acme/api:latest" floats (:latest or no tag); pin it as repo@sha256:<digest>.'],
  ],
  [
    "imagesPinned",
    "tag-only outside local",
    appService({ image: "ghcr.io/acme/api:1.4.0" }),
    [
      'image "ghcr.io/acme/api:1.4.0" is pinned by tag only; on production use repo@sha256:<digest> (the digest staging verified).',
    ],
  ],
];

describe("container policies on Swarm services: one change, one exact message", () => {
  for (const [policy, what, props, messages] of VIOLATIONS) {
    it(`${String(policy)}: ${what}`, async () => {
      assert.deepEqual(await runResourcePolicy(c[policy] as never, svc(props)), messages);
    });
  }
  it("an unmarked task template gets the strictest rules (no capability allowed)", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        c.containerCapabilities,
        svc(appService({ labels: [NNP], capAdds: ["CHOWN"] })),
      ),
      ["unmarked container adds CHOWN; a unmarked may add only nothing (CIS 5.4)."],
    );
  });
  it("the fixtures above start from the compliant template", () => {
    assert.equal(SPEC.readOnly, true);
    assert.deepEqual(TASK.restartPolicy, { condition: "any", delay: "5s" });
  });
});

describe("encrypted-overlays", () => {
  const overlay = (options: Props | undefined, stack = "production"): ResourceInput => ({
    type: TYPES.network,
    name: "net-internal",
    stack,
    props: { name: "net-internal", driver: "overlay", internal: true, ...(options ? { options } : {}) },
  });
  it("passes an encrypted overlay on production", async () => {
    assert.deepEqual(await runResourcePolicy(c.overlaysEncrypted, overlay({ encrypted: "true" })), []);
  });
  for (const stack of ["staging", "production"]) {
    it(`refuses a clear overlay on ${stack}`, async () => {
      assert.deepEqual(await runResourcePolicy(c.overlaysEncrypted, overlay(undefined, stack)), [
        `overlay network net-internal is not encrypted on ${stack}; set \`options: { encrypted: "true" }\`.`,
      ]);
    });
  }
  it("allows a clear overlay on local (the sandbox kernel has no IPsec)", async () => {
    assert.deepEqual(await runResourcePolicy(c.overlaysEncrypted, overlay(undefined, "local")), []);
  });
  it("ignores bridges", async () => {
    assert.deepEqual(
      await runResourcePolicy(c.overlaysEncrypted, {
        type: TYPES.network,
        name: "net-edge",
        props: { name: "net-edge", driver: "bridge" },
      }),
      [],
    );
  });
});

describe("datastores-internal-only on services (networks by property dependency)", () => {
  const net = (name: string, internal: boolean) => ({
    type: TYPES.network,
    name,
    props: { name, driver: "overlay", internal },
  });
  const store = (networks: string[]) => ({
    type: TYPES.service,
    name: "redis-queue",
    props: appService(
      { labels: [ROLE("datastore"), { label: "launchgate.datastore", value: "redis" }, NNP] },
      { networksAdvanceds: networks.map(() => ({ id: UNKNOWN })) },
    ),
    propertyDependsOn: { taskSpec: networks },
  });
  it("passes a data store on the internal overlay only", async () => {
    assert.deepEqual(
      await runStackPolicy(c.datastoresInternalOnly, [net("net-internal", true), store(["net-internal"])]),
      [],
    );
  });
  it("refuses a data store also on the edge overlay", async () => {
    assert.deepEqual(
      await runStackPolicy(c.datastoresInternalOnly, [
        net("net-internal", true),
        net("net-edge", false),
        store(["net-internal", "net-edge"]),
      ]),
      ["redis service redis-queue joins net-edge; attach it only to the internal network."],
    );
  });
  it("refuses a data store on no network", async () => {
    assert.deepEqual(await runStackPolicy(c.datastoresInternalOnly, [net("net-internal", true), store([])]), [
      "redis service redis-queue joins no network; attach it only to the internal network.",
    ]);
  });
});

describe("container-pids-limit on Swarm services (CIS 5.29)", () => {
  /** A service PIDs-limit command for `service` (resource and service name alike), as `limitPids` declares it. */
  const applier = (
    service: string,
    limit: number,
    create: unknown = servicePidsLimitCommand(limit, service),
  ) => ({
    type: TYPES.remoteCommand,
    name: `${service}-pids-limit`,
    props: {
      create,
      triggers: ["launchgate.role=pids-limit", `launchgate.pids-limit=${limit}`, `${service}-id`, UNKNOWN],
    },
    dependsOn: [service],
    propertyDependsOn: { create: [service], triggers: [service] },
  });
  const api = () => svc(appService(), "api");
  const run = (...rs: Parameters<typeof runStackPolicy>[1]) => runStackPolicy(c.containerPidsLimit, rs);

  it("passes a service with its `docker service update --limit-pids` command, also at preview", async () => {
    assert.deepEqual(await run(api(), applier("api", 256)), []);
    assert.deepEqual(await run(api(), applier("api", 256, UNKNOWN)), []);
  });
  it("refuses a service without one, and one above its role's ceiling", async () => {
    assert.deepEqual(await run(api()), [
      "app Swarm service api has no PIDs limit; apply one with `limitPids` (at most 1024 for role app) (CIS 5.29).",
    ]);
    assert.deepEqual(await run(api(), applier("api", 4096)), [
      "app Swarm service api has PIDs limit 4096, above the 1024 allowed for role app; lower it (CIS 5.29).",
    ]);
  });
  it("refuses a container's `docker update` aimed at a service (it does not reach the service's tasks)", async () => {
    assert.deepEqual(await run(api(), applier("api", 256, pidsLimitCommand(256, "api"))), [
      "pids-limit command api-pids-limit is not `limitPids`'s or `startOneShot`'s (a stated limit, `docker update --pids-limit <n> -- <container>` with its check — and, for a one-shot stated as started, then `docker start --attach` under a timeout — or `docker service update --detach=false --limit-pids <n> -- <service>` with its check, after its target); declare it with `limitPids` or `startOneShot`.",
      "app Swarm service api has no PIDs limit; apply one with `limitPids` (at most 1024 for role app) (CIS 5.29).",
    ]);
  });
});

describe("container policies on a Swarm job (the migration's `docker service create`, issue 10)", () => {
  /** The job command as AppService renders it: the spec in LG_JOB_ARGS, per-release options on stdin. */
  const SPEC = [
    ...["--mode", "replicated-job", "--restart-condition", "none", "--user", "10001:10001", "--read-only"],
    ...["--cap-drop", "ALL", "--limit-memory", "268435456", "--limit-cpu", "1", "--limit-pids", "256"],
    ...["--mount", "type=tmpfs,destination=/tmp,tmpfs-size=67108864,tmpfs-mode=1777"],
    ...["--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=5"],
    ...["--label", "launchgate.role=migration", "--container-label", "launchgate.role=migration"],
    ...["--container-label", "launchgate.no-new-privileges=daemon"],
    ...["ghcr.io/acme/api@sha256:" + "a".repeat(64), "node", "dist/migrate.js"],
  ];
  const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  const job = (spec: string[] = SPEC, line = "", stdin?: string): ResourceInput => ({
    type: TYPES.remoteCommand,
    name: "app-api-migrate",
    props: {
      create: [
        "#!/usr/bin/env bash",
        "# Runs `docker service create --mode replicated-job` on a manager (comment, not a call)",
        `export LG_JOB_ARGS=${q(spec.map(q).join(" "))}`,
        `docker service create ${line}--detach --quiet --name "$name" "\${extra[@]}" "\${args[@]}" >/dev/null`,
      ].join("\n"),
      stdin:
        stdin ??
        `LG_JOB_NAME='api-migrate-1'\nLG_JOB_EXTRA=${q(["--network", "internal-id"].map(q).join(" "))}\n`,
      triggers: ["launchgate.role=migration"],
    },
  });
  /** Each rule's refusals, as swarm-jobs-hardened reports them (`<rule>: <message>`). */
  const refusals = (r: ResourceInput) => runResourcePolicy(c.swarmJobsHardened, r);
  it("the shipped job passes every container policy (as known at preview, and at up)", async () => {
    assert.equal(c.swarmJobView(job().props)?.role, "migration");
    assert.deepEqual(c.swarmJobView(job().props)!.securityOpts, ["no-new-privileges:true"]);
    assert.deepEqual(await refusals(job()), []);
    assert.deepEqual(await refusals({ ...job(), props: { ...job().props, stdin: UNKNOWN } }), []);
  });
  const changed: [string, string[], string, string[]][] = [
    [
      "writable root",
      SPEC.filter((w) => w !== "--read-only"),
      "",
      [
        "container-read-only-root: root filesystem is writable; set `readOnly: true` with tmpfs for writable paths (CIS 5.13).",
      ],
    ],
    [
      "SYS_ADMIN written on the create line",
      SPEC,
      "--cap-add SYS_ADMIN ",
      [
        "container-capabilities: migration container adds SYS_ADMIN; a migration may add only nothing (CIS 5.4).",
      ],
    ],
    [
      "the Docker socket mounted",
      SPEC,
      "--mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock ",
      [
        "container-host-mounts: mounts the Docker socket /var/run/docker.sock; remove it — it is root on the host (CIS 5.32).",
      ],
    ],
    [
      "root user",
      SPEC.map((w) => (w === "10001:10001" ? "0" : w)),
      "",
      [
        'container-non-root: runs as "0"; set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.exceptions.',
      ],
    ],
  ];
  for (const [what, spec, line, want] of changed)
    it(`refuses: ${what}`, async () => {
      assert.deepEqual(await refusals(job(spec, line)), want);
    });
  it("refuses an image by tag", async () => {
    const byTag = SPEC.map((w) => (w.startsWith("ghcr.io/") ? "ghcr.io/acme/api:1.4.0" : w));
    assert.deepEqual(await refusals(job(byTag)), [
      'images-pinned: image "ghcr.io/acme/api:1.4.0" is pinned by tag only; on production use repo@sha256:<digest> (the digest staging verified).',
    ]);
  });
  it("refuses the host network given per release (stdin)", async () => {
    assert.deepEqual(
      await refusals(
        job(SPEC, "", `LG_JOB_NAME='x'\nLG_JOB_EXTRA=${q(["--network", "host"].map(q).join(" "))}\n`),
      ),
      [
        'container-host-namespaces: networkMode "host" shares a network namespace; attach it with `networksAdvanced` instead (CIS 5.10).',
      ],
    );
  });
});
