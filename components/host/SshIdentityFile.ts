/**
 * SshIdentityFile: writes the deploy user's private key to a 0600 file on the machine running
 * Pulumi, because the docker provider's `ssh://` transport and the DB admin tunnel use the
 * system ssh client, which reads identities from files. The key arrives through the command's
 * stdin (a secret), never through its arguments or environment; the file is removed on delete.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { roleTrigger } from "../../contract/roles";

export interface SshIdentityFileArgs {
  /** OpenSSH/PEM private key (secret). */
  readonly privateKey: pulumi.Input<string>;
  /** Where to write it, relative to the project directory. */
  readonly path: string;
}

/** Shell that writes stdin to "$1" with mode 0600 atomically (umask before the file exists). */
export const WRITE_IDENTITY =
  'set -eu; umask 077; mkdir -p "$(dirname "$KEY_PATH")"; cat > "$KEY_PATH.tmp"; mv "$KEY_PATH.tmp" "$KEY_PATH"';

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
        delete: 'rm -f "$KEY_PATH"',
        stdin: key,
        environment: { KEY_PATH: args.path },
        // Re-write when the key changes; the key itself stays a secret input.
        triggers: [roleTrigger("identity-file"), key],
        logging: "none",
      },
      // A new key replaces the command: delete-first, or the old version's `rm` would run after
      // the new one wrote the same path and leave no identity file.
      { parent: this, additionalSecretOutputs: ["stdout", "stderr"], deleteBeforeReplace: true },
    );
    this.registerOutputs({ path: this.path });
  }
}
