/**
 * SwarmCluster under mocks: the firewall, init, join-token, join and node commands per node, their
 * order, the scripts hashed into triggers, the join token only ever a secret on stdin, and the
 * delete-first replacement of every command with a delete.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecretInput, recordOptions, Recorder, reveal, settle } from "../support/mocks";
import { SwarmCluster, labelLines, nodeRole, scriptCommand } from "../../components/host/SwarmCluster";
import { unwrap } from "../support/mocks";

const R = "command:remote:Command";
const TOKEN = "SWMTKN-1-secret-token";
const conn = (host: string) => pulumi.secret({ host, port: 22, user: "deployer", privateKey: "KEY" });

/** A command's `create`/`delete` text with the shell quoting of the embedded script undone. */
const text = (name: string, key = "create") =>
  String(reveal(rec.one(R, name).inputs[key]) ?? "").replace(/'\\''/g, "'");

let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;

before(async () => {
  rec = await installMocks("local", {
    state: (r) => {
      if (r.name === "swarm-join-token") return { stdout: `${TOKEN}\n` };
      if (r.name === "swarm-init") return { stdout: "id-0\n" };
      if (r.name.endsWith("-join")) return { stdout: `id-${r.name.split("-")[2]}\n` };
      return { stdout: "" };
    },
  });
  opts = recordOptions();
  new SwarmCluster("swarm", {
    nodes: [
      {
        name: "node-0",
        connection: conn("10.0.0.1"),
        address: "10.0.0.1",
        roles: ["manager"],
        labels: { "launchgate.postgres": "true" },
      },
      { name: "node-1", connection: conn("10.0.0.2"), address: "10.0.0.2", roles: ["manager"], labels: {} },
      {
        name: "node-2",
        connection: conn("10.0.0.3"),
        address: "10.0.0.3",
        roles: ["worker"],
        labels: { zone: "b", "launchgate.edge": "true" },
      },
    ],
  });
  await settle();
});

describe("SwarmCluster", () => {
  test("declares firewall, init, token, joins and node settings", () => {
    assert.deepEqual(
      rec
        .ofType(R)
        .map((r) => r.name)
        .sort(),
      [
        "swarm-init",
        "swarm-join-token",
        "swarm-node-0-firewall",
        "swarm-node-0-node",
        "swarm-node-1-firewall",
        "swarm-node-1-join",
        "swarm-node-1-node",
        "swarm-node-2-firewall",
        "swarm-node-2-join",
        "swarm-node-2-node",
      ],
    );
  });
  test("the firewall opens Swarm ports only to members, 2377 only on managers, as root", () => {
    const fw0 = text("swarm-node-0-firewall");
    assert.match(fw0, /^sudo -n bash -c /);
    assert.match(fw0, /export LG_PEERS='10\.0\.0\.1\n10\.0\.0\.2\n10\.0\.0\.3'/);
    assert.match(fw0, /export LG_IS_MANAGER='true'/);
    assert.match(text("swarm-node-2-firewall"), /export LG_IS_MANAGER='false'/);
  });
  test("the join token is a secret on stdin only: never in a command text", () => {
    const join = rec.one(R, "swarm-node-1-join");
    assert.ok(isSecretInput(join.inputs.stdin), "stdin is secret");
    assert.equal(reveal(join.inputs.stdin), `${TOKEN}\n`);
    for (const r of rec.ofType(R)) {
      for (const k of ["create", "delete"])
        assert.ok(!String(reveal(r.inputs[k]) ?? "").includes(TOKEN), `${r.name}.${k}`);
    }
    assert.match(text("swarm-node-1-join"), /export LG_MANAGER_ADDR='10\.0\.0\.1'/);
  });
  test("the token command's stdout is a secret output", () => {
    // additionalSecretOutputs is an option the engine receives; the mocks' state echo shows the token only there.
    assert.equal(rec.one(R, "swarm-join-token").inputs.stdin, undefined);
  });
  test("node settings run on the first manager with each node's id, role and labels", () => {
    const n2 = text("swarm-node-2-node");
    assert.match(n2, /export LG_NODE_ID='id-2'/);
    assert.match(n2, /export LG_ROLE='worker'/);
    // The configured labels and the node's own name (what pins a data store to exactly this node).
    assert.match(n2, /export LG_LABELS='launchgate\.edge=true\nlaunchgate\.node=node-2\nzone=b'/);
    assert.match(text("swarm-node-1-node"), /export LG_ROLE='manager'/);
    assert.match(text("swarm-node-0-node"), /export LG_NODE_ID='id-0'/);
  });
  test("a removed node is drained and removed (node delete), then leaves (join delete); delete-first", () => {
    assert.match(text("swarm-node-2-node", "delete"), /node-remove\.sh/);
    assert.match(text("swarm-node-2-node", "delete"), /export LG_DRAIN_TIMEOUT_SECONDS='60'/);
    assert.match(text("swarm-node-2-join", "delete"), /docker swarm leave --force/);
    assert.equal(
      rec.one(R, "swarm-node-0-node").inputs.delete,
      undefined,
      "the first manager is never removed",
    );
    for (const n of ["swarm-node-2-node", "swarm-node-2-join", "swarm-node-1-join"])
      assert.equal(opts.of(R, n).deleteBeforeReplace, true, n);
  });
  test("every command carries its role marker and its script's hash", () => {
    for (const r of rec.ofType(R)) {
      const triggers = reveal(r.inputs.triggers) as string[];
      assert.match(triggers[0]!, /^launchgate\.role=host-swarm-/);
      assert.match(triggers[1]!, /\.sh:sha256:[0-9a-f]{64}$/);
    }
  });
  test("order: joins after the token, node settings after the joins", () => {
    const urn = (n: string) => rec.resources.find((r) => r.name === n)!;
    assert.ok(opts.of(R, "swarm-node-1-join").dependencies.some((d) => d.endsWith("::swarm-join-token")));
    assert.ok(opts.of(R, "swarm-node-2-node").dependencies.some((d) => d.endsWith("::swarm-node-2-join")));
    assert.ok(opts.of(R, "swarm-init").dependencies.some((d) => d.endsWith("::swarm-node-2-firewall")));
    assert.ok(urn("swarm-init"));
  });
  test("pure helpers", async () => {
    assert.equal(labelLines({ b: "2", a: "1" }), "a=1\nb=2");
    assert.equal(nodeRole({ roles: ["worker", "manager"] }), "manager");
    assert.equal(nodeRole({ roles: ["worker"] }), "worker");
    assert.equal(
      await unwrap(scriptCommand("echo 'x'", "t", true)),
      `sudo -n bash -c 'echo '\\''x'\\''' launchgate-t`,
    );
  });
  test("a cluster without a manager is refused", () => {
    assert.throws(
      () =>
        new SwarmCluster("bad", {
          nodes: [{ name: "n", connection: conn("h"), address: "h", roles: ["worker"], labels: {} }],
        }),
      /a swarm needs a node with role manager/,
    );
  });
});

describe("Swarm host scripts", () => {
  test("pass shellcheck", () => {
    const dir = path.join(__dirname, "../../components/host/swarm");
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".sh"));
    assert.ok(files.length >= 7, files.join(", "));
    const r = spawnSync("shellcheck", ["-x", ...files.map((f) => path.join(dir, f))], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
