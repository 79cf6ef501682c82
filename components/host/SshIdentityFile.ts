/**
 * SshIdentityFile: writes the deploy user's private key to a 0600 file on the machine running
 * Pulumi, because the docker provider's `ssh://` transport and the DB admin tunnel use the
 * system ssh client, which reads identities from files. The key arrives through the command's
 * stdin (a secret), never through its arguments or environment; the file is removed on delete.
 * With `knownHosts`, the pinned host key's known_hosts line is written beside it (the docker
 * provider's `UserKnownHostsFile`), so that client checks the host key too.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { roleTrigger } from "../../contract/roles";

export interface SshIdentityFileArgs {
  /** OpenSSH/PEM private key (secret). */
  readonly privateKey: pulumi.Input<string>;
  /** Where to write it, relative to the project directory. */
  readonly path: string;
  /**
   * A known_hosts file to write with the pinned host key (`line`: components/host/known-hosts.ts
   * `knownHostsLine`), replaced whole on every write. @default none written
   */
  readonly knownHosts?: { readonly path: string; readonly line: pulumi.Input<string> };
}

/** Shell that writes stdin to "$1" with mode 0600 atomically (umask before the file exists). */
export const WRITE_IDENTITY = [
  'set -eu; umask 077; mkdir -p "$(dirname "$KEY_PATH")"; cat > "$KEY_PATH.tmp"; mv "$KEY_PATH.tmp" "$KEY_PATH"',
  'if [ -n "${KNOWN_HOSTS_PATH:-}" ]; then printf "%s\\n" "$KNOWN_HOSTS_LINE" > "$KNOWN_HOSTS_PATH.tmp"; mv "$KNOWN_HOSTS_PATH.tmp" "$KNOWN_HOSTS_PATH"; fi',
].join("; ");

export class SshIdentityFile extends pulumi.ComponentResource {
  /** Path of the identity file (stable, known at preview). */
  public readonly path: string;
  /** The command that wrote it; consumers depend on it. */
  public readonly written: pulumi.Resource;

  constructor(name: string, args: SshIdentityFileArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:host:SshIdentityFile", name, {}, opts);
    this.path = args.path;
    const key = pulumi.secret(pulumi.output(args.privateKey).apply((k) => (k.endsWith("\n") ? k : `${k}\n`)));
    this.written = new command.local.Command(
      `${name}-write`,
      {
        create: WRITE_IDENTITY,
        update: WRITE_IDENTITY,
        delete: 'rm -f "$KEY_PATH" ${KNOWN_HOSTS_PATH:+"$KNOWN_HOSTS_PATH"}',
        stdin: key,
        environment: {
          KEY_PATH: args.path,
          ...(args.knownHosts
            ? { KNOWN_HOSTS_PATH: args.knownHosts.path, KNOWN_HOSTS_LINE: args.knownHosts.line }
            : {}),
        },
        // Re-write when the key or the pinned host key changes; the key itself stays a secret input.
        triggers: [roleTrigger("identity-file"), key, ...(args.knownHosts ? [args.knownHosts.line] : [])],
        logging: "none",
      },
      // A new key replaces the command: delete-first, or the old version's `rm` would run after
      // the new one wrote the same path and leave no identity file.
      { parent: this, additionalSecretOutputs: ["stdout", "stderr"], deleteBeforeReplace: true },
    );
    this.registerOutputs({ path: this.path });
  }
}
