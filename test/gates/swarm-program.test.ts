/**
 * The whole program with `placement: swarm` through the offline checker: the local and staging
 * stacks as 3-node clusters run without program errors and pass the pack; every workload is a
 * docker.Service (no app, data-store or proxy container), a HardenedHost per node, overlays
 * encrypted on staging and clear on local (no IPsec in the sandbox kernel).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { REAL_PROGRAM, SWARM_HOSTS, check, refusedBy, stopPack, swarmOverrides } from "./support";
import { DELETE_SCOPE_TRIGGER, HOST_STEPS, commandRoleOf } from "../../contract/roles";
import { PIDS_LIMIT_COMMAND_ROLE } from "../../contract/pids-limits";

after(stopPack);

type Props = Record<string, unknown>;

interface Seen {
  type: string;
  name: string;
  props: Props;
  opts: pulumi.CustomResourceOptions;
  resolved?: Promise<Props>;
}

/** Runs `stack` as a swarm, recording every custom resource's type, name, inputs and options. */
async function runSwarm(stack: string, hosts: readonly Props[] = SWARM_HOSTS) {
  const seen: Seen[] = [];
  const byResource = new Map<pulumi.Resource, Seen>();
  const record: pulumi.ResourceTransformation = (args) => {
    if (!args.type.startsWith("launchgate:")) {
      const x: Seen = { type: args.type, name: args.name, props: args.props, opts: args.opts };
      // The inputs as sent (Outputs resolved; unknown at preview stays the engine's sentinel).
      x.resolved = (pulumi.output(args.props) as unknown as { promise(u: boolean): Promise<Props> }).promise(
        true,
      );
      seen.push(x);
      byResource.set(args.resource, x);
    }
    return undefined;
  };
  /** The provider resource a resource was given explicitly (as recorded). */
  const providerOf = (x: Seen) =>
    x.opts.provider ? byResource.get(x.opts.provider as unknown as pulumi.Resource) : undefined;
  const r = await check({
    stack,
    programPath: REAL_PROGRAM,
    configOverrides: { ...swarmOverrides(), hosts },
    transform: record,
  });
  return { r, seen, providerOf };
}

describe("placement swarm: the whole program", () => {
  it("staging: every node must run every hardening step (judged per host, by its connection)", async () => {
    // node-1's auditd step loses its role marker: node-0 and node-2 still have theirs.
    const drop: pulumi.ResourceTransformation = (args) =>
      args.name === "node-1-auditd"
        ? { props: { ...args.props, triggers: ["launchgate.role=not-a-host-step"] }, opts: args.opts }
        : undefined;
    const r = await check({
      stack: "staging",
      programPath: REAL_PROGRAM,
      configOverrides: swarmOverrides(),
      transform: drop,
    });
    const found = r.findings.filter((f) => f.policyName === "host-hardening-present").map((f) => f.message);
    assert.equal(found.length, 1, found.join("\n"));
    assert.ok(
      found[0]!.endsWith(
        "the host 10.0.0.2:22 has no auditd step (role host-auditd); keep it in HardenedHost.",
      ),
      found[0],
    );
  });

  it("staging: every host gets every HardenedHost step and the Swarm firewall, over its own connection and pinned host key", async () => {
    const { r, seen } = await runSwarm("staging");
    assert.deepEqual(r.programErrors, []);
    const remote = seen.filter((x) => x.type === "command:remote:Command");
    const bootstraps = seen.filter(
      (x) => x.type === "command:local:Command" && /^node-\d+-bootstrap$/.test(x.name),
    );
    assert.equal(bootstraps.length, SWARM_HOSTS.length);
    for (const [i, h] of SWARM_HOSTS.entries()) {
      const node = `node-${i}`;
      const steps = remote.filter((x) => x.name.startsWith(`${node}-`));
      assert.deepEqual(
        steps.map((x) => x.name.slice(node.length + 1)),
        HOST_STEPS.slice(1),
        `${node}: every step after the bootstrap, in order`,
      );
      for (const x of [...steps, remote.find((c) => c.name === `swarm-${node}-firewall`)!]) {
        const c = (await x.resolved!).connection as Props;
        assert.equal(c.host, h.address, `${x.name} connects to its own host`);
        assert.equal(c.hostKey, h.hostKey, `${x.name} pins its own host's key`);
      }
      const boot = bootstraps.find((x) => x.name === `${node}-bootstrap`)!;
      const env = (await boot.resolved!).environment as Props;
      assert.equal(env.LG_HOST, h.address);
      assert.equal(env.LG_KNOWN_HOSTS, `${h.address} ${h.hostKey}`);
    }
  });

  it("staging: removing a host leaves every other node's resources as they were (nodes keep their names)", async () => {
    const WORKER = (name: string, address: string) => ({
      name,
      address,
      hostKey: SWARM_HOSTS[2]!.hostKey,
      roles: ["worker"],
    });
    const four = [...SWARM_HOSTS, WORKER("worker-a", "10.0.0.4"), WORKER("worker-b", "10.0.0.5")];
    /** Each remote command's name → the host its connection reaches. */
    const targets = async (hosts: readonly Props[]) => {
      const { r, seen } = await runSwarm("staging", hosts);
      assert.deepEqual(r.programErrors, []);
      const out = new Map<string, string>();
      for (const x of seen.filter((y) => y.type === "command:remote:Command")) {
        const conn = (await x.resolved!).connection as Props;
        out.set(x.name, String(conn.host));
      }
      return out;
    };
    const before = await targets(four);
    const after = await targets(four.filter((h) => h.name !== "worker-a"));
    const gone = [...before.keys()].filter((n) => !after.has(n));
    const added = [...after.keys()].filter((n) => !before.has(n));
    // Not vacuous: worker-a had its own steps, and every one of them (only them) is gone.
    assert.ok(gone.length >= HOST_STEPS.length, gone.join(", "));
    // Its hardening steps (on 10.0.0.4) and its Swarm node step (drain + remove, on a manager).
    assert.deepEqual(
      gone.filter((n) => !n.includes("worker-a")),
      [],
      "only the removed host's commands are deleted",
    );
    assert.ok(gone.includes("swarm-worker-a-node"), "the removed host is drained and removed");
    assert.deepEqual(
      [...after.values()].filter((h) => h === "10.0.0.4"),
      [],
      "nothing reaches the removed host any more",
    );
    assert.deepEqual(added, [], "no node is renamed into new resources");
    for (const [n, host] of after) assert.equal(host, before.get(n), `${n} still reaches ${before.get(n)}`);
  });

  it("staging: each data store's volumes are declared on its own node's engine and its service pinned to that node", async () => {
    // Postgres on node-2 and Redis on node-1: neither on the first manager, which gets the services.
    const placed = [
      { "launchgate.edge": "true" },
      { "launchgate.redis": "true" },
      { "launchgate.postgres": "true" },
    ];
    const hosts = SWARM_HOSTS.map((h, i) => ({ ...h, labels: placed[i] }));
    const { r, seen, providerOf } = await runSwarm("staging", hosts);
    assert.deepEqual(r.programErrors, []);
    assert.deepEqual(refusedBy(r), []);
    const node = (label: string) =>
      hosts.findIndex((h) => (h.labels as Props | undefined)?.[label] === "true");
    const services = seen.filter((x) => x.type === "docker:index/service:Service");
    const volumes = seen.filter((x) => x.type === "docker:index/volume:Volume");
    const stores = [
      { volume: "postgres-data", service: "postgres", at: node("launchgate.postgres") },
      { volume: "redis-queue-data", service: "redis-queue", at: node("launchgate.redis") },
      { volume: "redis-cache-data", service: "redis-cache", at: node("launchgate.redis") },
    ];
    assert.notEqual(stores[0]!.at, stores[1]!.at, "the fixture pins Postgres and Redis to different nodes");
    for (const s of stores) {
      const v = volumes.find((x) => x.name === s.volume)!;
      const provider = providerOf(v);
      assert.ok(provider, `${s.volume}: an explicit docker provider`);
      const p = await provider.resolved!;
      assert.equal(
        p.host,
        `ssh://deployer@${SWARM_HOSTS[s.at]!.address}:22`,
        `${s.volume}: on node-${s.at}'s engine`,
      );
      assert.ok(
        (JSON.stringify(p.sshOpts) ?? "").includes("StrictHostKeyChecking=yes"),
        `${s.volume}: its provider checks the host key`,
      );
      assert.deepEqual(
        ((await v.resolved!).labels as Props[]).find((l) => l.label === "launchgate.node"),
        { label: "launchgate.node", value: `node-${s.at}` },
      );
      assert.equal(v.opts.protect, true, `${s.volume}: protected`);
      assert.equal(v.opts.retainOnDelete, true, `${s.volume}: retained on delete`);
      const svc = services.find((x) => x.name === s.service)!;
      const constraints = (((await svc.resolved!).taskSpec as Props).placement as Props)
        .constraints as string[];
      assert.ok(
        constraints.includes(`node.labels.launchgate.node == node-${s.at}`),
        `${s.service}: ${constraints.join(", ")}`,
      );
    }
    // The known_hosts file the providers read pins every member's key at its address.
    const identity = seen.find((x) => x.name === "deployer-identity-write")!;
    assert.deepEqual(
      String(((await identity.resolved!).environment as Props).KNOWN_HOSTS_LINE).split("\n"),
      SWARM_HOSTS.map((h) => `${h.address} ${h.hostKey}`),
    );
    // Ops for a store on its node: Redis' RDB copies on the Redis node, the full dump on Postgres'.
    const cmd = async (name: string) => (await seen.find((x) => x.name === name)!.resolved)!;
    assert.equal(
      ((await cmd("backups-install")).connection as Props).host,
      SWARM_HOSTS[stores[0]!.at]!.address,
    );
    assert.equal(
      ((await cmd("backups-redis")).connection as Props).host,
      SWARM_HOSTS[stores[1]!.at]!.address,
    );
    const full = String((await cmd("backups-install")).create);
    const redisInstall = String((await cmd("backups-redis")).create);
    assert.match(redisInstall, /launchgate-backup-redis\.timer/);
    assert.match(redisInstall, /redis-queue redis-cache/, "the Redis node copies both instances");
    assert.match(full, /ExecStart=\/usr\/local\/lib\/launchgate\/backup-postgres\.sh full/);
    assert.doesNotMatch(
      full,
      /ExecStart=\S*backup-redis\.sh/,
      "the Postgres node's daily run leaves Redis out",
    );
    assert.doesNotMatch(redisInstall, /LG_DATABASES=|backup-postgres/, "no Postgres dump on the Redis node");
    // PIDs limits (`docker service update`, a manager's command) and one-shot starts (the proxy's
    // config check, a container on the first manager's engine) run on the first manager.
    const pids: Seen[] = [];
    for (const x of seen.filter((c) => c.type === "command:remote:Command"))
      if (commandRoleOf((await x.resolved!).triggers as unknown[]) === PIDS_LIMIT_COMMAND_ROLE) pids.push(x);
    assert.ok(pids.length >= 8, `${pids.length} PIDs-limit commands`);
    for (const x of pids)
      assert.equal(
        ((await x.resolved!).connection as Props).host,
        SWARM_HOSTS[0]!.address,
        `${x.name} on the first manager`,
      );
  });

  for (const stack of ["local", "staging"]) {
    it(`${stack}: runs, passes, and renders every workload as a docker.Service`, async () => {
      const { r, seen } = await runSwarm(stack);
      assert.deepEqual(r.programErrors, []);
      assert.deepEqual(refusedBy(r), []);
      const services = seen.filter((x) => x.type === "docker:index/service:Service").map((x) => x.name);
      assert.deepEqual(services.sort(), [
        "app-admin",
        "app-api",
        "app-worker",
        "postgres",
        "postgres-pgbouncer",
        "proxy",
        "redis-cache",
        "redis-queue",
      ]);
      // Only the proxy's one-shot `nginx -t` job (and the local VPS containers) remain containers.
      const containers = seen.filter((x) => x.type === "docker:index/container:Container").map((x) => x.name);
      assert.deepEqual(
        containers.sort(),
        stack === "local"
          ? ["proxy-config-check", "vps-node-0-container", "vps-node-1-container", "vps-node-2-container"]
          : ["proxy-config-check"],
      );
      const hosts = new Set(
        seen
          .filter((x) => x.type === "command:remote:Command")
          .map((x) => x.name.split("-")[0] + "-" + x.name.split("-")[1]),
      );
      for (const n of ["node-0", "node-1", "node-2"]) assert.ok(hosts.has(n), `HardenedHost steps on ${n}`);
      // The cluster forms before any service: init, the token, joins and node settings.
      const commands = seen.filter((x) => x.type === "command:remote:Command").map((x) => x.name);
      for (const c of [
        "swarm-init",
        "swarm-join-token",
        "swarm-node-1-join",
        "swarm-node-2-join",
        "swarm-node-2-node",
        // The api's migration as a Swarm job on a manager; the DB admin network on Postgres' node.
        "app-api-migrate",
        "net-db-admin-config-0",
        "net-db-admin",
      ])
        assert.ok(commands.includes(c), c);
      const overlays = seen.filter((x) => x.type === "docker:index/network:Network");
      assert.equal(overlays.length, 2);
      for (const o of overlays) {
        assert.equal(o.props.driver, "overlay");
        assert.deepEqual(o.props.options, stack === "local" ? {} : { encrypted: "true" });
      }
      const secrets = seen.filter((x) => x.type === "docker:index/secret:Secret").map((x) => x.name);
      assert.ok(secrets.includes("app-api-secret-database-url"), secrets.join(", "));
      assert.ok(secrets.includes("postgres-secret-postgres-password"));
    });
  }

  for (const stack of ["local", "staging", "production"]) {
    it(`${stack}: every command with a delete script replaces delete-first or is scoped to its version (DESIGN §2)`, async () => {
      // Generic: whichever commands the swarm program declares (joins, node settings, the DB
      // admin network, backups, monitoring, identity files, tunnels, drains) — a create-first
      // replacement would run the old delete after the new create (issue 12).
      const { r, seen } = await runSwarm(stack);
      assert.deepEqual(r.programErrors, []);
      const withDelete: { name: string; dbr: boolean; triggers: unknown[]; del: unknown }[] = [];
      for (const x of seen.filter((c) => /^command:(local|remote):Command$/.test(c.type))) {
        const props = await x.resolved!;
        if (props.delete !== undefined)
          withDelete.push({
            name: x.name,
            dbr: x.opts.deleteBeforeReplace === true,
            triggers: (props.triggers as unknown[] | undefined) ?? [],
            del: props.delete,
          });
      }
      for (const n of [
        "swarm-node-1-join",
        "backups-install",
        "monitoring-install",
        "deployer-identity-write",
      ])
        assert.ok(
          withDelete.some((c) => c.name === n),
          `${stack}: ${n} has a delete (${withDelete.map((c) => c.name).join(", ")})`,
        );
      const createFirst = withDelete.filter((c) => !c.dbr && !c.triggers.includes(DELETE_SCOPE_TRIGGER));
      assert.deepEqual(
        createFirst.map((c) => c.name),
        [],
        `${stack}: replaced create-first although they delete`,
      );
      for (const c of withDelete.filter((x) => !x.dbr))
        assert.match(String(c.del), /^sleep \d+$/, `${stack}: ${c.name}: a scoped delete only waits`);
      assert.deepEqual(
        r.findings.filter((f) => f.policyName === "command-delete-replacement").map((f) => f.message),
        [],
        `${stack}: the pack agrees`,
      );
    });
  }
});
