/**
 * The whole program with `placement: swarm` through the offline checker: the local and staging
 * stacks as 3-node clusters run without program errors and pass the pack; every workload is a
 * docker.Service (no app, data-store or proxy container), a HardenedHost per node, overlays
 * encrypted on staging and clear on local (no IPsec in the sandbox kernel).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { REAL_PROGRAM, check, refusedBy, stopPack, swarmOverrides } from "./support";

after(stopPack);

type Props = Record<string, unknown>;

/** Runs `stack` as a swarm, recording every custom resource's type, name and inputs. */
async function runSwarm(stack: string) {
  const seen: { type: string; name: string; props: Props }[] = [];
  const record: pulumi.ResourceTransformation = (args) => {
    if (!args.type.startsWith("launchgate:"))
      seen.push({ type: args.type, name: args.name, props: args.props });
    return undefined;
  };
  const r = await check({
    stack,
    programPath: REAL_PROGRAM,
    configOverrides: swarmOverrides(),
    transform: record,
  });
  return { r, seen };
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
          ? ["proxy-config-check", "vps-0-container", "vps-1-container", "vps-2-container"]
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
});
