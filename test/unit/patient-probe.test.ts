/**
 * patientProbe (components/app/hardening.ts): the healthcheck test that waits for readiness within
 * one probe until the container has passed once, then is the plain check. Each case runs the
 * rendered `CMD-SHELL` text with this machine's `/bin/sh` (as Docker runs it in the container),
 * with a check that counts its calls in a scratch directory and a mark path there.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { PATIENT_PROBE_STEP_SECONDS, READY_MARK, patientProbe } from "../../components/app/hardening";
import { POSTGRES_FIRST_READY_WAIT_SECONDS, POSTGRES_READY_CHECK } from "../../components/data/Postgres";

let dir = "";
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-patient-probe-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A check that fails (exit 2, like pg_isready's "no response") until its `readyAt`-th call. */
function countingCheck(readyAt: number): string[] {
  const counter = path.join(dir, "calls");
  return [
    "sh",
    "-c",
    `n=$(cat '${counter}' 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > '${counter}'; [ "$n" -ge ${readyAt} ] || exit 2`,
  ];
}
const calls = () => Number(fs.readFileSync(path.join(dir, "calls"), "utf8").trim());

/** Runs a rendered test as Docker's CMD-SHELL does: `/bin/sh -c <text>`. */
function run(test: string[]): number {
  assert.equal(test[0], "CMD-SHELL");
  assert.equal(test.length, 2);
  const r = spawnSync("/bin/sh", ["-c", test[1]!], { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.error, undefined, String(r.error));
  return r.status ?? -1;
}

test("patient probe: a service that gets ready within the wait passes in the first probe, and the container is marked", () => {
  const mark = path.join(dir, "ready");
  assert.equal(run(patientProbe(countingCheck(4), 2, mark)), 0);
  assert.equal(calls(), 4, "asked again until the check passed, not more");
  assert.ok(fs.existsSync(mark), "marked as ready once");
});

test("patient probe: a service that is not ready within the wait fails the probe, unmarked, after the bounded tries", () => {
  const mark = path.join(dir, "ready");
  assert.equal(run(patientProbe(countingCheck(1000), 0.5, mark)), 1);
  assert.equal(calls(), Math.round(0.5 / PATIENT_PROBE_STEP_SECONDS), "one try per step of the wait");
  assert.ok(!fs.existsSync(mark));
});

test("patient probe: once marked, a probe is the check alone — one call, its own exit status (failure detection as before)", () => {
  const mark = path.join(dir, "ready");
  fs.writeFileSync(mark, "");
  assert.equal(run(patientProbe(countingCheck(1000), 2, mark)), 2, "the check's exit status, no waiting");
  assert.equal(calls(), 1);
  fs.rmSync(path.join(dir, "calls"));
  assert.equal(run(patientProbe(countingCheck(1), 2, mark)), 0);
  assert.equal(calls(), 1);
});

test("patient probe: arguments with shell syntax are quoted, not run", () => {
  const mark = path.join(dir, "ready");
  const witness = path.join(dir, "witness");
  assert.equal(run(patientProbe(["test", "-n", `x; touch ${witness}`], 0.2, mark)), 0);
  assert.ok(!fs.existsSync(witness), "the ; inside an argument stayed an argument");
});

test("patient probe: bad input is refused with what was given", () => {
  assert.throws(() => patientProbe([], 1), /empty check/);
  assert.throws(() => patientProbe(["true"], 0.05), /waitSeconds 0.05 is below one step/);
  assert.throws(() => patientProbe(["true"], Number.NaN), /waitSeconds NaN/);
  assert.throws(() => patientProbe(["true"], 1, "relative/mark"), /not a plain absolute path/);
  assert.throws(() => patientProbe(["true"], 1, "/tmp/a b"), /not a plain absolute path/);
});

test("Postgres's probe: pg_isready over TCP, patient for the first start within its 5 s probe timeout, marked under /tmp", () => {
  const t = patientProbe(POSTGRES_READY_CHECK, POSTGRES_FIRST_READY_WAIT_SECONDS);
  assert.match(t[1]!, /pg_isready -q -h 127\.0\.0\.1 -p 5432 -U postgres/);
  assert.ok(POSTGRES_FIRST_READY_WAIT_SECONDS < 5, "the wait stays under the probe timeout");
  assert.ok(
    READY_MARK.startsWith("/tmp/"),
    "the mark lives on the tmpfs every container gets (gone on restart)",
  );
  assert.ok(t[1]!.includes(READY_MARK));
});
