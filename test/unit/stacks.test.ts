/**
 * The whole program per stack under the mock runtime (the checker's recorder): every component
 * is declared, with the counts and key inputs each stack kind must have, and every managed
 * resource waits for the release gate.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as path from "node:path";
import { gateFirst, upstreamDrain } from "../../tools/checker/program-checks";
import { DELETE_SCOPE_TRIGGER, commandRoleOf } from "../../contract/roles";
import { RESOLVER_VALID_SECONDS, UPSTREAM_DRAIN_SECONDS } from "../../components/edge/Proxy";
import { RecordedResource, runProgram } from "../../tools/checker/record";
import { loadStackConfig } from "../../tools/checker/stack-config";
import { readStackFile } from "../../stacks/stack-file";

const ROOT = path.join(__dirname, "..", "..");
const STACKS = ["local", "staging", "production"] as const;
type Stack = (typeof STACKS)[number];

const runs = new Map<Stack, RecordedResource[]>();

before(async () => {
  for (const stack of STACKS) {
    const result = await runProgram({
      programPath: path.join(ROOT, "index.ts"),
      projectDir: ROOT,
      stack,
      config: loadStackConfig(ROOT, stack),
      preview: true,
    });
    assert.deepEqual(result.errors, [], `${stack}: program errors`);
    runs.set(stack, result.resources);
  }
});

const of = (stack: Stack, type: string) => runs.get(stack)!.filter((r) => r.type === type);
const count = (stack: Stack, type: string) => of(stack, type).length;
const named = (stack: Stack, type: string, name: string) => {
  const r = of(stack, type).find((x) => x.name === name);
  assert.ok(
    r,
    `${stack}: no ${type} named ${name} (have ${of(stack, type)
      .map((x) => x.name)
      .join(", ")})`,
  );
  return r;
};

/** Components every stack declares, with how many of each. */
const COMMON_COMPONENTS: Record<string, number> = {
  "launchgate:release:Release": 1,
  "launchgate:host:HardenedHost": 1,
  "launchgate:network:Network": 1,
  "launchgate:data:Postgres": 1,
  "launchgate:data:PostgresAdminTunnel": 1,
  "launchgate:data:Redis": 2,
  "launchgate:app:AppService": 3,
  "launchgate:edge:Proxy": 1,
  "launchgate:ops:Backups": 1,
  "launchgate:ops:Monitoring": 1,
};

describe("every stack declares the full deployment", () => {
  for (const stack of STACKS) {
    test(`${stack}: component counts`, () => {
      for (const [type, n] of Object.entries(COMMON_COMPONENTS))
        assert.equal(count(stack, type), n, `${stack}: ${type}`);
      const cloud = stack !== "local";
      assert.equal(count(stack, "launchgate:host:LocalVps"), cloud ? 0 : 1);
      assert.equal(count(stack, "launchgate:edge:InternalCa"), cloud ? 0 : 1);
      assert.equal(count(stack, "launchgate:edge:OriginCertificate"), cloud ? 1 : 0);
      assert.equal(count(stack, "launchgate:edge:Dns"), cloud ? 1 : 0);
      // domain + api + admin records; five zone TLS settings.
      assert.equal(count(stack, "cloudflare:index/dnsRecord:DnsRecord"), cloud ? 3 : 0);
      assert.equal(count(stack, "cloudflare:index/zoneSetting:ZoneSetting"), cloud ? 6 : 0);
    });

    test(`${stack}: every command with a delete script is replaced delete-first or scoped to its version (DESIGN §2)`, () => {
      // Create-first replacement runs the old version's delete after the new create, which
      // removes what the new one just installed (issue 12: backups vanished on update).
      const withDelete = runs
        .get(stack)!
        .filter((r) => /^command:(local|remote):Command$/.test(r.type) && r.inputs.delete !== undefined);
      assert.ok(withDelete.length >= 3, `${stack}: commands with delete: ${withDelete.map((r) => r.name)}`);
      const scoped = (r: RecordedResource) =>
        (r.inputs.triggers as unknown[] | undefined)?.includes(DELETE_SCOPE_TRIGGER) === true;
      const createFirst = withDelete.filter((r) => r.deleteBeforeReplace !== true && !scoped(r));
      assert.deepEqual(
        createFirst.map((r) => r.name),
        [],
        `${stack}: replaced create-first although they delete`,
      );
      // The scoped ones are the drain steps: their delete only waits.
      for (const r of withDelete.filter(scoped))
        assert.match(String(r.inputs.delete), /^sleep \d+$/, `${stack}: ${r.name} delete`);
    });

    test(`${stack}: no command's delete removes a file another command on the same host installs`, () => {
      // Delete-first only protects a command from its own old delete; a sibling replaced alone
      // (e.g. the drill after its script changed) would still remove what another one installed
      // and keeps (issue 12: an update never deletes what is in use).
      const owners = new Map<string, string>();
      const clashes: string[] = [];
      const installers = runs
        .get(stack)!
        .filter((r) => /^command:(local|remote):Command$/.test(r.type) && r.inputs.delete !== undefined)
        .map((r) => ({ r, paths: /^export LG_PATHS='([^']*)'$/m.exec(String(r.inputs.delete))?.[1] }))
        .filter((x) => x.paths !== undefined);
      assert.ok(installers.length >= 3, `${stack}: installers with LG_PATHS: ${installers.length}`);
      for (const { r, paths } of installers) {
        const c = (r.inputs.connection as { value?: { host?: string; port?: number } } | undefined)?.value;
        const host = `${c?.host ?? "local"}:${c?.port ?? ""}`;
        for (const p of paths!.split(" ").filter(Boolean)) {
          const other = owners.get(`${host} ${p}`);
          if (other !== undefined && other !== r.name) clashes.push(`${p}: ${other} and ${r.name}`);
          owners.set(`${host} ${p}`, r.name);
        }
      }
      assert.deepEqual(clashes, [], `${stack}: files removed by more than one command`);
    });

    test(`${stack}: every container the proxy forwards to drains longer than the proxy caches its address`, () => {
      const run = runs.get(stack)!;
      assert.ok(UPSTREAM_DRAIN_SECONDS > RESOLVER_VALID_SECONDS + 1);
      assert.deepEqual(upstreamDrain(run), []);
      // Not vacuous: without the drain steps, every routed app's container is reported.
      const drains = run.filter((r) => commandRoleOf(r.inputs.triggers as unknown[]) === "drain");
      assert.ok(drains.length >= 1, `${stack}: drain steps`);
      const without = upstreamDrain(run.filter((r) => !drains.includes(r)));
      assert.deepEqual(
        without.map((f) => f.urn.split("::").pop()).sort(),
        drains.map((d) => d.name.replace(/-drain$/, "")).sort(),
      );
    });

    test(`${stack}: the release gate comes first and everything waits for it`, () => {
      assert.deepEqual(gateFirst(runs.get(stack)!), []);
    });

    test(`${stack}: only the proxy publishes host ports, data stores sit on the internal network`, () => {
      const containers = of(stack, "docker:index/container:Container");
      const publishing = containers.filter((c) => Array.isArray(c.inputs.ports) && c.inputs.ports.length > 0);
      const allowed = stack === "local" ? ["vps-container", "proxy"] : ["proxy"];
      assert.deepEqual(
        publishing.map((c) => c.name).sort(),
        allowed.sort(),
        `${stack}: containers publishing ports`,
      );
      const pg = containers.find((c) => c.parent.includes("launchgate:data:Postgres"));
      assert.ok(pg, "postgres container");
      const nets = (pg.inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
      assert.equal(nets.length, 1, "postgres joins only the internal network");
    });

    test(`${stack}: app images are exactly the configured ones`, () => {
      const cfg = loadStackConfig(ROOT, stack).config;
      const apps = JSON.parse(cfg["launchgate:apps"]!) as { name: string; image: string }[];
      const images = of(stack, "docker:index/container:Container").map((c) => c.inputs.image);
      for (const app of apps)
        assert.ok(images.includes(app.image), `${stack}: ${app.name} runs ${app.image}`);
      if (stack !== "local") for (const app of apps) assert.match(app.image, /@sha256:[a-f0-9]{64}$/);
    });
  }

  test("hardening steps are the same on every stack (what local proves holds for production)", () => {
    const steps = (s: Stack) =>
      of(s, "command:remote:Command")
        .filter((c) => c.parent.includes("launchgate:host:HardenedHost"))
        .map((c) => c.name);
    assert.ok(steps("local").length >= 8, `hardening steps: ${steps("local").join(", ")}`);
    assert.deepEqual(steps("staging"), steps("local"));
    assert.deepEqual(steps("production"), steps("local"));
  });

  test("stateful resources are protected on every stack", () => {
    for (const stack of STACKS) {
      const volumes = of(stack, "docker:index/volume:Volume").filter((v) =>
        /launchgate:data:(Postgres|Redis)/.test(v.parent),
      );
      assert.ok(volumes.length >= 3, `${stack}: data volumes`);
      for (const v of volumes)
        assert.ok(v.protect && v.retainOnDelete, `${stack}: volume ${v.name} protected`);
      const dbs = of(stack, "postgresql:index/database:Database");
      assert.equal(dbs.length, 1);
      assert.ok(dbs[0]!.protect, `${stack}: database protected`);
    }
  });

  test("the production gate carries the release manifest", () => {
    const gate = named("production", "command:local:Command", "release-gate");
    assert.equal(
      gate.index,
      Math.min(
        ...runs
          .get("production")!
          .filter((r) => r.custom && !r.read)
          .map((r) => r.index),
      ),
    );
  });
});

describe("host keys are pinned on every connection (host.hostKey)", () => {
  test("staging as shipped: the tunnel's known_hosts line, the docker provider strict against the stack's file", async () => {
    const key = (readStackFile(ROOT, "staging").values.host as { hostKey: string }).hostKey;
    const env = named("staging", "command:local:Command", "pg-admin-forward").inputs.environment as Record<
      string,
      string
    >;
    assert.equal(env.KNOWN_HOSTS_LINE, `203.0.113.20 ${key}`);
    const provider = named("staging", "pulumi:providers:docker", "vps-docker").inputs;
    // Provider config is JSON-encoded in the registration.
    const raw = provider.sshOpts;
    const opts = (typeof raw === "string" ? (JSON.parse(raw) as string[]) : (raw as string[])).join(" ");
    assert.match(
      opts,
      /-o UserKnownHostsFile=\.launchgate\/staging\/known_hosts -o StrictHostKeyChecking=yes/,
    );
    const identity = named("staging", "command:local:Command", "deployer-identity-write").inputs
      .environment as Record<string, string>;
    assert.equal(identity.KNOWN_HOSTS_PATH, ".launchgate/staging/known_hosts");
    assert.equal(identity.KNOWN_HOSTS_LINE, `203.0.113.20 ${key}`);
  });
  test("local: the disposable VPS's host key is generated and provisioned before first boot", () => {
    const vps = named("local", "docker:index/container:Container", "vps-container").inputs;
    const uploads = (vps.uploads as { file: string; permissions?: string }[]).map((u) => [
      u.file,
      u.permissions,
    ]);
    assert.deepEqual(uploads.slice(1), [
      ["/etc/ssh/ssh_host_ed25519_key", "0600"],
      ["/etc/ssh/ssh_host_ed25519_key.pub", "0644"],
    ]);
    assert.ok(of("local", "tls:index/privateKey:PrivateKey").some((k) => k.name === "vps-host-key"));
  });
});
