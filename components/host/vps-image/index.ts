/**
 * The disposable "VPS" image and run flags for the `local` stack, shared by LocalVps (program)
 * and test/support/vps.ts (host tests) so both start exactly the same machine.
 */
import * as path from "path";

/** Image name passed to test/support/build-image.sh (tag: launchgate-test/<name>:<content hash>). */
export const VPS_IMAGE_NAME = "vps";

/**
 * What a freshly provisioned Debian VPS has: sshd, sudo, iptables, basic tools. Everything else
 * (ufw, fail2ban, docker.io, auditd, ...) is installed by HardenedHost's scripts over SSH.
 */
export const VPS_PACKAGES: readonly string[] = [
  "openssh-server",
  "sudo",
  "iptables",
  "iproute2",
  "procps",
  "ca-certificates",
  "less",
];

/** Runs inside the rootfs at build time (apt sources, no baked host keys, init script). */
export const VPS_SETUP_SCRIPT = path.join(__dirname, "setup.sh");

/** `docker import --change` lines: the container's PID 1. */
export const VPS_IMPORT_CHANGES: readonly string[] = ['CMD ["/usr/local/sbin/vps-init"]'];

/** Builder script (debootstrap + docker import, content-hash cached). */
export const BUILD_IMAGE_SCRIPT = path.resolve(__dirname, "../../../test/support/build-image.sh");

/**
 * Run flags measured to work on this Docker engine. `--privileged` fails here
 * ("unable to apply caps": the sandbox lacks CAP_SYS_RESOURCE), so: every capability but
 * SYS_RESOURCE, no seccomp/apparmor filter, the cgroup tree writable, /run and /tmp as tmpfs and
 * a named volume for /var/lib/docker (overlay2 cannot nest on overlay).
 *
 * CIS Docker Benchmark exception (5.3, 5.4, 5.21, 5.22): this container is not an application; it
 * plays a whole VPS that runs iptables/UFW and its own dockerd, which needs these privileges.
 * It exists only on the `local` stack and publishes SSH on 127.0.0.1 only.
 */
export const VPS_RUN = {
  capAdd: ["ALL"],
  capDrop: ["SYS_RESOURCE"],
  securityOpts: ["seccomp=unconfined", "apparmor=unconfined"],
  cgroupMount: "/sys/fs/cgroup",
  tmpfs: ["/run", "/tmp"],
  dockerDataPath: "/var/lib/docker",
  sshInternalPort: 22,
  bindAddress: "127.0.0.1",
  rootAuthorizedKeys: "/root/.ssh/authorized_keys",
  /** The ed25519 host key, provisioned like a cloud VPS's (vps-init's `ssh-keygen -A` keeps it). */
  hostKeyFile: "/etc/ssh/ssh_host_ed25519_key",
} as const;

/** Arguments for build-image.sh, in order. */
export function buildImageArgs(): string[] {
  return [VPS_IMAGE_NAME, VPS_PACKAGES.join(","), VPS_SETUP_SCRIPT, ...VPS_IMPORT_CHANGES];
}
