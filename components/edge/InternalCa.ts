/**
 * InternalCa: a private certificate authority and a server certificate for the proxy, for stacks
 * without public DNS (`local`). Clients (the services tests, a developer's browser) trust
 * `caCertPem` explicitly; nothing here is trusted by default anywhere, which is the point.
 * Keys are ECDSA P-256: small, fast, and accepted by every TLS 1.2/1.3 client we target.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface InternalCaArgs {
  /** DNS names on the server certificate; the first is its common name. */
  readonly hostnames: pulumi.Input<string>[];
  /** IP addresses on the server certificate (e.g. 127.0.0.1 for local tests). @default ["127.0.0.1"] */
  readonly ipAddresses?: string[];
  /** CA validity in hours. @default 87600 (10 years; the CA key never leaves the state) */
  readonly caValidityHours?: number;
  /** Server certificate validity in hours; renewed by `pulumi up` 30 days before expiry. @default 2160 (90 days) */
  readonly certValidityHours?: number;
}

export class InternalCa extends pulumi.ComponentResource {
  /** The CA certificate clients must trust. */
  public readonly caCertPem: pulumi.Output<string>;
  /** Server certificate followed by the CA certificate (the chain nginx serves). */
  public readonly certPem: pulumi.Output<string>;
  /** Server private key (secret). */
  public readonly keyPem: pulumi.Output<string>;

  constructor(name: string, args: InternalCaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:edge:InternalCa", name, {}, opts);
    if (args.hostnames.length === 0) throw new Error("InternalCa: at least one hostname is required");

    const caKey = new tls.PrivateKey(
      `${name}-ca-key`,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent: this },
    );
    const ca = new tls.SelfSignedCert(
      `${name}-ca`,
      {
        privateKeyPem: caKey.privateKeyPem,
        isCaCertificate: true,
        // The CA signs only leaf certificates, never another CA.
        maxPathLength: 0,
        subject: { commonName: "launchgate internal CA", organization: "launchgate" },
        validityPeriodHours: args.caValidityHours ?? 87600,
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
      },
      { parent: this },
    );

    const key = new tls.PrivateKey(
      `${name}-server-key`,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent: this },
    );
    const csr = new tls.CertRequest(
      `${name}-server-csr`,
      {
        privateKeyPem: key.privateKeyPem,
        subject: { commonName: args.hostnames[0], organization: "launchgate" },
        dnsNames: args.hostnames,
        ipAddresses: args.ipAddresses ?? ["127.0.0.1"],
      },
      { parent: this },
    );
    const cert = new tls.LocallySignedCert(
      `${name}-server`,
      {
        certRequestPem: csr.certRequestPem,
        caPrivateKeyPem: caKey.privateKeyPem,
        caCertPem: ca.certPem,
        validityPeriodHours: args.certValidityHours ?? 2160,
        earlyRenewalHours: 720,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
      },
      { parent: this },
    );

    this.caCertPem = ca.certPem;
    this.certPem = pulumi.interpolate`${cert.certPem}${ca.certPem}`;
    this.keyPem = pulumi.secret(key.privateKeyPem);
    this.registerOutputs({ caCertPem: this.caCertPem, certPem: this.certPem, keyPem: this.keyPem });
  }
}
