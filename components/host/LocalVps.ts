/**
 * LocalVps: the `local` stack's disposable "VPS" on this machine's Docker engine: a Debian
 * bookworm container built without any registry (debootstrap + `docker import`, see
 * ./vps-image), running sshd on 127.0.0.1. HardenedHost then hardens it over SSH exactly as it
 * would a real VPS, and the app's containers run on its own nested dockerd.
 *
 * CIS Docker Benchmark exception (§5.3 capabilities, §5.21/5.22 seccomp/apparmor, §5.5 cgroup
 * mount): this container is not an application but plays a whole host that runs iptables/UFW
 * and a nested Docker engine; see VPS_RUN for the exact flags and why `--privileged` is not used.
 * It exists only on the `local` stack and publishes only on loopback.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as fs from "fs";
import { DEFAULT_PIDS_LIMITS } from "../../contract/pids-limits";
import { roleLabel, roleTrigger } from "../../contract/roles";
import { limitPids } from "../app/pids-limit";
import { sha256, shellQuote } from "../ops/remote-script";
import { BUILD_IMAGE_SCRIPT, buildImageArgs, VPS_PACKAGES, VPS_RUN, VPS_SETUP_SCRIPT } from "./vps-image";

/** A loopback port mapping of the VPS (e.g. its proxy's 443). */
export interface LocalVpsPort {
  /** Port inside the VPS. */
  readonly internal: number;
  /** Port on 127.0.0.1 of this machine. */
  readonly external: number;
}

export interface LocalVpsArgs {
  /** Port on 127.0.0.1 where the VPS's sshd (22) is published. @default 2222 */
  readonly sshPort?: number;
  /** Further loopback ports (the VPS's 80/443 for its proxy). @default [] */
  readonly publishedPorts?: readonly LocalVpsPort[];
  /** Memory ceiling of the whole "VPS" (its nested containers included), like a VPS plan. @default 4096 */
  readonly memoryMb?: number;
  /**
   * PIDs cgroup limit of the "VPS" container (sshd, dockerd, containerd, shims; its nested
   * containers have their own) (CIS 5.29), applied on the local engine. @default DEFAULT_PIDS_LIMITS.vps (contract/pids-limits.ts)
   */
  readonly pidsLimit?: number;
}

export class LocalVps extends pulumi.ComponentResource {
  /** Address the VPS's SSH is reachable on (loopback). */
  public readonly address: pulumi.Output<string>;
  /** Port on `address` for SSH. */
  public readonly sshPort: pulumi.Output<number>;
  /** User of the first connection (a fresh VPS only has root). */
  public readonly bootstrapUser: pulumi.Output<string>;
  /** OpenSSH private key root accepts (generated; secret). The stack reuses it for the deploy user. */
  public readonly privateKey: pulumi.Output<string>;
  /** OpenSSH public key matching `privateKey`. */
  public readonly publicKey: pulumi.Output<string>;
  /**
   * The VPS's SSH host public key (`ssh-ed25519 AAAA…`): generated here and provisioned into the
   * container before first boot, as a cloud provider's provisioning does, so every connection
   * pins it from the first one.
   */
  public readonly hostKey: pulumi.Output<string>;
  /** Name of the VPS container on the local engine. */
  public readonly containerName: pulumi.Output<string>;
  /**
   * The container's address on the local engine's network: what other VPS containers reach it on
   * (a local Swarm cluster's advertise address). "" until the container runs.
   */
  public readonly networkAddress: pulumi.Output<string>;

  constructor(name: string, args: LocalVpsArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    const sshPort = args.sshPort ?? 2222;
    const published = args.publishedPorts ?? [];
    // Checked before anything is registered.
    for (const p of [sshPort, ...published.flatMap((x) => [x.internal, x.external])]) {
      if (!Number.isInteger(p) || p < 1 || p > 65535)
        throw new Error(`LocalVps port: got ${p}; expected 1..65535`);
    }
    super("launchgate:host:LocalVps", name, {}, opts);
    const prefix = `launchgate-${pulumi.getStack()}-${name}`;

    // The image is content-addressed by build-image.sh; re-running it is a cache hit unless the
    // spec (packages, setup script, builder) changed, which the triggers also track.
    const image = new command.local.Command(
      `${name}-image`,
      {
        create: ["bash", BUILD_IMAGE_SCRIPT, ...buildImageArgs()].map(shellQuote).join(" "),
        triggers: [
          roleTrigger("image-build"),
          `packages:${VPS_PACKAGES.join(",")}`,
          `setup:sha256:${sha256(fs.readFileSync(VPS_SETUP_SCRIPT, "utf8"))}`,
          `builder:sha256:${sha256(fs.readFileSync(BUILD_IMAGE_SCRIPT, "utf8"))}`,
        ],
        addPreviousOutputInEnv: false,
      },
      { parent: this },
    );
    // build-image.sh prints the tag as its last stdout line.
    const imageTag = image.stdout.apply((s) => s.trim().split("\n").pop() ?? "");

    const key = new tls.PrivateKey(`${name}-root-key`, { algorithm: "ED25519" }, { parent: this });
    const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this });

    const dockerData = new docker.Volume(
      `${name}-docker-data`,
      { name: `${prefix}-docker` },
      { parent: this },
    );

    const container = new docker.Container(
      `${name}-container`,
      {
        name: prefix,
        hostname: name,
        image: imageTag,
        capabilities: { adds: [...VPS_RUN.capAdd], drops: [...VPS_RUN.capDrop] },
        securityOpts: [...VPS_RUN.securityOpts],
        tmpfs: Object.fromEntries(VPS_RUN.tmpfs.map((p) => [p, ""])),
        volumes: [
          { hostPath: VPS_RUN.cgroupMount, containerPath: VPS_RUN.cgroupMount, readOnly: false },
          { volumeName: dockerData.name, containerPath: VPS_RUN.dockerDataPath },
        ],
        ports: [
          { internal: VPS_RUN.sshInternalPort, external: sshPort, ip: VPS_RUN.bindAddress, protocol: "tcp" },
          ...published.map((p) => ({
            internal: p.internal,
            external: p.external,
            ip: VPS_RUN.bindAddress,
            protocol: "tcp",
          })),
        ],
        // Like a cloud VPS's provisioning: root's key is in place before first boot.
        uploads: [
          { file: VPS_RUN.rootAuthorizedKeys, content: key.publicKeyOpenssh },
          // sshd refuses a host key file others can read.
          {
            file: VPS_RUN.hostKeyFile,
            content: pulumi.secret(hostKey.privateKeyOpenssh),
            permissions: "0600",
          },
          { file: `${VPS_RUN.hostKeyFile}.pub`, content: hostKey.publicKeyOpenssh, permissions: "0644" },
        ],
        labels: [roleLabel("vps")],
        restart: "unless-stopped",
        mustRun: true,
        memory: args.memoryMb ?? 4096,
        // Healthy once sshd accepts connections (bash's /dev/tcp: no extra tools in the image).
        healthcheck: {
          tests: ["CMD", "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${VPS_RUN.sshInternalPort}`],
          interval: "10s",
          timeout: "3s",
          retries: 6,
          startPeriod: "20s",
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    limitPids(
      `${name}-container`,
      container,
      { engine: { local: true }, limit: args.pidsLimit ?? DEFAULT_PIDS_LIMITS.vps },
      { parent: this },
    );

    this.address = pulumi.output(VPS_RUN.bindAddress);
    // Depend on the container so consumers wait until it runs.
    this.sshPort = container.id.apply(() => sshPort);
    this.bootstrapUser = pulumi.output("root");
    this.privateKey = pulumi.secret(key.privateKeyOpenssh);
    this.publicKey = key.publicKeyOpenssh;
    this.hostKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());
    this.containerName = container.name;
    this.networkAddress = container.networkDatas.apply((n) => n?.[0]?.ipAddress ?? "");
    this.registerOutputs({
      networkAddress: this.networkAddress,
      address: this.address,
      sshPort: this.sshPort,
      hostKey: this.hostKey,
      bootstrapUser: this.bootstrapUser,
      privateKey: this.privateKey,
      publicKey: this.publicKey,
      containerName: this.containerName,
    });
  }
}
