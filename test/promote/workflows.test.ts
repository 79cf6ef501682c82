/**
 * The GitHub workflows parse and say what the docs promise: check on pull requests, deploy +
 * verify staging on main, promote to production on a tag behind the `production` environment
 * (manual approval), the Pulumi CLI from the vendor's action, secrets only via `secrets.*`, and
 * every `npm run <script>` they call exists in package.json.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";

const ROOT = path.join(__dirname, "..", "..");
const DIR = path.join(ROOT, ".github", "workflows");
const scripts = (
  JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
).scripts;

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface Job {
  if?: string;
  needs?: string | string[];
  environment?: string | { name: string; url?: string };
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

function load(file: string): { text: string; wf: Workflow } {
  const text = fs.readFileSync(path.join(DIR, file), "utf8");
  return { text, wf: parse(text) as Workflow };
}

const runs = (job: Job) => job.steps.map((s) => s.run ?? "").join("\n");

describe("launchgate.yml", () => {
  const { text, wf } = load("launchgate.yml");

  test("triggers: pull requests, pushes to main, v* tags", () => {
    assert.ok("pull_request" in wf.on);
    const push = wf.on.push as { branches: string[]; tags: string[] };
    assert.deepEqual(push.branches, ["main"]);
    assert.deepEqual(push.tags, ["v*"]);
    assert.deepEqual(wf.permissions, { contents: "read" });
  });

  test("check job: npm ci (root + pack), typecheck, lint, unit tests, the offline check for every stack, reports", () => {
    const job = wf.jobs.check!;
    const r = runs(job);
    for (const cmd of ["npm ci", "npm run typecheck", "npm run lint", "npm run test:unit"])
      assert.ok(r.includes(cmd), cmd);
    assert.ok(
      job.steps.some(
        (s) =>
          s.run?.startsWith("npm ci") &&
          (s as { "working-directory"?: string })["working-directory"] === "policies",
      ),
    );
    assert.match(r, /for stack in local staging production; do/);
    assert.match(r, /npm run --silent check -- --stack "\$stack" --report "artifacts\/\$stack\.md"/);
    assert.ok(job.steps.some((s) => s.uses?.startsWith("actions/upload-artifact@")));
    assert.match(
      r,
      /npx tsx tools\/report\/cli\.ts --stack production --html artifacts\/release\.html --md artifacts\/release\.md/,
    );
    assert.match(r, /gh pr comment "\$PR" .*--body-file artifacts\/release\.md/);
    assert.equal(job.permissions?.["pull-requests"], "write");
  });

  test("staging job: only on main, after check, CLI installed the vendor's way, deploys + verifies", () => {
    const job = wf.jobs.staging!;
    assert.match(job.if!, /github\.ref == 'refs\/heads\/main'/);
    assert.equal(job.needs, "check");
    assert.equal(job.environment, "staging");
    assert.ok(job.steps.some((s) => s.uses?.startsWith("pulumi/actions@")));
    assert.match(runs(job), /npm run promote -- --to staging --yes/);
  });

  test("production job: only on tags, behind the production environment, promotes staging's verified release", () => {
    const job = wf.jobs.production!;
    assert.match(job.if!, /startsWith\(github\.ref, 'refs\/tags\/v'\)/);
    assert.equal(job.needs, "check");
    assert.deepEqual(typeof job.environment === "object" && job.environment.name, "production");
    const steps = job.steps;
    const install = steps.findIndex((s) => s.uses?.startsWith("pulumi/actions@"));
    const promote = steps.findIndex(
      (s) => s.run === "npm run promote -- --from staging --to production --yes",
    );
    assert.ok(install >= 0 && promote > install, "CLI installed before the promotion");
    assert.ok(
      !/pulumi up|pulumi preview/.test(runs(job)),
      "no bare pulumi up: promote carries the policy pack",
    );
    assert.match(runs(job), /npm run rollback -- --stack production --yes/);
  });

  test("secrets only via secrets.*, from a known set", () => {
    const used = new Set([...text.matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1]));
    assert.deepEqual([...used].sort(), [
      "GITHUB_TOKEN",
      "PRODUCTION_ADMIN_TOKEN",
      "PULUMI_ACCESS_TOKEN",
      "STAGING_ADMIN_TOKEN",
    ]);
    assert.ok(!/pul-[0-9a-f]{20,}/.test(text), "no literal Pulumi token");
  });
});

describe("rollback.yml", () => {
  const { wf } = load("rollback.yml");
  test("manual dispatch with the stack as input, runs npm run rollback", () => {
    assert.ok("workflow_dispatch" in wf.on);
    const r = runs(wf.jobs.rollback!);
    assert.match(r, /npm run rollback -- --stack "\$STACK" --yes "\$\{args\[@\]\}"/);
    assert.match(r, /args\+=\(--disable-flag "\$f"\)/);
    assert.ok(
      !/\$\{\{ inputs\./.test(r),
      "inputs reach the shell via env, never interpolated into the script",
    );
  });
});

test("every npm script the workflows run exists in package.json", () => {
  for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"))) {
    const { text } = load(file);
    for (const m of text.matchAll(/npm run (?:--silent )?([a-z]+(?::[a-z]+)?)/g)) {
      assert.ok(scripts[m[1]!], `${file}: npm run ${m[1]} is not a package.json script`);
    }
  }
});
