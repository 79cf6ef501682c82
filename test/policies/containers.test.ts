/**
 * Container runtime policies (CIS Docker Benchmark v1.6 §5): a compliant container per role,
 * then one changed property per violation with the exact message (the pulumi-policy-aws pattern).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as c from "../../policies/containers";
import { TYPES } from "../../policies/lib/resources";
import { PIDS_LIMIT_STARTS_TRIGGER, oneShotStartCommand, pidsLimitCommand } from "../../contract/pids-limits";
import { ResourceInput, StackResourceInput, UNKNOWN, runResourcePolicy, runStackPolicy } from "./harness";

const DIGEST = `sha256:${"b".repeat(64)}`;
type Props = Record<string, unknown>;

/** An app container as AppService declares it. */
const APP: Props = {
  image: `ghcr.io/acme/api@${DIGEST}`,
  user: "10001:10001",
  privileged: false,
  capabilities: { drops: ["ALL"] },
  securityOpts: ["no-new-privileges:true"],
  readOnly: true,
  memory: 512,
  memorySwap: 512,
  cpus: "1",
  restart: "unless-stopped",
  healthcheck: { tests: ["CMD", "node", "-e", "…"] },
  networksAdvanced: [{ name: "net-internal" }],
  labels: [{ label: "launchgate.role", value: "app" }],
};
const container = (props: Props, name = "app-api"): ResourceInput => ({ type: TYPES.container, name, props });
const withRole = (role: string | undefined, more: Props = {}) => ({
  ...APP,
  labels: role ? [{ label: "launchgate.role", value: role }] : [],
  ...more,
});

// encrypted-overlays checks networks, not containers (test/policies/services.test.ts).
const ALL = c.containerPolicies.filter(
  (p) => "validateResource" in p && p !== c.overlaysEncrypted && p !== c.swarmJobsHardened,
);

describe("container policies: compliant containers pass every policy", () => {
  const compliant: [string, Props][] = [
    ["app", APP],
    ["migration job", withRole("migration", { restart: "no", healthcheck: undefined, start: false })],
    [
      "proxy",
      withRole("proxy", {
        capabilities: { drops: ["ALL"], adds: ["NET_BIND_SERVICE"] },
        ports: [{ internal: 443, external: 443 }],
      }),
    ],
    ["datastore", withRole("datastore")],
  ];
  for (const [what, props] of compliant) {
    it(what, async () => {
      for (const p of ALL)
        assert.deepEqual(await runResourcePolicy(p as never, container(props)), [], p.name);
    });
  }
});

/** [policy, what changed, props, exact messages]. */
const VIOLATIONS: [keyof typeof c, string, Props, string[]][] = [
  [
    "containerHostMounts",
    "a sensitive path behind `..`",
    { ...APP, volumes: [{ hostPath: "/srv/../etc", containerPath: "/x" }] },
    ["mounts host path /srv/../etc; mount a named volume instead (CIS 5.6)."],
  ],
  [
    "containerHostMounts",
    "the Docker socket behind doubled slashes",
    { ...APP, volumes: [{ hostPath: "//var/run//docker.sock", containerPath: "/d.sock" }] },
    ["mounts the Docker socket //var/run//docker.sock; remove it — it is root on the host (CIS 5.32)."],
  ],
  [
    "containerLogging",
    "log driver none",
    { ...APP, logDriver: "none" },
    ['log driver "none" drops the container\'s log; use json-file with max-size (LOG_OPTS) or local.'],
  ],
  [
    "containerLogging",
    "log shipped off the host",
    { ...APP, logDriver: "syslog" },
    [
      'log driver "syslog" is not readable with `docker logs` on the host; use json-file with max-size (LOG_OPTS) or local.',
    ],
  ],
  [
    "containerLogging",
    "json-file without max-size",
    { ...APP, logDriver: "json-file", logOpts: { "max-file": "5" } },
    ['json-file log has no max-size; set logOpts max-size (e.g. "10m") and max-file (LOG_OPTS).'],
  ],
  [
    "containerSysctls",
    "a namespaced sysctl",
    { ...APP, sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" } },
    [
      "app container sets sysctls net.ipv4.ip_unprivileged_port_start; remove them (no kernel parameter is allowed for this role).",
    ],
  ],
  [
    "containerReadOnlyRoot",
    "tmpfs mounted exec",
    { ...APP, tmpfs: { "/tmp": "rw,noexec,exec,size=64m" } },
    ['tmpfs /tmp is writable and executable; mount it "noexec" (CIS 5.13).'],
  ],
  [
    "containerSecurityProfiles",
    "another OCI runtime",
    { ...APP, runtime: "kata-unsafe" },
    [
      'runtime "kata-unsafe" is not one that applies the daemon\'s seccomp/AppArmor profiles (runc, runsc); remove it.',
    ],
  ],
  [
    "containerHostNamespaces",
    "attached to the host network",
    { ...APP, networksAdvanced: [{ name: "host" }] },
    ['networkMode "host" shares a network namespace; attach it with `networksAdvanced` instead (CIS 5.10).'],
  ],
  [
    "containerPrivileged",
    "privileged",
    { ...APP, privileged: true },
    ["runs privileged; remove `privileged: true` (CIS 5.5)."],
  ],
  [
    "containerCapabilities",
    "default caps kept",
    { ...APP, capabilities: { drops: [] } },
    ['keeps the default capabilities; set `capabilities.drops: ["ALL"]` (CIS 5.4).'],
  ],
  [
    "containerCapabilities",
    "app adds NET_ADMIN",
    { ...APP, capabilities: { drops: ["ALL"], adds: ["CAP_NET_ADMIN"] } },
    ["app container adds NET_ADMIN; a app may add only nothing (CIS 5.4)."],
  ],
  [
    "containerCapabilities",
    "proxy adds SYS_ADMIN",
    withRole("proxy", { capabilities: { drops: ["ALL"], adds: ["SYS_ADMIN"] } }),
    [
      "proxy container adds SYS_ADMIN; a proxy may add only NET_BIND_SERVICE, SETUID, SETGID, CHOWN (CIS 5.4).",
    ],
  ],
  [
    "containerCapabilities",
    "unmarked adds CHOWN",
    withRole(undefined, { capabilities: { drops: ["ALL"], adds: ["CHOWN"] } }),
    ["unmarked container adds CHOWN; a unmarked may add only nothing (CIS 5.4)."],
  ],
  [
    "containerNoNewPrivileges",
    "no-new-privileges missing",
    { ...APP, securityOpts: [] },
    ['may gain privileges; add "no-new-privileges:true" to `securityOpts` (CIS 5.26).'],
  ],
  [
    "containerSecurityProfiles",
    "seccomp unconfined",
    { ...APP, securityOpts: ["no-new-privileges:true", "seccomp=unconfined"] },
    ['securityOpts "seccomp=unconfined" disables the default seccomp profile; remove it (CIS 5.22).'],
  ],
  [
    "containerSecurityProfiles",
    "apparmor unconfined",
    { ...APP, securityOpts: ["no-new-privileges:true", "apparmor:unconfined"] },
    ['securityOpts "apparmor:unconfined" disables AppArmor; remove it (CIS 5.2).'],
  ],
  [
    "containerSecurityProfiles",
    "SELinux off",
    { ...APP, securityOpts: ["no-new-privileges:true", "label=disable"] },
    ['securityOpts "label=disable" disables SELinux labelling; remove it (CIS 5.3).'],
  ],
  [
    "containerHostNamespaces",
    "host network",
    { ...APP, networkMode: "host" },
    ['networkMode "host" shares a network namespace; attach it with `networksAdvanced` instead (CIS 5.10).'],
  ],
  [
    "containerHostNamespaces",
    "host pid",
    { ...APP, pidMode: "host" },
    ['pidMode "host" shares a PID namespace; remove it (CIS 5.16).'],
  ],
  [
    "containerHostNamespaces",
    "host ipc",
    { ...APP, ipcMode: "host" },
    ['ipcMode "host" shares IPC; remove it or use "private" (CIS 5.17).'],
  ],
  [
    "containerHostNamespaces",
    "host userns",
    { ...APP, usernsMode: "host" },
    ['usernsMode "host" shares the host user namespace; remove it (CIS 5.31).'],
  ],
  [
    "containerHostNamespaces",
    "host cgroupns",
    { ...APP, cgroupnsMode: "host" },
    ['cgroupnsMode "host" shares the host cgroup namespace; use "private".'],
  ],
  [
    "containerDefaultBridge",
    "no networks",
    { ...APP, networksAdvanced: [] },
    ["joins the default bridge (no `networksAdvanced`); attach it to a project network (CIS 5.30)."],
  ],
  [
    "containerDefaultBridge",
    "networkMode bridge",
    { ...APP, networkMode: "bridge" },
    ['networkMode "bridge" is the default bridge; attach it with `networksAdvanced` (CIS 5.30).'],
  ],
  [
    "containerDevices",
    "device",
    { ...APP, devices: [{ hostPath: "/dev/sda" }] },
    ["exposes host devices /dev/sda; remove `devices` (CIS 5.18)."],
  ],
  ["containerDevices", "gpus", { ...APP, gpus: "all" }, ['exposes GPUs ("all"); remove `gpus` (CIS 5.18).']],
  [
    "containerHostMounts",
    "docker socket",
    { ...APP, volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/s" }] },
    ["mounts the Docker socket /var/run/docker.sock; remove it — it is root on the host (CIS 5.32)."],
  ],
  [
    "containerHostMounts",
    "/etc bind mount",
    { ...APP, mounts: [{ type: "bind", source: "/etc", target: "/host-etc" }] },
    ["mounts host path /etc; mount a named volume instead (CIS 5.6)."],
  ],
  [
    "containerHostMounts",
    "shared propagation",
    {
      ...APP,
      mounts: [{ type: "bind", source: "/srv/x", target: "/x", bindOptions: { propagation: "rshared" } }],
    },
    ["mount /x uses rshared propagation; use private (CIS 5.20)."],
  ],
  [
    "containerReadOnlyRoot",
    "writable root",
    { ...APP, readOnly: false },
    ["root filesystem is writable; set `readOnly: true` with tmpfs for writable paths (CIS 5.13)."],
  ],
  [
    "containerMemoryLimit",
    "no memory",
    { ...APP, memory: undefined },
    ["no memory limit; set `memory` (MiB) from the app's `memoryMb` (CIS 5.11)."],
  ],
  [
    "containerMemoryLimit",
    "unlimited swap",
    { ...APP, memorySwap: -1 },
    ["memorySwap -1 lifts the memory limit; set it equal to `memory` (CIS 5.11)."],
  ],
  ["containerCpuLimit", "no cpus", { ...APP, cpus: undefined }, ["no CPU limit; set `cpus` (CIS 5.12)."]],
  [
    "containerRestartPolicy",
    "service declares restart no",
    { ...APP, restart: "no" },
    [
      'app container has restart policy "no"; set `restart: "unless-stopped"` (only the job and migration roles run once).',
    ],
  ],
  [
    "containerRestartPolicy",
    "on-failure unbounded",
    { ...APP, restart: "on-failure" },
    ["on-failure restarts without limit times; set `maxRetryCount` to 5 or less (CIS 5.15)."],
  ],
  [
    "containerRestartPolicy",
    "job restarts",
    withRole("job", { restart: "always", start: false }),
    ['one-shot job container restarts (always); set `restart: "no"`.'],
  ],
  [
    "containerRestartPolicy",
    "a long-running container relabelled job",
    withRole("job", { restart: "no" }),
    [
      'job container is not declared one-shot (`start: false`, started by its PIDs-limit command), so it is a service: restart policy "no"; set `restart: "unless-stopped"`.',
    ],
  ],
  [
    "containerHealthcheck",
    "no healthcheck",
    { ...APP, healthcheck: undefined },
    [
      'app container has no healthcheck; set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]) (CIS 5.27).',
    ],
  ],
  [
    "containerHealthcheck",
    "healthcheck NONE",
    { ...APP, healthcheck: { tests: ["NONE"] } },
    [
      'app container has no healthcheck; set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]) (CIS 5.27).',
    ],
  ],
  [
    "containerPorts",
    "app publishes",
    { ...APP, ports: [{ internal: 3000, external: 3000 }] },
    ["app container publishes host port(s) 3000; remove `ports` — only proxy/vps publish (CIS 5.9)."],
  ],
  [
    "containerPorts",
    "datastore publishes",
    withRole("datastore", { ports: [{ internal: 5432, external: 5432, ip: "127.0.0.1" }] }),
    ["datastore container publishes host port(s) 5432; remove `ports` — only proxy/vps publish (CIS 5.9)."],
  ],
  [
    "containerPorts",
    "proxy publishes 22",
    withRole("proxy", { ports: [{ internal: 22, external: 22 }] }),
    [
      "proxy container publishes port 22 on every interface; a public role publishes only 80, 443 (bind others to 127.0.0.1) (CIS 5.14).",
      "publishes privileged host port 22; only 80, 443 may be (CIS 5.8).",
    ],
  ],
  [
    "containerPorts",
    "publishAllPorts",
    { ...APP, publishAllPorts: true },
    ["publishes every exposed port; remove `publishAllPorts` (CIS 5.9)."],
  ],
  [
    "containerCgroup",
    "cgroupParent",
    { ...APP, cgroupParent: "/system.slice" },
    ['cgroupParent "/system.slice" moves the container out of its own cgroup; remove it (CIS 5.25).'],
  ],
  [
    "containerUlimits",
    "ulimits",
    { ...APP, ulimits: [{ name: "nofile", soft: 1, hard: 1 }] },
    ["overrides ulimits nofile; remove them or document why in the pack config (CIS 5.19)."],
  ],
  [
    "containerNoSshd",
    "sshd",
    { ...APP, command: ["/usr/sbin/sshd", "-D"] },
    ["runs sshd; remove it — use `docker exec` over the host's SSH (CIS 5.7)."],
  ],
  [
    "containerNonRoot",
    "root",
    { ...APP, user: "root" },
    [
      'runs as "root"; set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.exceptions.',
    ],
  ],
  [
    "containerNonRoot",
    "uid 0 written with two zeros",
    { ...APP, user: "00:00" },
    [
      'runs as "00:00"; set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.exceptions.',
    ],
  ],
  [
    "containerNonRoot",
    "the root group",
    { ...APP, user: "10001:0" },
    [
      'runs as "10001:0"; set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.exceptions.',
    ],
  ],
  [
    "containerHealthcheck",
    "a healthcheck that cannot fail",
    { ...APP, healthcheck: { tests: ["CMD-SHELL", "curl -f http://127.0.0.1:3000/health || exit 0"] } },
    [
      'app container\'s healthcheck ["CMD-SHELL","curl -f http://127.0.0.1:3000/health || exit 0"] can never fail, so a hung service reports healthy; probe the service itself (CIS 5.27).',
    ],
  ],
  [
    "containerHealthcheck",
    "a patient probe that ends in exit 0 but can fail on the way passes",
    {
      ...APP,
      healthcheck: {
        tests: [
          "CMD-SHELL",
          'i=0; until pg_isready -q; do i=$((i+1)); [ "$i" -lt 40 ] || exit 1; sleep 0.1; done; exit 0',
        ],
      },
    },
    [],
  ],
  [
    "containerHealthcheck",
    "CMD true",
    { ...APP, healthcheck: { tests: ["CMD", "/bin/true"] } },
    [
      'app container\'s healthcheck ["CMD","/bin/true"] can never fail, so a hung service reports healthy; probe the service itself (CIS 5.27).',
    ],
  ],
  [
    "containerNonRoot",
    "docker group",
    { ...APP, groupAdds: ["docker"] },
    ["joins group(s) docker; remove them from `groupAdds`."],
  ],
  [
    "imagesPinned",
    "tag only",
    { ...APP, image: "ghcr.io/acme/api:1.4.0" },
    [
      'image "ghcr.io/acme/api:1.4.0" is pinned by tag only; on production use repo@sha256:<digest> (the digest staging verified).',
    ],
  ],
  [
    "imagesPinned",
    "latest",
    { ...APP, image: "ghcr.io/acme/api:latest" },
    ['image "ghcr.io/acme/api:latest" floats (:latest or no tag); pin it as repo@sha256:<digest>.'],
  ],
  [
    "vpsLocalOnly",
    "vps on production",
    withRole("vps"),
    ["a vps container on production; LocalVps is for the local stack only."],
  ],
];

describe("container policies: one changed property per violation", () => {
  for (const [policy, what, props, messages] of VIOLATIONS) {
    it(`${String(policy)}: ${what}`, async () => {
      assert.deepEqual(await runResourcePolicy(c[policy] as never, container(props)), messages);
    });
  }
  it("a documented exception (pack config) skips the resource", async () => {
    const props = { ...APP, readOnly: false };
    assert.deepEqual(
      await runResourcePolicy(c.containerReadOnlyRoot, container(props, "proxy"), {
        exceptions: { proxy: "uploads" },
      }),
      [],
    );
    // An empty reason is no exception.
    assert.equal(
      (
        await runResourcePolicy(c.containerReadOnlyRoot, container(props, "proxy"), {
          exceptions: { proxy: " " },
        })
      ).length,
      1,
    );
  });
  it("roles come from the marker, never the name or image: an unmarked postgres image is unmarked", async () => {
    const props = withRole(undefined, { image: `postgres@${DIGEST}`, restart: "no", healthcheck: undefined });
    assert.deepEqual(await runResourcePolicy(c.containerHealthcheck, container(props, "postgres-migrate")), [
      'unmarked container has no healthcheck; set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]) (CIS 5.27).',
    ]);
  });
});

describe("datastores-internal-only", () => {
  const net = (name: string, internal: boolean): ResourceInput => ({
    type: TYPES.network,
    name,
    props: { name, internal },
  });
  const store = (networks: string[]) =>
    container(withRole("datastore", { networksAdvanced: networks.map((name) => ({ name })) }), "redis");
  it("passes a data store on internal networks only", async () => {
    assert.deepEqual(
      await runStackPolicy(c.datastoresInternalOnly, [net("net-internal", true), store(["net-internal"])]),
      [],
    );
  });
  it("refuses a data store on the edge network", async () => {
    assert.deepEqual(
      await runStackPolicy(c.datastoresInternalOnly, [
        net("net-internal", true),
        net("net-edge", false),
        store(["net-internal", "net-edge"]),
      ]),
      ["data store container redis joins net-edge; attach it only to the internal network."],
    );
  });
});

describe("container-pids-limit (CIS 5.29)", () => {
  /** A PIDs-limit command for `container` (resource and docker name alike), as `limitPids` declares it. */
  const applier = (
    container: string,
    limit: number | string,
    more: { create?: unknown; name?: string; dependsOn?: string[] } = {},
  ) => ({
    type: TYPES.remoteCommand,
    name: more.name ?? `${container}-pids-limit`,
    props: {
      create:
        "create" in more
          ? more.create
          : typeof limit === "number"
            ? pidsLimitCommand(limit, container)
            : `docker update --pids-limit ${limit} -- ${container}`,
      triggers: ["launchgate.role=pids-limit", `launchgate.pids-limit=${limit}`, `${container}-id`],
    },
    // As limitPids declares it: waits for other containers too (its component's dependsOn), but its
    // text and id trigger come from its own container.
    dependsOn: more.dependsOn ?? [container],
    propertyDependsOn: (more.dependsOn ? {} : { create: [container], triggers: [container] }) as Record<
      string,
      string[]
    >,
  });
  const named = (role: string | undefined, name: string, more: Props = {}) =>
    container(withRole(role, { name, ...more }), name);
  const run = (...rs: StackResourceInput[]) => runStackPolicy(c.containerPidsLimit, rs);

  /** The starter `startOneShot` declares for a one-shot container created stopped. */
  const starter = (container: string, limit: number) => {
    const a = applier(container, limit, { create: oneShotStartCommand(limit, container, 600) });
    return { ...a, props: { ...a.props, triggers: [...a.props.triggers, PIDS_LIMIT_STARTS_TRIGGER] } };
  };
  const job = (role: string, name: string, more: Props = {}) =>
    named(role, name, { restart: "no", start: false, ...more });

  it("passes each role at its limit, one-shot jobs started by their command under theirs", async () => {
    assert.deepEqual(
      await run(
        named("app", "app-api"),
        applier("app-api", 256),
        named("datastore", "postgres"),
        applier("postgres", 512),
        named("proxy", "proxy"),
        applier("proxy", 128),
        job("migration", "app-api-migrate"),
        starter("app-api-migrate", 256),
        job("job", "proxy-config-check"),
        starter("proxy-config-check", 64),
      ),
      [],
    );
  });
  it("refuses a one-shot job without its limit, or whose limit comes after it started", async () => {
    assert.deepEqual(await run(job("migration", "app-api-migrate")), [
      "migration container app-api-migrate has no PIDs limit; apply one with `startOneShot` (at most 1024 for role migration) (CIS 5.29).",
    ]);
    const STARTS_FIRST = (role: string, n: string) =>
      `${role} container ${n} runs once and starts when created, before a PIDs limit can reach it; create it stopped (\`start: false\`: \`hardened({ kind: "job" })\`) and start it with \`startOneShot\` (CIS 5.29).`;
    // Started on create (attached, as the provider runs it) with a limit applied afterwards.
    assert.deepEqual(
      await run(
        named("job", "proxy-config-check", { restart: "no", attach: true }),
        applier("proxy-config-check", 64),
      ),
      [STARTS_FIRST("job", "proxy-config-check")],
    );
    // Any role that runs once: an unmarked restart-"no" container, an attached app container.
    assert.deepEqual(await run(named(undefined, "seed", { restart: "no" }), applier("seed", 64)), [
      STARTS_FIRST("unmarked", "seed"),
    ]);
    assert.deepEqual(await run(named("app", "warmup", { attach: true }), applier("warmup", 64)), [
      STARTS_FIRST("app", "warmup"),
    ]);
  });
  it("refuses a stopped container its command never starts, and a start form on a started one", async () => {
    assert.deepEqual(await run(job("job", "check"), applier("check", 64)), [
      "job container check is created stopped (`start: false`) and none of its PIDs-limit commands starts it; declare the command with `startOneShot`.",
    ]);
    assert.deepEqual(await run(named("app", "app-api"), starter("app-api", 256)), [
      "app container app-api starts when created, and its PIDs-limit command starts it again (`docker start --attach`); use `limitPids` for a container that starts on create.",
    ]);
    assert.deepEqual(await run(named("app", "app-api", { start: false }), starter("app-api", 256)), [
      'app container app-api is created stopped (`start: false`) but is not a one-shot (restart "unless-stopped"); only one-shot containers are started by their PIDs-limit command.',
    ]);
  });
  it("refuses a starter whose text and triggers disagree on starting the container", async () => {
    const s = starter("check", 64);
    const NOT_OURS_CHECK =
      "pids-limit command check-pids-limit is not `limitPids`'s or `startOneShot`'s (a stated limit, `docker update --pids-limit <n> -- <container>` with its check — and, for a one-shot stated as started, then `docker start --attach` under a timeout — or `docker service update --detach=false --limit-pids <n> -- <service>` with its check, after its target); declare it with `limitPids` or `startOneShot`.";
    const NONE =
      "job container check has no PIDs limit; apply one with `startOneShot` (at most 512 for role job) (CIS 5.29).";
    // Stated as starting, but the text only sets the limit.
    assert.deepEqual(
      await run(job("job", "check"), { ...s, props: { ...s.props, create: pidsLimitCommand(64, "check") } }),
      [NOT_OURS_CHECK, NONE],
    );
    // Starting text without the stated marker.
    assert.deepEqual(await run(job("job", "check"), applier("check", 64, { create: s.props.create })), [
      NOT_OURS_CHECK,
      NONE,
    ]);
    // At preview (text computed) the marker decides.
    assert.deepEqual(await run(job("job", "check"), { ...s, props: { ...s.props, create: UNKNOWN } }), []);
    assert.deepEqual(await run(job("job", "check"), applier("check", 64, { create: UNKNOWN })), [
      "job container check is created stopped (`start: false`) and none of its PIDs-limit commands starts it; declare the command with `startOneShot`.",
    ]);
  });
  it("a job above its role's ceiling is refused like any container", async () => {
    assert.deepEqual(await run(job("job", "check"), starter("check", 4096)), [
      "job container check has PIDs limit 4096, above the 512 allowed for role job; lower it (CIS 5.29).",
    ]);
  });
  it("a job role without one-shot declaration is long-running: it needs its limit too", async () => {
    assert.deepEqual(await run(named("job", "sidecar", { restart: "unless-stopped" })), [
      "job container sidecar has no PIDs limit; apply one with `limitPids` (at most 512 for role job) (CIS 5.29).",
    ]);
  });
  it("at preview: the stated limit and the dependency decide (the command text is computed)", async () => {
    assert.deepEqual(await run(named("app", "app-api"), applier("app-api", 256, { create: UNKNOWN })), []);
    assert.deepEqual(await run(named("app", "app-api"), applier("app-api", 4096, { create: UNKNOWN })), [
      "app container app-api has PIDs limit 4096, above the 1024 allowed for role app; lower it (CIS 5.29).",
    ]);
  });
  it("finds its container by property dependency, not by what it waits for", async () => {
    const r = applier("app-api", 256);
    assert.deepEqual(
      await run(named("datastore", "postgres"), applier("postgres", 512), named("app", "app-api"), {
        ...r,
        dependsOn: ["postgres", "app-api"],
      }),
      [],
    );
  });
  it("refuses a container without its limit (none, or a command for another container)", async () => {
    assert.deepEqual(
      await run(named("app", "app-api"), named("app", "app-admin"), applier("app-admin", 256)),
      [
        "app container app-api has no PIDs limit; apply one with `limitPids` (at most 1024 for role app) (CIS 5.29).",
      ],
    );
    assert.deepEqual(await run(named(undefined, "mystery")), [
      "unmarked container mystery has no PIDs limit; apply one with `limitPids` (at most 128 for role unmarked) (CIS 5.29).",
    ]);
  });
  it("refuses 0 and -1 (unlimited)", async () => {
    assert.deepEqual(await run(named("datastore", "redis-queue"), applier("redis-queue", 0)), [
      "datastore container redis-queue has PIDs limit 0, which is unlimited; set 1–10240 (CIS 5.29).",
    ]);
    assert.deepEqual(await run(named("proxy", "proxy"), applier("proxy", -1)), [
      "proxy container proxy has PIDs limit -1, which is unlimited; set 1–512 (CIS 5.29).",
    ]);
  });
  it("refuses a command that is not limitPids's (a word for a limit, text and trigger disagreeing, no container, another container's name)", async () => {
    const NOT_OURS = (n: string) =>
      `pids-limit command ${n} is not \`limitPids\`'s or \`startOneShot\`'s (a stated limit, \`docker update --pids-limit <n> -- <container>\` with its check — and, for a one-shot stated as started, then \`docker start --attach\` under a timeout — or \`docker service update --detach=false --limit-pids <n> -- <service>\` with its check, after its target); declare it with \`limitPids\` or \`startOneShot\`.`;
    const NO_LIMIT =
      "proxy container proxy has no PIDs limit; apply one with `limitPids` (at most 512 for role proxy) (CIS 5.29).";
    assert.deepEqual(await run(named("proxy", "proxy"), applier("proxy", "unlimited")), [
      NOT_OURS("proxy-pids-limit"),
      NO_LIMIT,
    ]);
    assert.deepEqual(
      await run(named("proxy", "proxy"), applier("proxy", 128, { create: pidsLimitCommand(0, "proxy") })),
      [NOT_OURS("proxy-pids-limit"), NO_LIMIT],
    );
    assert.deepEqual(await run(named("proxy", "proxy"), applier("proxy", 128, { dependsOn: [] })), [
      NOT_OURS("proxy-pids-limit"),
      NO_LIMIT,
    ]);
    assert.deepEqual(
      await run(named("proxy", "proxy"), applier("proxy", 128, { create: pidsLimitCommand(128, "other") })),
      [NOT_OURS("proxy-pids-limit"), NO_LIMIT],
    );
  });
  it("refuses a limit above the role's ceiling (pack config can lower it)", async () => {
    assert.deepEqual(await run(named("app", "app-api"), applier("app-api", 4096)), [
      "app container app-api has PIDs limit 4096, above the 1024 allowed for role app; lower it (CIS 5.29).",
    ]);
    assert.deepEqual(await run(named(undefined, "mystery"), applier("mystery", 256)), [
      "unmarked container mystery has PIDs limit 256, above the 128 allowed for role unmarked; lower it (CIS 5.29).",
    ]);
    assert.deepEqual(
      await runStackPolicy(c.containerPidsLimit, [named("app", "app-api"), applier("app-api", 256)], {
        maxPidsLimits: { app: 100 },
      }),
      ["app container app-api has PIDs limit 256, above the 100 allowed for role app; lower it (CIS 5.29)."],
    );
  });
});
