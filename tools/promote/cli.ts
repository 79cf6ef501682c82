/**
 * npm run promote -- --from staging --to production [--yes] [--base-url URL] [--max-age-hours N]
 * npm run promote -- --to staging [--yes]        (CI on main: deploy + verify the committed release)
 * npm run verify -- --stack production          (post-deploy marks 30m/1h/24h due now: judged, recorded, alerted)
 * npm run rollback -- --stack production [--yes] [--disable-flag REAL_MONEY_ENABLED]
 *   (release-approval gates are advisory for a rollback; see ROLLBACK_ADVISORY_GATES)
 *
 * Smoke tests come from tools/promote/smoke/<stack>.json unless --smoke-spec names another file.
 * The offline check runs the checker in-process unless --check-command "<cmd> {stack}" names one.
 *
 * Exit codes: 0 deployed / previewed / unchanged, 1 refused or failed, 2 usage error.
 * Uses the `pulumi` on PATH unless PULUMI_ROOT (or --pulumi-root) names another install root.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { FlowError, deployCommitted, promote, rollback, verifyMarks } from "./flow";
import { loadSmokeSpecFile } from "./smoke";

const USAGE = `usage:
  npm run promote -- --to <stack> [--yes] ...          (deploy + verify the release in Pulumi.<stack>.yaml)
  npm run promote -- --from <stack> --to <stack> [--yes] [--base-url URL] [--max-age-hours N] [--smoke-spec FILE] [--check-command CMD]
  npm run rollback -- --stack <stack> [--yes] [--disable-flag NAME ...] [--base-url URL] [--smoke-spec FILE]
  npm run verify -- --stack <stack>                    (post-deploy verification marks that are due)`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: rest,
      options: {
        from: { type: "string" },
        to: { type: "string" },
        stack: { type: "string" },
        yes: { type: "boolean", default: false },
        "base-url": { type: "string" },
        "max-age-hours": { type: "string" },
        "pulumi-root": { type: "string" },
        cwd: { type: "string" },
        "smoke-spec": { type: "string" },
        "disable-flag": { type: "string", multiple: true },
        "check-command": { type: "string" },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const common = {
    workDir: path.resolve(String(values.cwd ?? process.cwd())),
    pulumiRoot: (values["pulumi-root"] as string | undefined) ?? process.env.PULUMI_ROOT,
    yes: values.yes === true,
    baseUrl: values["base-url"] as string | undefined,
    maxAgeHours: values["max-age-hours"] !== undefined ? Number(values["max-age-hours"]) : undefined,
    smokeSpec: values["smoke-spec"]
      ? loadSmokeSpecFile(path.resolve(String(values["smoke-spec"])))
      : undefined,
    // Default: the checker in-process (tools/checker/check.ts runCheck).
    checkCommand: values["check-command"]
      ? String(values["check-command"]).split(/\s+/).filter(Boolean)
      : undefined,
  };
  if (common.maxAgeHours !== undefined && !(common.maxAgeHours > 0)) {
    console.error(`--max-age-hours must be a positive number\n${USAGE}`);
    return 2;
  }
  try {
    if (command === "promote") {
      if (!values.to) {
        console.error(`promote needs --to\n${USAGE}`);
        return 2;
      }
      if (!values.from) {
        await deployCommitted({ ...common, to: String(values.to) });
        return 0;
      }
      await promote({ ...common, from: String(values.from), to: String(values.to) });
      return 0;
    }
    if (command === "verify") {
      if (!values.stack) {
        console.error(`verify needs --stack\n${USAGE}`);
        return 2;
      }
      const marks = await verifyMarks({ ...common, stack: String(values.stack) });
      return marks.every((m) => m.passed) ? 0 : 1;
    }
    if (command === "rollback") {
      if (!values.stack) {
        console.error(`rollback needs --stack\n${USAGE}`);
        return 2;
      }
      await rollback({
        ...common,
        stack: String(values.stack),
        disableFlags: (values["disable-flag"] as string[] | undefined) ?? [],
      });
      return 0;
    }
    console.error(USAGE);
    return 2;
  } catch (e) {
    if (e instanceof FlowError) {
      console.error(`\n${e.message}`);
      return e.exitCode;
    }
    console.error(`\nunexpected error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
