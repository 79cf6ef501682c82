/**
 * The stack: read config once, register the release gate first, then declare the deployment
 * with every resource depending on the gate. Returns what index.ts exports.
 */
import * as pulumi from "@pulumi/pulumi";
import { gateEveryResource } from "../components/release/gate";
import { Release } from "../components/release/Release";
import { releaseImages } from "./config";
import { composeDeployment, flagValues } from "./compose";
import { readConfig, readSecrets } from "./read";

export function buildStack() {
  const cfg = readConfig();
  const secrets = readSecrets(cfg);
  // Registered before anything else; a mandatory gate violation on it stops the update.
  const release = new Release("release", {
    config: cfg,
    images: releaseImages(cfg),
    flags: flagValues(cfg),
    alertTarget: secrets.alertWebhookUrl,
  });
  // Everything declared from here on waits for the gate (components/release/gate.ts).
  pulumi.runtime.registerStackTransformation(gateEveryResource(release.gate));
  const deployment = composeDeployment(cfg, secrets);
  return {
    environment: cfg.environment,
    url: deployment.url,
    host: deployment.host,
    backups: { dir: deployment.backupDir, drillResult: deployment.drillResultPath },
    alerting: deployment.alerting,
    dnsNames: deployment.dnsNames,
    caCertPem: deployment.caCertPem,
    /** The release this stack runs (commit, images by role, flags); promotion compares it. */
    release: {
      commit: cfg.release.commit,
      images: releaseImages(cfg),
      flags: flagValues(cfg),
      previous: cfg.release.previous ?? null,
    },
    /** What production's staging gate reads: this release plus its smoke-test result. */
    verifiedRelease: {
      commit: cfg.release.commit,
      images: releaseImages(cfg),
      smokeTests: cfg.verification ?? null,
    },
    gate: release.summary,
  } satisfies Record<string, unknown>;
}

export type StackOutputs = ReturnType<typeof buildStack>;
