/**
 * Pinned SSH host keys (config host.hostKey): the known_hosts line rule and the identity file's
 * known_hosts for the docker provider. (HardenedHost's connections: hardened-host.test.ts.)
 * (The bootstrap refusing another key over a real sshd is test/host/hardening.test.ts.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { knownHostsLine } from "../../components/host/known-hosts";
import { SshIdentityFile, WRITE_IDENTITY } from "../../components/host/SshIdentityFile";
import { installMocks, reveal, settle } from "../support/mocks";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";

describe("knownHostsLine (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT)", () => {
  it("port 22 by the bare host, any other port as [host]:port", () => {
    assert.equal(knownHostsLine("203.0.113.10", 22, KEY), `203.0.113.10 ${KEY}`);
    assert.equal(knownHostsLine("vps.example.com", 2222, `${KEY}\n`), `[vps.example.com]:2222 ${KEY}`);
  });
  it("refuses what would pin nothing or the wrong thing, naming the host and the value", () => {
    for (const bad of [
      `203.0.113.10 ${KEY}`,
      `${KEY} root@vps`,
      "ssh-ed25519",
      "",
      `${KEY}\n${KEY}`,
      "ssh-ed25519 AAAA",
      "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
    ]) {
      assert.throws(
        () => knownHostsLine("203.0.113.10", 22, bad),
        /SSH host key for 203\.0\.113\.10:22: got/,
      );
    }
  });
});

describe("SshIdentityFile writes the pinned known_hosts beside the key", () => {
  it("declares the line in its environment and re-writes when the pinned key changes", async () => {
    const rec = await installMocks("staging");
    new SshIdentityFile("id", {
      privateKey: pulumi.secret("k"),
      path: ".launchgate/staging/id_deployer",
      knownHosts: { path: ".launchgate/staging/known_hosts", line: `203.0.113.10 ${KEY}` },
    });
    await settle();
    const c = rec.one("command:local:Command", "id-write").inputs;
    assert.deepEqual(reveal(c.environment), {
      KEY_PATH: ".launchgate/staging/id_deployer",
      KNOWN_HOSTS_PATH: ".launchgate/staging/known_hosts",
      KNOWN_HOSTS_LINE: `203.0.113.10 ${KEY}`,
    });
    assert.ok((reveal(c.triggers) as unknown[]).includes(`203.0.113.10 ${KEY}`));
    assert.match(String(c.delete), /KNOWN_HOSTS_PATH/);
  });
  it("its script writes the key 0600 and replaces the known_hosts file whole", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-identity-"));
    try {
      fs.mkdirSync(path.join(dir, "s"));
      fs.writeFileSync(path.join(dir, "s", "known_hosts"), "stale line\n");
      const run = (env: Record<string, string>) =>
        spawnSync("/bin/sh", ["-c", WRITE_IDENTITY], {
          cwd: dir,
          input: "PRIVATE\n",
          env: { PATH: process.env.PATH, ...env },
        });
      const r = run({
        KEY_PATH: "s/id",
        KNOWN_HOSTS_PATH: "s/known_hosts",
        KNOWN_HOSTS_LINE: `203.0.113.10 ${KEY}`,
      });
      assert.equal(r.status, 0, String(r.stderr));
      assert.equal(fs.readFileSync(path.join(dir, "s", "id"), "utf8"), "PRIVATE\n");
      assert.equal(fs.statSync(path.join(dir, "s", "id")).mode & 0o777, 0o600);
      assert.equal(fs.readFileSync(path.join(dir, "s", "known_hosts"), "utf8"), `203.0.113.10 ${KEY}\n`);
      // Without knownHosts the file is left alone.
      fs.writeFileSync(path.join(dir, "s", "known_hosts"), "kept\n");
      assert.equal(run({ KEY_PATH: "s/id" }).status, 0);
      assert.equal(fs.readFileSync(path.join(dir, "s", "known_hosts"), "utf8"), "kept\n");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
