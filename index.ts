/**
 * launchgate entry point: the whole deployment for the selected stack (`local`, `staging`,
 * `production`). See stacks/ for config and composition, components/ for each concern.
 */
import { buildStack } from "./stacks";

const out = buildStack();

export const environment = out.environment;
export const url = out.url;
export const host = out.host;
export const backups = out.backups;
export const alerting = out.alerting;
export const dnsNames = out.dnsNames;
export const caCertPem = out.caCertPem;
export const release = out.release;
export const verifiedRelease = out.verifiedRelease;
export const gate = out.gate;
