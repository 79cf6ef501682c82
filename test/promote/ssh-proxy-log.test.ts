/**
 * The promote driver's proxy-log read (tools/promote/flow.ts sshProxyLog) and its host keys: the
 * stack's pinned `host.hostKey` in a throw-away known_hosts with strict checking, else the
 * stack's own known_hosts with first use recorded; never the operator's ~/.ssh. A stand-in `ssh`
 * first on PATH records its argv and the known_hosts file it is pointed at.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { sshProxyLog } from "../../tools/promote/flow";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-proxy-log-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const bin = path.join(dir, "bin");
fs.mkdirSync(bin);
fs.writeFileSync(
  path.join(bin, "ssh"),
  [
    "#!/bin/sh",
    'echo "ARGS $*"',
    'for a in "$@"; do case "$a" in UserKnownHostsFile=*) echo "KNOWN $(cat "${a#UserKnownHostsFile=}" 2>/dev/null || echo none) FILE ${a#UserKnownHostsFile=}";; esac; done',
  ].join("\n"),
  { mode: 0o755 },
);

const read = (host: Record<string, unknown>) =>
  sshProxyLog(
    { workDir: path.join(dir, "work"), envVars: { PATH: `${bin}:${process.env.PATH}` } },
    { "launchgate:host": { value: JSON.stringify(host) } },
    { host: { value: { address: "203.0.113.10", sshPort: 22 } } },
  )("org/launchgate/production", new Date(0), new Date(60_000));

describe("sshProxyLog host keys", () => {
  it("a pinned host.hostKey: strict checking against a file holding only that key, removed afterwards", async () => {
    const out = await read({ deployUser: "deployer", hostKey: KEY });
    assert.match(out, /-o StrictHostKeyChecking=yes/);
    assert.doesNotMatch(out, /accept-new/);
    const m = /^KNOWN (.*) FILE (\S+)$/m.exec(out);
    assert.equal(m?.[1], `203.0.113.10 ${KEY}`);
    assert.equal(fs.existsSync(m![2]!), false, "the throw-away known_hosts is removed");
  });
  it("no pinned key: the stack's own known_hosts, first use recorded", async () => {
    const out = await read({ deployUser: "deployer" });
    assert.match(out, /-o StrictHostKeyChecking=accept-new/);
    assert.match(
      out,
      new RegExp(`FILE ${path.join(dir, "work", ".launchgate", "production", "known_hosts")}$`, "m"),
    );
  });
});
