/**
 * An internal CA and a server certificate made with openssl, for the hand-written fixture
 * (the real program's InternalCa is emulated from its recorded @pulumi/tls inputs instead).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface TestPki {
  readonly caCertPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** CA + leaf for `hostnames` (first is the CN), EC P-256, valid one day. */
export function makeTestPki(hostnames: readonly string[]): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-svc-pki-"));
  const ossl = (...args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
  try {
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
    ossl(
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-subj",
      "/CN=launchgate test CA",
      "-days",
      "1",
      "-out",
      "ca.pem",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key");
    ossl("req", "-new", "-key", "leaf.key", "-subj", `/CN=${hostnames[0]}`, "-out", "leaf.csr");
    fs.writeFileSync(
      path.join(dir, "ext.cnf"),
      `subjectAltName=${hostnames.map((h) => `DNS:${h}`).join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`,
    );
    ossl(
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
      "-out",
      "leaf.pem",
    );
    const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
    return { caCertPem: read("ca.pem"), certPem: read("leaf.pem"), keyPem: read("leaf.key") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
