/**
 * Host scripts for `remote.Command`s: each script lives in its own file (so it can be linted and
 * run alone); a component renders it with its configuration as single-quoted
 * `export`s at the top and puts the file's sha256 into `triggers`, so editing a script re-runs the
 * step. Configuration goes into the script text, not SSH `environment` (which needs `AcceptEnv`
 * on the host); secrets never go in here: pass them on the command's `stdin` (see Monitoring).
 *
 * Generic on purpose: nothing here knows about backups or monitoring, so HardenedHost can use it.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

/** Directory of the ops host scripts. */
export const SCRIPTS_DIR = path.join(__dirname, "scripts");

/** Value of one exported variable; arrays are joined with spaces (names, not free text). */
export type ScriptValue = string | number | boolean | readonly string[];

/** A script file rendered with its configuration. */
export interface RenderedScript {
  /** Script text: shebang, strict mode, the exports, then the file's body (and its libraries). */
  readonly text: pulumi.Output<string>;
  /** sha256 of the file and its libraries (known at preview), e.g. for `triggers`. */
  readonly sha256: string;
  /** `<file>:sha256:<hex>`, readable in a diff of `triggers`. */
  readonly trigger: string;
}

/** Quotes a value for a POSIX shell: `'…'` with every `'` written as `'\''`. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const NAME = /^[A-Z_][A-Z0-9_]*$/;

/** `export NAME='value'` lines, in the order given; throws on a bad variable name. */
export function renderExports(env: Record<string, ScriptValue>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!NAME.test(k)) throw new Error(`script variable ${JSON.stringify(k)}: expected [A-Z_][A-Z0-9_]*`);
      const s = Array.isArray(v) ? v.join(" ") : String(v);
      // A value holding `$` (an embedded script) is literal on purpose; say so to shellcheck.
      const note = /[$`]/.test(s) ? "# shellcheck disable=SC2016 # literal value\n" : "";
      return `${note}export ${k}=${shellQuote(s)}`;
    })
    .join("\n");
}

function read(file: string): string {
  return fs.readFileSync(path.isAbsolute(file) ? file : path.join(SCRIPTS_DIR, file), "utf8");
}

/** sha256 hex of a string. */
export function sha256(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

/** Drops the shebang so a file can be spliced after the exports (its own `set -euo pipefail` stays). */
function body(text: string): string {
  return text.replace(/^#!.*\n/, "");
}

/**
 * Renders `file` (relative to {@link SCRIPTS_DIR} unless absolute) with `env` exported at the top.
 * `libs` are shell files of functions spliced in before the body (shared helpers, no copy-paste).
 */
export function renderScript(
  file: string,
  env: Record<string, pulumi.Input<ScriptValue>> = {},
  libs: string[] = [],
): RenderedScript {
  const parts = [...libs.map(read), read(file)];
  const digest = sha256(parts.join("\n"));
  const text = pulumi
    .all(env as Record<string, pulumi.Input<ScriptValue>>)
    .apply((resolved) =>
      [
        "#!/usr/bin/env bash",
        `# launchgate: ${path.basename(file)} (sha256 ${digest.slice(0, 16)}); rendered by the Pulumi program.`,
        "set -euo pipefail",
        renderExports(resolved as Record<string, ScriptValue>),
        ...parts.map(body),
      ]
        .filter((s) => s.length > 0)
        .join("\n"),
    );
  return { text, sha256: digest, trigger: `${path.basename(file)}:sha256:${digest}` };
}

/** A file the host installer writes. */
export interface HostFile {
  /** Absolute destination path. */
  readonly path: string;
  /** Octal mode, e.g. `0755`. */
  readonly mode: string;
  readonly content: pulumi.Input<string>;
}

/** What `install-files.sh` puts on the host. */
export interface HostInstall {
  /** Directories to create: `[mode, path]`, root-owned. */
  readonly dirs: [string, pulumi.Input<string>][];
  readonly files: HostFile[];
  /** systemd timers to enable and start. */
  readonly timers: string[];
  /** Path of a root-only (0600) file that receives the command's stdin (a secret), if any. */
  readonly stdinFile?: string;
}

/**
 * Renders the generic installer (`install-files.sh`): writes each file only when its content
 * changed, reloads systemd when a unit changed, enables the timers. Idempotent.
 */
export function renderInstall(spec: HostInstall): RenderedScript {
  const env: Record<string, pulumi.Input<ScriptValue>> = {
    LG_DIRS: pulumi.all(spec.dirs.map(([m, p]) => pulumi.interpolate`${m} ${p}`)).apply((l) => l.join("\n")),
    LG_FILES: spec.files.map((f, i) => `${f.mode} ${f.path} LG_FILE_${i}`).join("\n"),
    LG_TIMERS: spec.timers,
    LG_STDIN_FILE: spec.stdinFile ?? "",
  };
  spec.files.forEach((f, i) => (env[`LG_FILE_${i}`] = f.content));
  return renderScript("install-files.sh", env);
}

/**
 * A systemd `Type=oneshot` service unit. `requiresDocker` (default true) orders it after Docker
 * and skips it while Docker is down; a monitor must run exactly then, so it passes false.
 */
export function serviceUnit(
  description: string,
  execStart: string[],
  extra: string[] = [],
  opts: { requiresDocker?: boolean } = {},
): string {
  return [
    "[Unit]",
    `Description=${description}`,
    ...(opts.requiresDocker === false
      ? ["After=docker.service"]
      : ["After=docker.service", "Requires=docker.service"]),
    "",
    "[Service]",
    "Type=oneshot",
    ...execStart.map((e) => `ExecStart=${e}`),
    ...extra,
    "Nice=10",
    "IOSchedulingClass=best-effort",
    "IOSchedulingPriority=7",
    "PrivateTmp=true",
    "NoNewPrivileges=true",
    "",
  ].join("\n");
}

/** A systemd timer; `schedule` lines are `OnCalendar=…`, `OnUnitActiveSec=…`, etc. */
export function timerUnit(description: string, schedule: string[]): string {
  return [
    "[Unit]",
    `Description=${description}`,
    "",
    "[Timer]",
    ...schedule,
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ].join("\n");
}

/**
 * systemd `OnCalendar` value (UTC) for "every `hours` hours starting at `startHour`:`minute`".
 * When `hours` divides 24 the runs are evenly spaced (`*-*-* 00,06,12,18:00:00 UTC`); otherwise
 * systemd's `0/N` repetition restarts at midnight, so the last gap of the day is shorter.
 * Beyond a day: 168 is weekly (Mondays), other whole days repeat by day of month (`*-*-1/2`),
 * which restarts on the 1st, so a month's last gap can be shorter.
 */
export function everyHoursCalendar(hours: number, startHour: number, minute: number): string {
  const mm = String(minute).padStart(2, "0");
  const hh = String(startHour % 24).padStart(2, "0");
  if (Number.isInteger(hours) && hours > 24 && hours % 24 === 0) {
    return hours === 168 ? `Mon *-*-* ${hh}:${mm}:00 UTC` : `*-*-1/${hours / 24} ${hh}:${mm}:00 UTC`;
  }
  if (!Number.isInteger(hours) || hours < 1 || hours > 24) {
    throw new Error(`hours: expected 1..24 or a whole number of days (48, 72, 168, …), got ${hours}`);
  }
  if (24 % hours !== 0) return `*-*-* 00/${hours}:${mm}:00 UTC`;
  const list: number[] = [];
  for (let h = startHour % hours; h < 24; h += hours) list.push(h);
  return `*-*-* ${list.map((h) => String(h).padStart(2, "0")).join(",")}:${mm}:00 UTC`;
}

/** `HH:MM` (validated by the config schema) → systemd `OnCalendar` daily value in UTC. */
export function dailyCalendar(hhmm: string): string {
  const m = /^(\d{2}):(\d{2})$/.exec(hhmm);
  if (!m) throw new Error(`dailyAt: expected HH:MM, got ${JSON.stringify(hhmm)}`);
  return `*-*-* ${m[1]}:${m[2]}:00 UTC`;
}
