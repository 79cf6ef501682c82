/**
 * `npm run gate -- fetch-drill`: the host's restore-drill result becomes gate evidence — through
 * an ssh stand-in that runs the remote command locally, the exact arguments checked — and bad
 * results are refused with the source named.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadEvidence } from "../../components/release/evidence";
import { drillEvidencePath, parseDrillRecord } from "../../tools/gate/drill";

const ROOT = path.join(__dirname, "..", "..");
let dir: string;
let fakeSsh: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-drill-"));
  // Logs its argv, then runs what follows `--` locally, as sshd would on the host.
  fakeSsh = path.join(dir, "ssh");
  fs.writeFileSync(
    fakeSsh,
    `#!/bin/bash\nprintf '%s\\n' "$@" > "${dir}/argv"\nwhile [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done\nshift\nexec bash -c "$*"\n`,
    { mode: 0o755 },
  );
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function gate(...args: string[]) {
  return spawnSync(
    path.join(ROOT, "node_modules/.bin/tsx"),
    [path.join(ROOT, "tools/gate/cli.ts"), ...args],
    {
      encoding: "utf8",
      cwd: dir,
    },
  );
}

/** `gate fetch-drill` for `stack` through the ssh stand-in, into the scratch evidence dir. */
function fetchDrill(stack: string, remote: string, ...extra: string[]) {
  return gate(
    "fetch-drill",
    "--stack",
    stack,
    "--host",
    "deployer@h",
    "--remote-path",
    remote,
    "--ssh",
    fakeSsh,
    "--evidence",
    path.join(dir, "evidence"),
    ...extra,
  );
}

describe("fetch-drill", () => {
  test("copies the host's drill result into evidence, where the backups gate finds it", () => {
    const remote = path.join(dir, "restore-drill.json");
    const finishedAt = "2026-11-24T02:41:07Z";
    fs.writeFileSync(
      remote,
      JSON.stringify({ ok: true, finishedAt, dump: "app-20261124T020000Z.dump", tables: 3 }),
    );
    const r = gate(
      "fetch-drill",
      "--stack",
      "production",
      "--host",
      "deployer@203.0.113.10",
      "--port",
      "2201",
      "--identity",
      "/keys/id",
      "--remote-path",
      remote,
      "--known-hosts",
      "/keys/known_hosts",
      "--ssh",
      fakeSsh,
      "--evidence",
      path.join(dir, "evidence"),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /drill ok at 2026-11-24T02:41:07Z; recorded/);
    assert.deepEqual(fs.readFileSync(path.join(dir, "argv"), "utf8").trim().split("\n"), [
      "-p",
      "2201",
      "-i",
      "/keys/id",
      "-o",
      "IdentitiesOnly=yes",
      // Strict whatever the operator's ssh_config says, against the given file only.
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UserKnownHostsFile=/keys/known_hosts",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=15",
      "deployer@203.0.113.10",
      "--",
      "cat",
      `'${remote}'`,
    ]);
    const evidence = loadEvidence(path.join(dir, "evidence"), "production");
    assert.equal(evidence.restoreDrill?.ok, true);
    assert.equal(evidence.restoreDrill?.finishedAt, finishedAt);
    assert.equal(evidence.restoreDrill?.dump, "app-20261124T020000Z.dump");
  });

  test("a failed drill is recorded too (the gate then refuses on it)", () => {
    const remote = path.join(dir, "failed.json");
    fs.writeFileSync(
      remote,
      JSON.stringify({ ok: false, finishedAt: "2026-11-25T02:41:07Z", error: "pg_restore: corrupt" }),
    );
    const r = fetchDrill("staging", remote);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /drill FAILED .* \(the backups gate will refuse until a drill passes\)/);
    assert.equal(loadEvidence(path.join(dir, "evidence"), "staging").restoreDrill?.ok, false);
  });

  test("a missing result file fails with the host, path and a hint", () => {
    const r = fetchDrill("staging", path.join(dir, "nope.json"));
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /gate: reading .*nope\.json on deployer@h:22 failed \(exit 1\): .*has the restore drill run yet/,
    );
  });

  test("records without ok/finishedAt are refused, naming the source", () => {
    assert.throws(
      () => parseDrillRecord("{}", "h:/p"),
      /h:\/p: expected \{ "ok": true\|false, "finishedAt": ISO-8601, … \}; "ok" is missing/,
    );
    assert.throws(
      () => parseDrillRecord('{"ok":true,"finishedAt":"yesterday"}', "h:/p"),
      /"finishedAt" must be an ISO-8601 timestamp, got "yesterday"/,
    );
    assert.throws(() => parseDrillRecord("not json", "h:/p"), /h:\/p: not JSON/);
  });

  test("evidence file names are the drill time, file-name safe", () => {
    const rec = parseDrillRecord('{"ok":true,"finishedAt":"2026-11-24T02:41:07Z"}', "x");
    assert.equal(
      drillEvidencePath("evidence", "production", rec),
      "evidence/production/restore-drill/2026-11-24T02-41-07.000Z.json",
    );
  });
});
