/**
 * SwarmCluster: forms a Docker Swarm over hardened hosts with idempotent commands over SSH, the
 * way seed 002's `docker swarm init` runbook step did by hand (DESIGN "Placement: one host, or a
 * Swarm cluster"). Per node, after its HardenedHost:
 *
 * 1. `<name>-<node>-firewall`: UFW opens the Swarm ports only to cluster members (2377/tcp on
 *    managers, 7946/tcp+udp, 4789/udp), owning only its own commented rules.
 * 2. the first manager: `<name>-init` (`docker swarm init`, once) and `<name>-join-token` (the
 *    worker join token as the command's stdout, a Pulumi secret);
 *    every other node: `<name>-<node>-join`, the token on stdin (never in command text, env or
 *    logs); its delete makes the node leave.
 * 3. `<name>-<node>-node` on the first manager: the node's role (`docker node promote`/`demote`:
 *    three managers once there are three hosts, as config validation requires) and its labels,
 *    which placement constraints match. Its delete drains the node (bounded), demotes and removes
 *    it: a host dropped from config is drained first, then leaves (the join's delete).
 *
 * The scripts live in ./swarm/ and their sha256 is in each command's `triggers`. Commands with a
 * `delete` replace delete-first (DESIGN "Command resources with delete").
 */
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { renderScript, shellQuote } from "../ops/remote-script";
import { roleTrigger } from "../../contract/roles";
import { NODE_NAME_LABEL, nodeMarker } from "../../contract/placement";
import type { SshConnection } from "./HardenedHost";

const SCRIPTS = path.join(__dirname, "swarm");

/** One cluster member. */
export interface SwarmNode {
  /**
   * Short name used in resource names (`node-0`), unique in the cluster; also the node's
   * `launchgate.node` label (contract/placement.ts NODE_NAME_LABEL).
   */
  readonly name: string;
  /** SSH as the deploy user (docker group; sudo for the firewall). */
  readonly connection: pulumi.Input<SshConnection>;
  /** Address the other members reach this node on (advertise address, firewall source). */
  readonly address: pulumi.Input<string>;
  readonly roles: readonly ("manager" | "worker")[];
  /** Docker node labels (`launchgate.postgres: "true"`). */
  readonly labels: Readonly<Record<string, string>>;
  /** What must have run on the node first (its HardenedHost's last step). */
  readonly ready?: pulumi.Resource;
}

export interface SwarmClusterArgs {
  /** The members; the first with role `manager` initialises the swarm and manages the others. */
  readonly nodes: readonly SwarmNode[];
  /** Seconds a removed node's tasks get to move elsewhere before it is removed anyway. @default 60 */
  readonly drainTimeoutSeconds?: number;
}

/** `key=value` lines, sorted, for the node script. Pure. */
export function labelLines(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join("\n");
}

/** The role a node gets: `manager` if config lists it, else `worker`. Pure. */
export function nodeRole(node: Pick<SwarmNode, "roles">): "manager" | "worker" {
  return node.roles.includes("manager") ? "manager" : "worker";
}

/**
 * The command a remote.Command runs for a rendered script: the script text itself, as one
 * argument to bash (`sudo -n` for root). The text holds no secret (secrets come on stdin), so it may
 * be visible in `ps`.
 */
export function scriptCommand(
  text: pulumi.Input<string>,
  label: string,
  root = false,
): pulumi.Output<string> {
  return pulumi
    .output(text)
    .apply((t) => `${root ? "sudo -n " : ""}bash -c ${shellQuote(t)} launchgate-${label}`);
}

export class SwarmCluster extends pulumi.ComponentResource {
  /** Every node joined, labelled and in its role: what services must wait for. */
  public readonly ready: pulumi.Output<string[]>;
  /** Node ids by node name. */
  public readonly nodeIds: pulumi.Output<Record<string, string>>;
  /** The resources services depend on. */
  public readonly members: pulumi.Resource[];

  constructor(name: string, args: SwarmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:host:SwarmCluster", name, {}, opts);
    const first = args.nodes.find((n) => nodeRole(n) === "manager");
    if (!first) throw new Error(`${name}: a swarm needs a node with role manager`);
    const peers = pulumi.all(args.nodes.map((n) => pulumi.output(n.address))).apply((a) => a.join("\n"));

    const remote = (
      resourceName: string,
      connection: pulumi.Input<SshConnection>,
      file: string,
      env: Record<string, pulumi.Input<string | number>>,
      o: {
        root?: boolean;
        stdin?: pulumi.Input<string>;
        deleteFile?: string;
        deleteEnv?: Record<string, pulumi.Input<string | number>>;
        secretStdout?: boolean;
        dependsOn?: pulumi.Input<pulumi.Resource>[];
        /** Further trigger entries (markers). */
        markers?: string[];
      } = {},
    ) => {
      const script = renderScript(path.join(SCRIPTS, file), env);
      const del = o.deleteFile
        ? renderScript(path.join(SCRIPTS, o.deleteFile), o.deleteEnv ?? env)
        : undefined;
      return new command.remote.Command(
        resourceName,
        {
          connection,
          create: scriptCommand(script.text, file.replace(/\.sh$/, ""), o.root),
          ...(del ? { delete: scriptCommand(del.text, o.deleteFile!.replace(/\.sh$/, ""), o.root) } : {}),
          ...(o.stdin !== undefined ? { stdin: pulumi.secret(o.stdin) } : {}),
          triggers: [
            roleTrigger(`host-swarm-${file.replace(/\.sh$/, "")}`),
            script.trigger,
            ...(del ? [del.trigger] : []),
            ...(o.markers ?? []),
          ],
          addPreviousOutputInEnv: false,
        },
        {
          parent: this,
          dependsOn: o.dependsOn ?? [],
          // A delete that undoes the create must run before a replacement's create, never after it.
          deleteBeforeReplace: del !== undefined,
          ...(o.secretStdout ? { additionalSecretOutputs: ["stdout"] } : {}),
        },
      );
    };

    const firewalls = new Map(
      args.nodes.map((n) => [
        n.name,
        remote(
          `${name}-${n.name}-firewall`,
          n.connection,
          "firewall.sh",
          { LG_PEERS: peers, LG_IS_MANAGER: String(nodeRole(n) === "manager") },
          // Named (nodeMarker): it runs over this node's own connection, which ties the name to
          // the node's address (policy swarm-volumes-on-pinned-node).
          { root: true, dependsOn: n.ready ? [n.ready] : [], markers: [nodeMarker(n.name)] },
        ),
      ]),
    );

    const init = remote(
      `${name}-init`,
      first.connection,
      "init.sh",
      { LG_ADVERTISE_ADDR: first.address },
      { dependsOn: [...firewalls.values()] },
    );
    const token = remote(
      `${name}-join-token`,
      first.connection,
      "tokens.sh",
      {},
      {
        secretStdout: true,
        dependsOn: [init],
      },
    );

    const ids: Record<string, pulumi.Output<string>> = { [first.name]: init.stdout.apply((s) => s.trim()) };
    const joined = new Map<string, pulumi.Resource>([[first.name, init]]);
    for (const n of args.nodes) {
      if (n === first) continue;
      const join = remote(
        `${name}-${n.name}-join`,
        n.connection,
        "join.sh",
        { LG_MANAGER_ADDR: first.address, LG_ADVERTISE_ADDR: n.address },
        {
          stdin: token.stdout.apply((t) => `${t.trim()}\n`),
          deleteFile: "leave.sh",
          deleteEnv: {},
          dependsOn: [token, firewalls.get(n.name)!],
        },
      );
      ids[n.name] = join.stdout.apply((s) => s.trim().split("\n").pop() ?? "");
      joined.set(n.name, join);
    }

    const settled = args.nodes.map((n) =>
      remote(
        `${name}-${n.name}-node`,
        first.connection,
        "node.sh",
        {
          LG_NODE_ID: ids[n.name]!,
          LG_ROLE: nodeRole(n),
          // The node's own name too: a constraint on it pins a service to exactly this node.
          LG_LABELS: labelLines({ ...n.labels, [NODE_NAME_LABEL]: n.name }),
        },
        {
          // The first manager is never drained out of its own swarm by this program.
          ...(n === first
            ? {}
            : {
                deleteFile: "node-remove.sh",
                deleteEnv: {
                  LG_NODE_ID: ids[n.name]!,
                  LG_DRAIN_TIMEOUT_SECONDS: args.drainTimeoutSeconds ?? 60,
                },
              }),
          dependsOn: [init, joined.get(n.name)!],
        },
      ),
    );

    this.members = settled;
    this.nodeIds = pulumi.all(ids);
    this.ready = pulumi.all(settled.map((s) => s.stdout));
    this.registerOutputs({ ready: this.ready, nodeIds: this.nodeIds });
  }
}
