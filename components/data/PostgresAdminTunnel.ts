/**
 * PostgresAdminTunnel: the SSH local forward through which @pulumi/postgresql manages roles and
 * databases, so Postgres never publishes a port. `127.0.0.1:<localPort>` on the machine running
 * Pulumi reaches `<remoteAddress>:5432` on the VPS's internal docker network; the host's sshd lets
 * the deploy user forward only to that destination (`PermitOpen`, wired by HardenedHost).
 *
 * The private key is passed on stdin (a secret input) and written by the script to a 0600 temp
 * file removed as soon as ssh has logged in; it never appears in a plain input or a command line.
 * The shell lives beside this file (scripts/pg-tunnel-*.sh) so it can be linted and run alone.
 */
import * as command from "@pulumi/command";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { roleTrigger } from "../../contract/roles";
import type { SshConnection } from "../host/HardenedHost";
import { knownHostsLine } from "../host/known-hosts";

const SCRIPTS = path.join(__dirname, "scripts");
/** The open script (idempotent: reuses a live tunnel). */
export const OPEN_SCRIPT = fs.readFileSync(path.join(SCRIPTS, "pg-tunnel-open.sh"), "utf8");
/** The close script (idempotent). */
export const CLOSE_SCRIPT = fs.readFileSync(path.join(SCRIPTS, "pg-tunnel-close.sh"), "utf8");

/** One id per program run: changing it makes the provider run `update` (= open) on every `up`. */
const RUN_ID = crypto.randomUUID();

export interface PostgresAdminTunnelArgs {
  /** How to reach the VPS as the deploy user; `privateKey` is read as a secret and sent on stdin. */
  readonly connection: pulumi.Input<SshConnection>;
  /** Postgres's fixed address on the internal network (must match the host's PermitOpen). */
  readonly remoteAddress: pulumi.Input<string>;
  /** Local port of the forward, bound on 127.0.0.1 only. */
  readonly localPort: number;
  /**
   * The VPS's SSH host key (`ssh-ed25519 AAAA…`), pinned: ssh refuses any other.
   * @default `connection.hostKey`; neither: trust on first use (`StrictHostKeyChecking=accept-new`
   * against ~/.ssh/known_hosts)
   */
  readonly hostKey?: pulumi.Input<string>;
  /**
   * Control socket of the ssh master; `delete` closes the tunnel through it.
   * @default `~/.ssh/launchgate-<name>-<localPort>.ctl`
   */
  readonly controlSocket?: string;
  /**
   * Changes on every program run by default, so the tunnel is (re)opened by each `pulumi up`
   * even when nothing else changed (a tunnel from an earlier run may be gone). Tests pin it.
   * @default a random id per process
   */
  readonly runId?: string;
}

export class PostgresAdminTunnel extends pulumi.ComponentResource {
  /** Resource that completes once the forward is open; role/database management depends on it. */
  public readonly ready: pulumi.Resource;
  /** Local host of the forward. */
  public readonly host: pulumi.Output<string>;
  /** Local port of the forward. */
  public readonly port: pulumi.Output<number>;

  constructor(name: string, args: PostgresAdminTunnelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:data:PostgresAdminTunnel", name, {}, opts);
    const conn = pulumi.output(args.connection);
    const socket =
      args.controlSocket ?? path.join(os.homedir(), ".ssh", `launchgate-${name}-${args.localPort}.ctl`);

    const environment: Record<string, pulumi.Input<string>> = {
      SSH_HOST: conn.host,
      SSH_PORT: conn.port.apply(String),
      SSH_USER: conn.user,
      LOCAL_PORT: String(args.localPort),
      REMOTE_ADDRESS: args.remoteAddress,
      CONTROL_SOCKET: socket,
      LAUNCHGATE_RUN: args.runId ?? RUN_ID,
    };
    // The pinned key as a known_hosts line ("" = none pinned: trust on first use).
    environment.KNOWN_HOSTS_LINE = pulumi
      .all([conn, args.hostKey])
      .apply(([c, key]) => ((key ?? c.hostKey) ? knownHostsLine(c.host, c.port, (key ?? c.hostKey)!) : ""));

    const open = new command.local.Command(
      `${name}-forward`,
      {
        create: OPEN_SCRIPT,
        update: OPEN_SCRIPT,
        delete: CLOSE_SCRIPT,
        interpreter: ["/bin/sh", "-c"],
        // `connection` as a whole may be a secret Output; only the key needs to be, and only here.
        stdin: pulumi.secret(conn.privateKey),
        environment: pulumi.unsecret(pulumi.output(environment)),
        // The previous run's stdout would otherwise be copied into the next run's env.
        addPreviousOutputInEnv: false,
        triggers: [roleTrigger("db-admin-tunnel")],
      },
      // Same local port and control socket for every version: if replaced, close the old
      // forward first (create-first would fail on the port, and the old close would end the new).
      { parent: this, deleteBeforeReplace: true },
    );

    this.ready = open;
    this.host = open.stdout.apply(() => "127.0.0.1");
    this.port = open.stdout.apply(() => args.localPort);
    this.registerOutputs({ host: this.host, port: this.port });
  }
}
