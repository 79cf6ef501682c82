/**
 * Policies ssh-host-keys-pinned and docker-provider-host-key, case by case: each way a
 * connection can stop checking the host key (the review's attempts against OpenSSH 9.2 among
 * them) is refused; the program's own settings pass.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as host from "../../policies/host";
import { runResourcePolicy, runStackPolicy } from "./harness";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";
const REMOTE = "command:remote:Command";
const COPY = "command:remote:CopyToRemote";
const LOCAL = "command:local:Command";
const conn = (extra: Record<string, unknown> = {}) => ({
  host: "203.0.113.10",
  port: 22,
  user: "deployer",
  privateKey: "k",
  hostKey: KEY,
  ...extra,
});
const remote = (connection: Record<string, unknown>, type = REMOTE) => ({
  type,
  name: "host-sshd",
  props: { connection, create: "true", triggers: ["launchgate.role=host-sshd"] },
});
const local = (role: string, create: string, environment: Record<string, string> = {}) => ({
  type: LOCAL,
  name: `x-${role}`,
  props: { create, environment, triggers: [`launchgate.role=${role}`] },
});

describe("ssh-host-keys-pinned", () => {
  it("passes pinned remote commands, copies and jump hosts", async () => {
    assert.deepEqual(await runResourcePolicy(host.sshHostKeysPinned, remote(conn())), []);
    assert.deepEqual(await runResourcePolicy(host.sshHostKeysPinned, remote(conn(), COPY)), []);
    const viaJump = conn({ proxy: { host: "198.51.100.1", user: "jump", hostKey: KEY } });
    assert.deepEqual(await runResourcePolicy(host.sshHostKeysPinned, remote(viaJump)), []);
  });
  const refused: [string, Record<string, unknown>, RegExp, string?][] = [
    ["no hostKey", conn({ hostKey: undefined }), /with no host key/],
    ["an empty hostKey", conn({ hostKey: "" }), /with no host key/],
    ["a blank hostKey", conn({ hostKey: " " }), /with no host key/],
    ["a hostKey that is not a key", conn({ hostKey: "x" }), /host key "x": not `<type> <base64>`/],
    ["a truncated hostKey", conn({ hostKey: "ssh-ed25519 AAAA" }), /does not decode/],
    [
      "a jump host without one",
      conn({ proxy: { host: "198.51.100.1", user: "j" } }),
      /jump host 198\.51\.100\.1/,
    ],
    ["a copy without one", conn({ hostKey: undefined }), /with no host key/, COPY],
  ];
  for (const [what, c, re, type] of refused)
    it(`refuses ${what}`, async () => {
      const out = await runResourcePolicy(host.sshHostKeysPinned, remote(c, type));
      assert.ok(Array.isArray(out) && out.some((m) => re.test(m)), JSON.stringify(out));
    });
  it("the bootstrap and the tunnel need their pinned line; other local commands may not switch checking off", async () => {
    const runner =
      'if [ -n "$LG_KNOWN_HOSTS" ]; then o="-o StrictHostKeyChecking=yes"; else o="-o StrictHostKeyChecking=no"; fi';
    assert.deepEqual(
      await runResourcePolicy(
        host.sshHostKeysPinned,
        local("host-bootstrap", runner, { LG_KNOWN_HOSTS: `h ${KEY}` }),
      ),
      [],
    );
    for (const [r, out] of [
      [local("host-bootstrap", runner, { LG_KNOWN_HOSTS: "" }), /environment LG_KNOWN_HOSTS/],
      [
        local("host-bootstrap", "ssh -o StrictHostKeyChecking=no h true", { LG_KNOWN_HOSTS: `h ${KEY}` }),
        /no strict host-key branch/,
      ],
      [local("db-admin-tunnel", "ssh -f -N h", { KNOWN_HOSTS_LINE: "" }), /environment KNOWN_HOSTS_LINE/],
      [
        local("image-build", "ssh -o StrictHostKeyChecking=no vps true"),
        /image-build command runs ssh with host-key checking off/,
      ],
      [local("image-build", "ssh -o UserKnownHostsFile=/dev/null vps true"), /checking off/],
      [local("image-build", "ssh -o 'KnownHostsCommand=/usr/bin/ssh-keyscan %h' vps true"), /checking off/],
    ] as const) {
      const got = await runResourcePolicy(host.sshHostKeysPinned, r);
      assert.ok(
        Array.isArray(got) && got.some((m) => out.test(m)),
        `${r.props.create}: ${JSON.stringify(got)}`,
      );
    }
  });
});

describe("docker-provider-host-key: sshOpts from an allow-list, OpenSSH's first value wins", () => {
  const SHIPPED = [
    "-i",
    ".launchgate/production/id_deployer",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "UserKnownHostsFile=.launchgate/production/known_hosts",
    "-o",
    "StrictHostKeyChecking=yes",
  ];
  it("the program's options pass (as a list and JSON-encoded, as the engine sends provider config)", async () => {
    assert.deepEqual(host.providerSshOptsProblems(SHIPPED), []);
    const provider = (sshOpts: unknown, h = "ssh://deployer@203.0.113.10:22") => ({
      type: "pulumi:providers:docker",
      name: "vps-docker",
      props: { host: h, sshOpts },
    });
    assert.deepEqual(
      await runStackPolicy(host.dockerProviderHostKey, [provider(JSON.stringify(SHIPPED))]),
      [],
    );
    const loose = [...SHIPPED.slice(0, -1), "StrictHostKeyChecking=no"];
    const upper = await runStackPolicy(host.dockerProviderHostKey, [
      provider(JSON.stringify(loose), "SSH://deployer@h:22"),
    ]);
    assert.ok(
      Array.isArray(upper) && upper.some((m) => /StrictHostKeyChecking=no/.test(m)),
      "SSH:// in upper case",
    );
  });
  const refused: [string, string[], RegExp][] = [
    [
      "KnownHostsCommand",
      ["-o", "KnownHostsCommand=/usr/bin/ssh-keyscan -p %p %h", ...SHIPPED],
      /KnownHostsCommand/,
    ],
    [
      "a ProxyCommand hiding a yes, then no",
      [
        "-o",
        "ProxyCommand=ssh -o StrictHostKeyChecking=yes j -W %h:%p",
        "-o",
        "StrictHostKeyChecking=no",
        ...SHIPPED.slice(0, 6),
      ],
      /ProxyCommand|StrictHostKeyChecking=no/,
    ],
    ["GlobalKnownHostsFile", ["-o", "GlobalKnownHostsFile=/tmp/any", ...SHIPPED], /GlobalKnownHostsFile/],
    [
      "two known_hosts files",
      [
        ...SHIPPED.slice(0, 5),
        "UserKnownHostsFile=.launchgate/p/known_hosts ~/.ssh/known_hosts",
        ...SHIPPED.slice(6),
      ],
      /exactly the stack's known_hosts/,
    ],
    ["a config file", ["-F", "./cfg", ...SHIPPED], /"-F"/],
    ["a jump host", ["-J", "jump", ...SHIPPED], /"-J"/],
    ["no first, yes later", ["-oStrictHostKeyChecking=no", ...SHIPPED], /StrictHostKeyChecking=no/],
    [
      "accept-new",
      [...SHIPPED.slice(0, -1), "StrictHostKeyChecking=accept-new"],
      /StrictHostKeyChecking=accept-new/,
    ],
    [
      "/dev/null",
      [...SHIPPED.slice(0, 5), "UserKnownHostsFile=/dev/null", ...SHIPPED.slice(6)],
      /UserKnownHostsFile=\/dev\/null/,
    ],
    ["no file", [...SHIPPED.slice(0, 4), ...SHIPPED.slice(6)], /operator's ~\/\.ssh\/known_hosts/],
    ["no strict option", SHIPPED.slice(0, 6), /ask \(unset\)/],
    ["quoted no", [...SHIPPED.slice(0, -1), 'StrictHostKeyChecking="no"'], /StrictHostKeyChecking=no/],
  ];
  for (const [what, opts, re] of refused)
    it(`refuses ${what}`, () => {
      const problems = host.providerSshOptsProblems(opts);
      assert.ok(
        problems.some((m) => re.test(m)),
        JSON.stringify(problems),
      );
    });
});
