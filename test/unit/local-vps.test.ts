/**
 * LocalVps under mocks: the image is built from the shared spec, the container gets exactly the
 * documented VPS flags (not --privileged), publishes only on loopback, carries root's generated
 * key, and the private key stays secret.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LocalVps } from "../../components/host/LocalVps";
import { VPS_PACKAGES, VPS_RUN } from "../../components/host/vps-image";
import {
  installMocks,
  isSecret,
  isSecretInput,
  RecordedResource,
  reveal,
  settle,
  unwrap,
} from "../support/mocks";

const PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey";
const PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nvps-secret\n-----END OPENSSH PRIVATE KEY-----\n";
const TAG = "launchgate-test/vps:0123456789abcdef";
/** The VPS's host key pair (a second generated key). */
const HOST_PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey\n";
const HOST_PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nhost-secret\n-----END OPENSSH PRIVATE KEY-----\n";

/** Provider outputs the mocks cannot invent: the generated key and the builder's stdout. */
function state(r: RecordedResource): Record<string, unknown> {
  if (r.type === "tls:index/privateKey:PrivateKey")
    return r.name === "vps-host-key"
      ? { publicKeyOpenssh: HOST_PUBLIC, privateKeyOpenssh: HOST_PRIVATE }
      : { publicKeyOpenssh: PUBLIC, privateKeyOpenssh: PRIVATE };
  if (r.type === "command:local:Command") return { stdout: `some progress\n${TAG}\n` };
  return {};
}

async function declare(args: ConstructorParameters<typeof LocalVps>[1] = {}) {
  const rec = await installMocks("local", { state });
  const vps = new LocalVps("vps", args);
  await settle();
  return { rec, vps };
}

describe("LocalVps", () => {
  it("builds the image from the shared spec with the registry-free builder", async () => {
    const { rec } = await declare();
    const build = rec.one("command:local:Command", "vps-image");
    const create = String(build.inputs.create);
    assert.match(create, /test\/support\/build-image\.sh' 'vps' /);
    assert.ok(create.includes(`'${VPS_PACKAGES.join(",")}'`), create);
    assert.match(create, /components\/host\/vps-image\/setup\.sh'/);
    const triggers = build.inputs.triggers as string[];
    assert.ok(
      triggers.some((t) => /^setup:sha256:[0-9a-f]{64}$/.test(t)),
      "setup script hash in triggers",
    );
    assert.ok(
      triggers.some((t) => /^builder:sha256:[0-9a-f]{64}$/.test(t)),
      "builder hash in triggers",
    );
  });

  it("runs the container with the documented VPS flags, not --privileged, on loopback only", async () => {
    const { rec } = await declare({ sshPort: 2299, publishedPorts: [{ internal: 443, external: 8443 }] });
    const c = rec.one("docker:index/container:Container", "vps-container").inputs;
    assert.equal(c.image, TAG, "image is the builder's last stdout line");
    assert.notEqual(c.privileged, true);
    assert.deepEqual(c.capabilities, { adds: ["ALL"], drops: ["SYS_RESOURCE"] });
    assert.deepEqual(c.securityOpts, ["seccomp=unconfined", "apparmor=unconfined"]);
    assert.deepEqual(Object.keys(c.tmpfs).sort(), ["/run", "/tmp"]);
    assert.deepEqual(
      c.ports.map((p: { internal: number; external: number; ip: string }) => [p.internal, p.external, p.ip]),
      [
        [22, 2299, "127.0.0.1"],
        [443, 8443, "127.0.0.1"],
      ],
    );
    const vol = rec.one("docker:index/volume:Volume", "vps-docker-data").inputs;
    assert.deepEqual(
      c.volumes.map((v: { containerPath: string }) => v.containerPath).sort(),
      [VPS_RUN.cgroupMount, VPS_RUN.dockerDataPath].sort(),
    );
    const dataVol = c.volumes.find(
      (v: { containerPath: string }) => v.containerPath === VPS_RUN.dockerDataPath,
    );
    assert.equal(
      dataVol.volumeName,
      vol.name,
      "nested /var/lib/docker on a named volume (overlay on overlay fails)",
    );
    // Root's key, and the host key provisioned before first boot (sshd refuses a readable one).
    assert.deepEqual(reveal(c.uploads), [
      { file: "/root/.ssh/authorized_keys", content: PUBLIC },
      { file: "/etc/ssh/ssh_host_ed25519_key", content: HOST_PRIVATE, permissions: "0600" },
      { file: "/etc/ssh/ssh_host_ed25519_key.pub", content: HOST_PUBLIC, permissions: "0644" },
    ]);
    assert.equal(c.memory, 4096, "a VPS-sized memory ceiling");
    assert.deepEqual(c.healthcheck.tests, ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/22"]);
  });

  it("generates an ed25519 key and keeps the private half secret", async () => {
    const { rec, vps } = await declare();
    assert.equal(rec.one("tls:index/privateKey:PrivateKey", "vps-root-key").inputs.algorithm, "ED25519");
    assert.equal(await isSecret(vps.privateKey), true);
    assert.equal(await unwrap(vps.privateKey), PRIVATE);
    const container = rec.one("docker:index/container:Container", "vps-container");
    assert.ok(
      !JSON.stringify(reveal(container.inputs)).includes("vps-secret"),
      "root's private key must not reach the container",
    );
    // The host's private key does (it is the VPS's own), as a secret input.
    assert.equal(rec.one("tls:index/privateKey:PrivateKey", "vps-host-key").inputs.algorithm, "ED25519");
    const uploads = container.inputs.uploads as unknown[];
    assert.ok(
      isSecretInput(uploads) || isSecretInput((uploads[1] as { content: unknown }).content),
      "the host private key is a secret input",
    );
    assert.equal(await unwrap(vps.hostKey), HOST_PUBLIC.trim(), "the pinned key, without the newline");
  });

  it("outputs where and as whom to connect first", async () => {
    const { vps } = await declare();
    assert.equal(await unwrap(vps.address), "127.0.0.1");
    assert.equal(await unwrap(vps.sshPort), 2222);
    assert.equal(await unwrap(vps.bootstrapUser), "root");
    assert.equal(await unwrap(vps.publicKey), PUBLIC);
  });

  it("refuses an invalid port before declaring anything", async () => {
    const rec = await installMocks("local", { state });
    assert.throws(() => new LocalVps("bad", { sshPort: 0 }), /LocalVps port: got 0/);
    await settle();
    assert.equal(rec.resources.length, 0);
  });
});
