import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, test } from "node:test";
import { installMocks, Recorder, settle, unwrap, isSecretInput, reveal } from "../support/mocks";
import { CLOSE_SCRIPT, OPEN_SCRIPT, PostgresAdminTunnel } from "../../components/data/PostgresAdminTunnel";

const CMD = "command:local:Command";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretkeymaterial\n-----END OPENSSH PRIVATE KEY-----\n";
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";
let rec: Recorder;
let tunnel: PostgresAdminTunnel;

before(async () => {
  rec = await installMocks("local", {
    state: (r) => (r.type === CMD ? { stdout: "tunnel open", stderr: "" } : {}),
  });
  tunnel = new PostgresAdminTunnel("pg-admin", {
    connection: { host: "203.0.113.7", port: 2222, user: "deployer", privateKey: KEY },
    remoteAddress: "172.30.0.10",
    localPort: 15432,
    controlSocket: "/tmp/lg-test.ctl",
    runId: "run-1",
  });
  // The host key from the connection (HardenedHost's deployConnection), on port 22.
  new PostgresAdminTunnel("pg-pinned", {
    connection: { host: "203.0.113.8", port: 22, user: "deployer", privateKey: KEY, hostKey: HOST_KEY },
    remoteAddress: "172.30.0.10",
    localPort: 15433,
    controlSocket: "/tmp/lg-test-pinned.ctl",
    runId: "run-1",
  });
  await settle();
});

test("key only on stdin, as a secret; never in the environment or the scripts", () => {
  const c = rec.one(CMD, "pg-admin-forward").inputs;
  assert.equal(isSecretInput(c.stdin), true);
  assert.equal(reveal(c.stdin), KEY);
  assert.ok(!JSON.stringify(reveal(c.environment)).includes("secretkeymaterial"));
  assert.ok(!String(c.create).includes("secretkeymaterial"));
  assert.equal(
    isSecretInput(c.environment),
    false,
    "the environment holds nothing secret and stays readable",
  );
});

test("environment: forward spec, control socket, run id; create/update open, delete closes", () => {
  const c = rec.one(CMD, "pg-admin-forward").inputs;
  assert.deepEqual(reveal(c.environment), {
    SSH_HOST: "203.0.113.7",
    SSH_PORT: "2222",
    SSH_USER: "deployer",
    LOCAL_PORT: "15432",
    REMOTE_ADDRESS: "172.30.0.10",
    CONTROL_SOCKET: "/tmp/lg-test.ctl",
    LAUNCHGATE_RUN: "run-1",
    KNOWN_HOSTS_LINE: "",
  });
  assert.equal(c.create, OPEN_SCRIPT);
  assert.equal(c.update, OPEN_SCRIPT);
  assert.equal(c.delete, CLOSE_SCRIPT);
  assert.equal(c.addPreviousOutputInEnv, false);
});

test("the connection's host key is pinned as a known_hosts line (port 22: the bare host)", () => {
  const env = reveal(rec.one(CMD, "pg-pinned-forward").inputs.environment) as Record<string, string>;
  assert.equal(env.KNOWN_HOSTS_LINE, `203.0.113.8 ${HOST_KEY}`);
});

test("outputs: local endpoint", async () => {
  assert.equal(await unwrap(tunnel.host), "127.0.0.1");
  assert.equal(await unwrap(tunnel.port), 15432);
});

/** Runs a script with a fake `ssh` first on PATH that logs its argv and the key file's mode. */
function runWithFakeSsh(script: string, env: Record<string, string>, stdin: string, checkAlive: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-tunnel-"));
  const log = path.join(dir, "log");
  fs.writeFileSync(
    path.join(dir, "ssh"),
    [
      "#!/bin/sh",
      `echo "ARGS $*" >> ${log}`,
      'if [ "$1" = "-S" ] && [ "$3" = "-O" ] && [ "$4" = "check" ]; then exit ' +
        (checkAlive ? 0 : 255) +
        "; fi",
      'prev=""; for a in "$@"; do if [ "$prev" = "-i" ]; then echo "KEYMODE $(stat -c %a "$a") $(cat "$a" | head -2 | tail -1)" >> ' +
        log +
        '; echo "KEYPATH $a" >> ' +
        log +
        "; fi; prev=$a; done",
      // A pinned host key: log the known_hosts file ssh is pointed at (it is gone after the script).
      'for a in "$@"; do case "$a" in UserKnownHostsFile=*) echo "KNOWN $(cat "${a#UserKnownHostsFile=}")" >> ' +
        log +
        ";; esac; done",
      "exit 0",
    ].join("\n"),
    { mode: 0o755 },
  );
  execFileSync("/bin/sh", ["-c", script], {
    input: stdin,
    env: { ...env, PATH: `${dir}:${process.env.PATH}` },
    stdio: ["pipe", "pipe", "pipe"],
  });
  return fs.readFileSync(log, "utf8");
}

const ENV = {
  SSH_HOST: "203.0.113.7",
  SSH_PORT: "2222",
  SSH_USER: "deployer",
  LOCAL_PORT: "15432",
  REMOTE_ADDRESS: "172.30.0.10",
  CONTROL_SOCKET: path.join(os.tmpdir(), "lg-tunnel-test.ctl"),
};

test("open script: backgrounded master with ExitOnForwardFailure, loopback forward, key in a 0600 temp file then removed", () => {
  const log = runWithFakeSsh(OPEN_SCRIPT, ENV, KEY, false);
  const open = log.split("\n").find((l) => l.startsWith("ARGS -f"))!;
  assert.ok(open, log);
  for (const part of [
    "-f -N -M -S " + ENV.CONTROL_SOCKET,
    "-o ExitOnForwardFailure=yes",
    "-o BatchMode=yes",
    "-o StrictHostKeyChecking=accept-new",
    "-L 127.0.0.1:15432:172.30.0.10:5432",
    "-p 2222 deployer@203.0.113.7",
  ]) {
    assert.ok(open.includes(part), `missing ${part} in ${open}`);
  }
  assert.match(log, /KEYMODE 600 secretkeymaterial/);
  const keyPath = /KEYPATH (.*)/.exec(log)![1]!;
  assert.equal(fs.existsSync(keyPath), false, "temp key removed after login");
  assert.ok(!open.includes("secretkeymaterial"));
});

test("open script: reuses a live tunnel; pinned host key switches to strict checking", () => {
  const reused = runWithFakeSsh(OPEN_SCRIPT, ENV, KEY, true);
  assert.ok(!reused.includes("ARGS -f"), "no second master when the socket answers");
  const line = `[203.0.113.7]:2222 ${HOST_KEY}`;
  const pinned = runWithFakeSsh(OPEN_SCRIPT, { ...ENV, KNOWN_HOSTS_LINE: line }, KEY, false);
  assert.match(pinned, /-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/);
  assert.ok(!pinned.includes("accept-new"), pinned);
  assert.ok(pinned.split("\n").includes(`KNOWN ${line}`), pinned);
});

test("close script: asks the master to exit through the control socket", () => {
  const log = runWithFakeSsh(CLOSE_SCRIPT, ENV, "", false);
  assert.match(log, new RegExp(`ARGS -S ${ENV.CONTROL_SOCKET} -O exit`));
});
